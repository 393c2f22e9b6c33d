"""Reading saved results back: each kind's files into its meta (the JSON) and its plain report data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from interp.runs.memory import MemoryEval
from interp.runs.nll import NLLRun
from interp.runs.patch import PatchRun
from interp.runs.probe import for_report as probe_for_report

# The JSON file that marks each kind of result folder.
KINDS = {"results.json": "probe", "patch.json": "patch", "nll.json": "nll", "memory.json": "memory"}
ORDER = ("probe", "patch", "nll", "memory")
ARRAYS = {"patch": "patch.npz", "nll": "nll.npz", "memory": "memory.npz"}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def read_result(kind: str, path: Path) -> tuple[dict, dict]:
    """(meta, report data) of the result whose JSON is `path`; raises on anything unreadable."""
    meta = json.loads(path.read_text())
    if kind == "probe":
        return meta, probe_for_report(meta)
    arrays = read_npz(path.with_name(ARRAYS[kind]))
    if kind == "patch":
        return meta, PatchRun.from_files(meta, arrays).for_report()
    if kind == "nll":
        return meta, NLLRun.from_files(meta, arrays).for_report()
    return meta, MemoryEval(meta, arrays).for_report()


def find_results(root: Path) -> list[tuple[str, Path]]:
    """(kind, JSON path) of every result under `root`, hidden folders skipped, in report order."""
    found = [
        (KINDS[p.name], p)
        for p in sorted(root.rglob("*.json"))
        if p.name in KINDS and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found, key=lambda kp: (ORDER.index(kp[0]), str(kp[1])))
