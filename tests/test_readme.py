"""The README's quickstart is what CI runs: keep the two in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_two_commands_main_job_and_tests():
    cmds = quickstart()
    assert len(cmds) == 2
    assert cmds[0].endswith("python -m interp.probe --layer all")
    assert "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command():
    assert quickstart()[1] in (ROOT / ".ci/run").read_text()


def test_both_commands_install_through_the_lock():
    lock = (ROOT / ".ci/constraints.txt").read_text()
    assert "Python 3." in lock and "torch 2.13.0" in lock and "bash .ci/lock" in lock
    for cmd in quickstart():
        installs = [c.strip() for c in cmd.split("&&") if c.strip().startswith("pip install")]
        assert installs[0] == "pip install torch==2.13.0"
        assert all("-c .ci/constraints.txt" in c for c in installs[1:]), cmd
