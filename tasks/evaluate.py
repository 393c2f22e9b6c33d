"""Held-out evaluation of a trained memory-task model, as plain results and arrays.

Per task (see `TASKS`): cost at each evaluation point beyond the training range, one
example sequence's targets and outputs (two for repeat copy, the paper's settings), the
N-gram rows against the optimal Bayesian estimator, and the NTM's read and write
weightings on each example. Evaluation batches come from held-out seeds.
"""

from __future__ import annotations

import numpy as np
import torch

from interp.tasks.memory import (
    TASKS,
    NGramConfig,
    make_ngrams,
    ngram_optimal,
    prob_bits_per_sequence,
    sample,
)
from interp.tasks.models.ntm import NTM
from interp.tasks.train import HELD_OUT, evaluate


def example(model, task: str, **overrides) -> dict[str, np.ndarray]:
    """Targets, outputs (sigmoid) and, for an NTM, weightings of one held-out sequence."""
    seq = sample(task, HELD_OUT - 1, n=1, **overrides)
    seen: dict[str, list] = {"read_w": [], "write_w": []}
    hooks = (
        [(f"hook_{k}", lambda x, hook, k=k: seen[k].append(x.detach())) for k in seen] if isinstance(model, NTM) else []
    )
    with torch.no_grad(), model.hooks(fwd_hooks=hooks):
        logits = model(seq.inputs)
    extra = {}
    if hooks:
        extra = {
            "read_w": torch.stack(seen["read_w"], 1)[0, :, 0].numpy(),
            "write_w": torch.stack(seen["write_w"], 1)[0].numpy(),
        }
    scored = seq.mask[0].bool()
    return {
        "inputs": seq.inputs[0].numpy(),
        "targets": seq.targets[0, scored].numpy(),
        "outputs": torch.sigmoid(logits[0, scored]).numpy(),
        **extra,
    }


def ngram_rows(model, n: int = 200) -> tuple[dict, dict[str, np.ndarray]]:
    """Cost on fixed held-out N-gram sequences against the optimal estimator, and one sequence's rows."""
    seq, _ = make_ngrams(NGramConfig(n=n), HELD_OUT)
    with torch.no_grad():
        p_model = torch.sigmoid(model(seq.inputs)[..., 0])
    p_opt = ngram_optimal(seq.inputs)
    c_model = float(prob_bits_per_sequence(p_model, seq.targets[..., 0]))
    c_opt = float(prob_bits_per_sequence(p_opt, seq.targets[..., 0]))
    res = {
        "x": ["cost"],
        "xlabel": "",
        "cost": [c_model],
        "optimal": c_opt,
        "above_optimal": c_model - c_opt,
    }
    return res, {
        "example/inputs": seq.inputs[0, :, 0].numpy(),
        "example/optimal": p_opt[0].numpy(),
        "example/pred": p_model[0].numpy(),
    }


def eval_run(model, task: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(results, arrays) of one trained model on its task."""
    spec = TASKS[task]
    model.eval()
    if spec.figure == "ngrams":
        return ngram_rows(model)
    res = {
        "x": list(spec.x),
        "xlabel": spec.xlabel,
        "cost": [evaluate(model, task, batches=2, **point) for point in spec.points],
    }
    if spec.figure == "repeat":
        arrays = {
            f"example_{p['length']}x{p['repeats']}/{k}": v
            for p in spec.points
            for k, v in example(model, task, **p).items()
        }
    else:
        arrays = {f"example/{k}": v for k, v in example(model, task, **spec.example).items()}
    return res, arrays
