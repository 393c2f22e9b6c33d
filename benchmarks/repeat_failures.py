"""Where a repeat-copy model's failed sequences go wrong: which repeat, and what the end marker does there.

    python benchmarks/repeat_failures.py RUN [--batches 10]

Per setting (Length 10 Repeat 20, Length 20 Repeat 10, and two nearer the training range), on batches of 32
from seeds 555,000 + 1,000 x length + 10 x repeats + i (apart from training, validation and `eval`): the mean,
median and share over 5 bits of the data channels, the end marker's mean, the mean bits of each repeat, and
for the sequences over 5 bits the repeat (or the end step) where one first costs more than 1 bit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from interp.tasks.memory import sample
from interp.tasks.persist import load
from interp.tasks.setup import task_options, train_config

SETTINGS = ((10, 20), (20, 10), (10, 10), (5, 16))


def per_repeat(model, length: int, repeats: int, batches: int, options: dict) -> tuple[np.ndarray, np.ndarray]:
    """(bits on the data channels per sequence, per repeat and then at the end marker's step [n, repeats + 1],
    end-marker bits per sequence [n]). At the end step the data targets are all 0: bits there mean the model
    began another repeat."""
    data, marker = [], []
    for i in range(batches):
        seq = sample("repeat_copy", 555_000 + 1000 * length + 10 * repeats + i, n=32, length=length,
                     repeats=repeats, **options)  # fmt: skip
        with torch.no_grad():
            logits = model(seq.inputs)
        bce = F.binary_cross_entropy_with_logits(logits, seq.targets, reduction="none") / np.log(2)
        start = int(seq.mask[0].nonzero()[0])
        reps = bce[:, start : start + repeats * length, :-1].sum(-1).reshape(-1, repeats, length).sum(-1)
        data.append(torch.cat([reps, bce[:, -1:, :-1].sum(-1)], 1))
        marker.append((bce[..., -1] * seq.mask).sum(1))
    return torch.cat(data).numpy(), torch.cat(marker).numpy()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--batches", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(1)
    try:
        model, info, _ = load(Path(a.run))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if info["config"]["task"] != "repeat_copy" or a.batches < 1:
        print("error: give a repeat-copy run and --batches of at least 1", file=sys.stderr)
        return 2
    model.eval()
    options = task_options(train_config(info["config"]))
    np.set_printoptions(precision=2, suppress=True, linewidth=120)
    for length, repeats in SETTINGS:
        data, marker = per_repeat(model, length, repeats, a.batches, options)
        total = data.sum(1)
        failed = total > 5
        print(
            f"Length {length} Repeat {repeats}: mean {total.mean():.2f}, median {np.median(total):.2f}, "
            f"{failed.mean():.1%} over 5 bits; end marker mean {marker.mean():.2f}"
        )
        print("  mean bits per repeat, then at the end step:", data.mean(0))
        if failed.any():
            first = (data[failed] > 1).argmax(1)
            where = np.bincount(first, minlength=repeats + 1)
            print("  failed sequences by where they first go wrong (repeats, then the end step):", where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
