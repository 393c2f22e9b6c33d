import os
import subprocess
import sys

import pytest

from interp.models.offline import SWITCHES, go_offline


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


@pytest.mark.slow  # a fresh interpreter imports the toolkit: CI runs it
def test_loading_a_model_leaves_the_callers_switches_as_they_were(tiny_dir):
    """Offline while the toolkit loads, then back: a later hub download in the same notebook is not blocked."""
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    code = (
        "import os, huggingface_hub.constants as c\n"
        "from interp import load_model\n"
        f"load_model({str(tiny_dir)!r})\n"
        f"print([k for k in {list(SWITCHES)!r} if k in os.environ], c.HF_HUB_OFFLINE)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip().splitlines()[-1] == "[] False"


def test_offline_restores_what_was_set(monkeypatch):
    from interp.models.offline import offline

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with offline():
        assert all(os.environ[k] == "1" for k in SWITCHES)
    assert os.environ["HF_HUB_OFFLINE"] == "0" and "TRANSFORMERS_OFFLINE" not in os.environ
