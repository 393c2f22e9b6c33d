import os
import subprocess
import sys

from interp.offline import SWITCHES, go_offline


def test_importing_interp_changes_nothing():
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    code = f"import os, interp; print([k for k in {list(SWITCHES)!r} if k in os.environ])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "[]"


def test_go_offline_sets_every_switch(monkeypatch):
    for k in SWITCHES:
        monkeypatch.delenv(k, raising=False)
    go_offline()
    assert all(os.environ[k] == "1" for k in SWITCHES)
