"""Repeat-copy checkpoints scored on validation batches at the two settings beyond the training range.

    python benchmarks/repeat_validation.py RUN [RUN ...] [--batches 100] [--json out.json]

How `tasks/checkpoints/repeat-ntm` was chosen among one run's checkpoints: each is scored on
validation batches of 32 at Length 10 Repeat 20 and Length 20 Repeat 10, drawn from seeds
777,000 + 1,000 x length + 10 x repeats + i. Those seeds are apart from the training batches
(seed x 1,000,003 + step) and from the held-out batches that `python -m interp.memory eval` reports
(from 10^9), so choosing on them leaves the held-out figures unseen. Per setting it prints the
mean bits per sequence on the data channels (what `eval` reports), the median, and the share of
sequences over 5 bits. The count encoding is each run's own, as trained.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from interp.tasks.memory import sample
from interp.tasks.persist import load
from interp.tasks.setup import task_options, train_config

SETTINGS = ((10, 20), (20, 10))
SEED_BASE = 777_000


def data_bits(model, length: int, repeats: int, batches: int, options: dict) -> np.ndarray:
    """Bits per sequence on the data channels (all but the end marker), [batches x 32]."""
    out = []
    for i in range(batches):
        seq = sample(
            "repeat_copy", SEED_BASE + 1000 * length + 10 * repeats + i, n=32, length=length, repeats=repeats, **options
        )
        with torch.no_grad():
            logits = model(seq.inputs)
        bce = F.binary_cross_entropy_with_logits(logits, seq.targets, reduction="none") / np.log(2)
        out.append((bce * seq.mask[..., None]).sum(1)[:, :-1].sum(1))
    return torch.cat(out).numpy()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for run in a.runs:
        try:
            model, info, _ = load(Path(run))
        except FileNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if info["config"]["task"] != "repeat_copy":
            print(f"error: {run} is a {info['config']['task']} run, not repeat copy", file=sys.stderr)
            return 2
        model.eval()
        options = task_options(train_config(info["config"]))
        row = {"run": run, "step": info["step"]}
        for length, repeats in SETTINGS:
            bits = data_bits(model, length, repeats, a.batches, options)
            row[f"L{length}R{repeats}"] = {
                "mean": float(bits.mean()),
                "median": float(np.median(bits)),
                "over_5_bits": float((bits > 5).mean()),
            }
        rows.append(row)
        print(
            f"{run} (batch {info['step']}): "
            + "; ".join(
                f"{k} mean {v['mean']:.2f}, median {v['median']:.2f}, over 5 bits {v['over_5_bits']:.1%}"
                for k, v in row.items()
                if k.startswith("L")
            ),
            flush=True,
        )
    if a.json:
        Path(a.json).write_text(json.dumps({"batches": a.batches, "runs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
