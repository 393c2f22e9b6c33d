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
