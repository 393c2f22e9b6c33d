"""Held-out evaluation of a trained memory-task model, as plain results and arrays.

Per task (see `TASKS`): cost at each evaluation point beyond the training range, one
example sequence's targets and outputs (two for repeat copy, the paper's settings), the
N-gram rows against the optimal Bayesian estimator, and the NTM's read and write
weightings on each example. Evaluation batches come from held-out seeds.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float

from interp.tasks.memory import TASKS, NGramConfig, make_ngrams, ngram_optimal, prob_bits_per_sequence, sample
from interp.tasks.models.ntm import NTM
from interp.tasks.setup import device_of, dtype_of
from interp.tasks.train import HELD_OUT, evaluate, held_out_seed

FAILED_BITS = 5.0  # a repeat-copy sequence costing more than this on its data channels has visibly failed


def example(model, task: str, **overrides) -> dict[str, np.ndarray]:
    """Targets, outputs (sigmoid) and, for an NTM, weightings of one held-out sequence."""
    seq = sample(task, HELD_OUT - 1, n=1, **overrides)
    seen: dict[str, list] = {"read_w": [], "write_w": []}
    hooks = (
        [(f"hook_{k}", lambda x, hook, k=k: seen[k].append(x.detach().cpu())) for k in seen]
        if isinstance(model, NTM)
        else []
    )
    with torch.no_grad(), model.hooks(fwd_hooks=hooks):
        logits = model(seq.inputs.to(device_of(model), dtype_of(model))).float().cpu()
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


def ngram_rows(model, n: int = 1000) -> tuple[dict, dict[str, np.ndarray]]:
    """Cost on `n` fixed held-out N-gram sequences against the optimal estimator on the same sequences
    (paired: the standard error is that of the per-sequence difference), and one sequence's rows."""
    seq, _ = make_ngrams(NGramConfig(n=n), HELD_OUT)
    with torch.no_grad():
        p_model = torch.cat(
            [
                torch.sigmoid(model(x.to(device_of(model), dtype_of(model)))[..., 0].float()).cpu()
                for x in seq.inputs.split(100)
            ]
        )
    p_opt = ngram_optimal(seq.inputs)
    y = seq.targets[..., 0]

    def per_sequence(p: torch.Tensor) -> torch.Tensor:
        p = p.clamp(1e-7, 1 - 1e-7)
        return -(y * torch.log2(p) + (1 - y) * torch.log2(1 - p)).sum(1)

    diff = per_sequence(p_model) - per_sequence(p_opt)
    c_model, c_opt = float(prob_bits_per_sequence(p_model, y)), float(prob_bits_per_sequence(p_opt, y))
    res = {
        "x": ["cost"],
        "xlabel": "",
        "cost": [c_model],
        "optimal": c_opt,
        "above_optimal": c_model - c_opt,
        "above_optimal_se": float(diff.std() / np.sqrt(n)),
        "eval_sequences": n,  # "sequences" is the training count
    }
    return res, {
        "example/inputs": seq.inputs[0, :, 0].numpy(),
        "example/optimal": p_opt[0].numpy(),
        "example/pred": p_model[0].numpy(),
        "per_sequence": per_sequence(p_model).numpy(),  # for paired comparisons between models
    }


def channel_costs(
    model, task: str, batches: int = 2, **overrides
) -> tuple[Float[np.ndarray, " seq"], Float[np.ndarray, " seq"]]:
    """(data channels, last channel) bits of each sequence of the held-out batches `evaluate` uses.
    For repeat copy the last channel is the end marker."""
    key = held_out_seed(**overrides) - HELD_OUT
    data, marker = [], []
    with torch.no_grad():
        for i in range(batches):
            seq = sample(task, HELD_OUT + key + i, n=32, **overrides)
            logits = model(seq.inputs.to(device_of(model), dtype_of(model))).float().cpu()
            bce = F.binary_cross_entropy_with_logits(logits, seq.targets, reduction="none")
            bits = (bce * seq.mask[..., None]).sum(1) / np.log(2)  # [sequence, channel]
            data.append(bits[:, :-1].sum(1).numpy())
            marker.append(bits[:, -1].numpy())
    return np.concatenate(data), np.concatenate(marker)


def spread(bits: Float[np.ndarray, " seq"], over: float = FAILED_BITS) -> dict:
    """Mean, median and the share of sequences over `over` bits: a mean alone hides a failure tail."""
    return {"mean": float(bits.mean()), "median": float(np.median(bits)), "over": float((bits > over).mean())}


def eval_run(
    model, task: str, options: dict | None = None, batches: int | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """(results, arrays) of one trained model on its task; `options`: the generator settings it was trained
    with (`train.task_options`), kept at every evaluation point; `batches` held-out batches of 32 per point
    (the first ones are always the same, so more batches extend the default sample; None: the task's
    `eval_batches`). N-grams are scored on their 1,000 fixed sequences whatever `batches` is."""
    spec = TASKS[task]
    batches = batches or spec.eval_batches
    options = options or {}
    model.eval()
    if spec.figure == "ngrams":
        return ngram_rows(model)
    res = {"x": list(spec.x), "xlabel": spec.xlabel, "eval_batches": batches}
    if spec.figure == "repeat":  # the paper's NTM missed the end marker past ~12 repeats: report it apart
        split = [channel_costs(model, task, batches=batches, **point, **options) for point in spec.points]
        res["data_cost"], res["marker_cost"] = [float(d.mean()) for d, _ in split], [float(m.mean()) for _, m in split]
        res["cost"] = [d + m for d, m in zip(res["data_cost"], res["marker_cost"], strict=True)]
        res["data_spread"] = [spread(d) for d, _ in split]  # per point: mean, median, share over 5 bits
        res["marker_spread"] = [spread(m, 1.0) for _, m in split]
        res["failed_bits"] = FAILED_BITS
        arrays = {
            f"example_{p['length']}x{p['repeats']}/{k}": v
            for p in spec.points
            for k, v in example(model, task, **p, **options).items()
        }
        for p, (d, m) in zip(spec.points, split, strict=True):
            arrays[f"per_sequence_{p['length']}x{p['repeats']}/data"] = d.astype(np.float32)
            arrays[f"per_sequence_{p['length']}x{p['repeats']}/marker"] = m.astype(np.float32)
    else:
        res["cost"] = [evaluate(model, task, batches=batches, **point, **options) for point in spec.points]
        arrays = {f"example/{k}": v for k, v in example(model, task, **spec.example, **options).items()}
    return res, arrays
