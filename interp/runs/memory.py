"""Evaluating trained memory-task runs side by side (NTM against LSTM on one task)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interp.core.versions import versions
from interp.models.devices import resolve_device, resolve_dtype
from interp.reports.html import notebook
from interp.reports.memory import memory_sections
from interp.tasks.evaluate import eval_run
from interp.tasks.memory import TASKS
from interp.tasks.persist import load, weights_digest
from interp.tasks.setup import task_options, train_config


@dataclass(frozen=True)
class MemoryEval:
    """What memory.json (`meta`) and memory.npz (`arrays`) hold.

    >>> MemoryEval.__name__   # made by interp.runs.memory.evaluate_runs; .meta and .arrays are what it saves
    'MemoryEval'
    """

    meta: dict
    arrays: dict[str, np.ndarray]

    def to_json(self) -> dict:
        return self.meta

    def _repr_html_(self) -> str:
        return notebook(memory_sections(self.for_report()))

    def for_report(self) -> dict:
        """Plain data for `interp.reports.sections.memory_sections`: each run with how its task is drawn."""
        runs = []
        for r in self.meta["runs"]:
            spec = TASKS[r["task"]]
            examples = (
                [f"example_{p['length']}x{p['repeats']}" for p in spec.points]
                if spec.figure == "repeat"
                else ["example"]
            )
            titles = (
                [f"Repeat copy, length {p['length']}, repeat {p['repeats']}" for p in spec.points]
                if spec.figure == "repeat"
                else [f"{r['task']}: one held-out sequence"]
            )
            runs.append(r | {"figure": spec.figure, "examples": examples, "example_titles": titles})
        return {"runs": runs, "arrays": self.arrays}


def unique(name: str, run: Path, taken: set[str]) -> str:
    """A run's label, with its folder (then a number) added when another run already has it: arrays are keyed
    by label, so two LSTMs would otherwise overwrite each other's.

    >>> unique("LSTM ngrams", Path("runs/b"), {"LSTM ngrams"})
    'LSTM ngrams (b)'
    """
    if name not in taken:
        return name
    label = f"{name} ({Path(run).name})"
    k = 2
    while label in taken:
        label, k = f"{name} ({Path(run).name}, {k})", k + 1
    return label


def evaluate_runs(
    runs: list[Path],
    command: str = "",
    progress: bool = True,
    memory: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batches: int | None = None,
) -> MemoryEval:
    meta, arrays = {"runs": [], "command": command, "versions": versions()}, {}
    for run in runs:
        model, info, _ = load(run, memory=memory)  # memory: an NTM's N at evaluation
        model.to(resolve_device(device), resolve_dtype(dtype))
        cfg = info["config"]
        name = unique(f"{cfg['model'].upper()} {cfg['task']}", run, {r["name"] for r in meta["runs"]})
        res, arr = eval_run(model, cfg["task"], task_options(train_config(cfg)), batches=batches)
        meta["runs"].append(
            {
                "name": name,
                "folder": str(run),
                "weights": weights_digest(run),  # sha256: which checkpoint this result is of
                "task": cfg["task"],
                "model": cfg["model"],
                "config": cfg,
                "step": info["step"],
                "sequences": info["sequences"],
                "sequences_before": info.get("sequences_before", 0),
                "seconds": info["seconds"],
                "held_out": info["held_out"],
                "train_commands": info.get("commands", []),
                "parameters": sum(p.numel() for p in model.parameters()),
                **res,
            }
        )
        arrays[f"{name}/history"] = np.asarray(info["history"], dtype=np.float32)
        arrays.update({f"{name}/{k}": v for k, v in arr.items()})
        if progress:
            print(
                f"{name}: {info['step']} batches, {info['seconds']:.0f} s; "
                + ", ".join(f"{x}: {c:.3f}" for x, c in zip(res["x"], res["cost"], strict=True))
                + (f"; optimal {res['optimal']:.3f} (+{res['above_optimal']:.3f})" if "optimal" in res else "")
            )
            for x, d, m in zip(res["x"], res.get("data_spread", ()), res.get("marker_spread", ()), strict=False):
                print(
                    f"  {x}: data channels mean {d['mean']:.2f}, median {d['median']:.2f}, "
                    f"{d['over']:.1%} of sequences over {res['failed_bits']:.0f} bits; end marker mean {m['mean']:.2f}"
                )
    return MemoryEval(meta, arrays)
