"""The five published figures the toolkit stands on, and the command that rebuilds each one.

Each figure is one step: an existing command (`interp.memory eval`, `interp.nll`, `interp.patch`,
`interp.probe`) with options per size, writing its own result folder under the reproduction's root.
A step whose folder already holds a result made by the same command (`--out` and `--overwrite`
aside) is reused, so a second run only redraws the page. Steps run as subprocesses: each loads its
own model and gives its memory back when it ends.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import Literal

from interp.tasks.persist import weights_digest

Size = Literal["smoke", "default", "full"]
SIZES: tuple[Size, ...] = ("smoke", "default", "full")
SEED = 0  # every step's seed (each command's default)


@dataclass(frozen=True)
class Step:
    key: str  # the reference figure's number, "000" ... "004"
    title: str
    folder: str  # under the reproduction's root
    module: str  # run as `python -m MODULE`
    args: tuple[str, ...]  # the command's arguments, without --out
    kind: Literal["memory", "nll", "patch", "probe"]
    result: str  # the JSON file that marks a finished result

    def argv(self, root: Path) -> list[str]:
        return [*self.args, "--out", str(root / self.folder)]

    def command(self, root: Path) -> str:
        """As the command itself records it in its result."""
        return f"python -m {self.module} " + shlex.join(self.argv(root))


def checkpoints() -> Path:
    """The committed memory-task checkpoints, wherever the package is installed."""
    return Path(str(files("interp.tasks") / "checkpoints"))


def plan(size: str, device: tuple[str, ...] = ()) -> list[Step]:
    """The five steps at one size: `default` stays under 20 minutes on 2 CPU cores with a converted
    model cache; `full` runs the sizes the README quotes; `smoke` is the smallest that draws every figure.
    `device`: arguments every step gets (`--device cuda --dtype bfloat16`); none means each one's default."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    ck = checkpoints()
    nll = {"smoke": ("256", "2"), "default": ("8192", "4"), "full": ("32768", "4")}[size]
    patch = {"smoke": ("--n", "8", "--no-positions"), "default": ("--n", "100", "--no-positions"), "full": ()}[size]
    probe = ("--n", "60", "--layer", "20-23", "--behaviour-n", "4") if size == "smoke" else ("--layer", "all")
    steps = [
        Step("000", "Dynamic N-grams", "000-ngrams", "interp.memory",
             ("eval", str(ck / "ngrams-ntm"), str(ck / "ngrams-lstm")), "memory", "memory.json"),
        Step("001", "Repeat copy", "001-repeat-copy", "interp.memory",
             ("eval", str(ck / "repeat-ntm"), str(ck / "repeat-lstm")), "memory", "memory.json"),
        Step("002", "NLL by token position", "002-nll", "interp.nll",
             ("--model", "gemma3-270m", "--model", "qwen2.5-coder-0.5b", "--tokens", nll[0], "--documents", nll[1]),
             "nll", "nll.json"),
        Step("003", "Which sublayers matter", "003-patch", "interp.patch",
             ("--model", "smollm2-135m", "--task", "add", "--digits", "2", *patch), "patch", "patch.json"),
        Step("004", "Accuracy Breakdown", "004-probe", "interp.probe", probe, "probe", "results.json"),
    ]  # fmt: skip
    return [replace(s, args=(*s.args, *device)) for s in steps]


def same_command(a: str, b: str) -> bool:
    """Equal once `--out DIR` and `--overwrite` are set aside: the same config, wherever it was written."""

    def core(cmd: str) -> list[str]:
        words, out = shlex.split(cmd), []
        skip = False
        for w in words:
            if skip:
                skip = False
            elif w == "--out":
                skip = True
            elif w != "--overwrite":
                out.append(w)
        return out

    return core(a) == core(b)


def state(step: Step, root: Path) -> Literal["missing", "same", "different"]:
    """Whether the step's folder holds no result, one made by this command, or another one."""
    path = root / step.folder / step.result
    if not path.exists():
        return (
            "missing" if not (root / step.folder).exists() or not any((root / step.folder).iterdir()) else "different"
        )
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return "different"
    if not same_command(result.get("command", ""), step.command(root)):
        return "different"
    if step.kind == "memory" and not same_weights(result):
        return "different"  # the same command on other checkpoints (e.g. updated since): not this figure
    return "same"


def same_weights(result: dict) -> bool:
    """Whether a memory evaluation was made from the checkpoints its runs' folders hold now."""
    try:
        return all(r["weights"] == weights_digest(Path(r["folder"])) for r in result["runs"])
    except (KeyError, OSError):
        return False  # made before evaluations recorded their weights, or a checkpoint is gone


@dataclass(frozen=True)
class StepRun:
    key: str
    reused: bool
    seconds: float  # wall time of this run's subprocess (0 when reused)
    returncode: int


def run_step(step: Step, root: Path, overwrite: bool) -> StepRun:
    """Run the step's command (its own progress goes to this terminal), or reuse its result."""
    st = state(step, root)
    if st == "same":
        return StepRun(step.key, True, 0.0, 0)
    argv = step.argv(root) + (["--overwrite"] if st == "different" and overwrite else [])
    t = time.perf_counter()
    rc = subprocess.run([sys.executable, "-m", step.module, *argv]).returncode
    return StepRun(step.key, False, time.perf_counter() - t, rc)
