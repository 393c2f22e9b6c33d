"""Training NTM and LSTM models on the memory tasks, with checkpoints (`python -m interp.memory train`).

Batch i of a run is drawn with seed (seed, i), so a resumed run sees exactly the batches it
would have seen. A checkpoint (model.safetensors, optim.pt, run.json) is written to a scratch
folder and swapped in whole; a non-finite loss stops training with the last good checkpoint kept.
`RUN/best` holds the weights with the lowest held-out cost so far, itself a run folder for `eval`.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from interp.tasks.memory import RepeatCopyConfig, Seq, bits_per_sequence, sample
from interp.tasks.models.ntm import NTM
from interp.tasks.persist import load, save, sequences_so_far, warm_start
from interp.tasks.setup import (
    TrainConfig,
    build,
    clip_gradients,
    device_of,
    dtype_of,
    make_optimizer,
    task_options,
    train_config,
)

HELD_OUT = 10**9  # evaluation batches use seeds from here, never seen in training


def batch_seed(seed: int, step: int) -> int:
    return seed * 1_000_003 + step


def cost(model, seq: Seq, N: int | None = None) -> torch.Tensor:
    """Bits per sequence, on the model's device; `N`: an NTM's memory locations for this batch."""
    seq = seq.to(device_of(model), dtype_of(model))
    return bits_per_sequence(model(seq.inputs, N=N) if N else model(seq.inputs), seq)


def memory_size(cfg: TrainConfig, step: int) -> int | None:
    """The NTM memory size for batch `step`: drawn from `memory_sizes` with the batch's seed, so that
    wrapping round memory is seen in training and a resumed run sees the same sizes."""
    if not cfg.memory_sizes:
        return None
    return cfg.memory_sizes[batch_seed(cfg.seed, step) % len(cfg.memory_sizes)]


def _train_range(cfg: TrainConfig) -> dict:
    return task_options(cfg) | ({"max_len": cfg.max_len} if cfg.max_len else {})


def most_repeats(cfg: TrainConfig, step: int) -> int:
    """The most repeats batch `step` may draw: under `grow_repeats`, 1 at the start, rising in even steps to the
    task's training range (10) at batch `grow_repeats`.

    >>> [most_repeats(TrainConfig(task="repeat_copy", grow_repeats=900), s) for s in (0, 99, 100, 899, 900, 5000)]
    [1, 1, 2, 9, 10, 10]
    """
    full = RepeatCopyConfig.max_repeats
    if not cfg.grow_repeats:
        return full
    return min(full, 1 + (full - 1) * step // cfg.grow_repeats)


def weigh_end(seq: Seq, weight: float | None) -> Seq:
    """`seq` with its last step's scored outputs counted `weight` times (repeat copy's end-marker step).

    >>> seq = sample("repeat_copy", 0, n=2, length=1, repeats=1)
    >>> weigh_end(seq, 4.0).mask[0].tolist()
    [0.0, 0.0, 1.0, 4.0]
    """
    if not weight:
        return seq
    mask = seq.mask.clone()
    mask[:, -1] *= weight
    return Seq(seq.inputs, seq.targets, mask)


def batch_range(cfg: TrainConfig, step: int) -> dict:
    """Generator settings of training batch `step`: the run's range, narrowed early on by a curriculum."""
    return _train_range(cfg) | ({"max_repeats": most_repeats(cfg, step)} if cfg.grow_repeats else {})


class NonFinite(RuntimeError):
    pass


def held_out_seed(**overrides) -> int:
    """The first seed of the held-out batches at an evaluation point. The count encoding is left out of the
    key, so runs fed the count differently are scored on the same sequences."""
    point = sorted((k, v) for k, v in overrides.items() if k != "count")
    return HELD_OUT + zlib.crc32(repr(point).encode())


def evaluate(model, task: str, n: int = 32, batches: int = 4, **overrides) -> float:
    """Mean cost over `batches` fixed held-out batches (each draws its own length where not fixed)."""
    key = held_out_seed(**overrides) - HELD_OUT
    with torch.no_grad():
        return (
            sum(float(cost(model, sample(task, HELD_OUT + key + i, n=n, **overrides))) for i in range(batches))
            / batches
        )


def start(
    cfg: TrainConfig,
    out: Path,
    resume: bool,
    command: str | None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
):
    """(model, optimizer, run info): fresh (or warm-started), or resumed from `out`'s checkpoint, on `device`.
    Parameters are initialised on the CPU (the same seed gives the same weights anywhere), then moved."""
    if not resume:
        with torch.device("cpu"):
            torch.manual_seed(cfg.seed)  # parameter init; data uses its own generators
            model = build(cfg)
        if cfg.init_from:
            warm_start(model, Path(cfg.init_from), asdict(cfg))
        model.to(device, dtype)
        info = {
            "config": asdict(cfg),
            "step": 0,
            "seconds": 0.0,
            "sequences": 0,
            # sequences the warm start's weights had already seen (its own run and those it started from)
            "sequences_before": sequences_so_far(Path(cfg.init_from)) if cfg.init_from else 0,
            "history": [],
            "held_out": [],
            "commands": [command],
        }
        return model, make_optimizer(model, cfg), info
    model, info, opt_state = load(out)
    model.to(device, dtype)
    if opt_state is None:
        raise ValueError(f"--resume: {out} has no optimizer state (a committed checkpoint?); use --init-from")
    if asdict(train_config(info["config"])) | {"steps": cfg.steps} != asdict(cfg) | {"steps": cfg.steps}:
        raise ValueError("--resume with a different config than the checkpoint's (only --steps may change)")
    opt = make_optimizer(model, cfg)
    opt.load_state_dict(opt_state)
    info["config"] = asdict(cfg)
    info.setdefault("commands", []).append(command)
    return model, opt, info


def _held_out(model, opt, cfg: TrainConfig, info: dict, done: int, secs: float, out: Path) -> bool:
    """Evaluate on held-out batches; keep the weights (and, under `rollback_optimizer="best"`, the optimizer's
    state) in `out/best` when they are the best so far. True when
    the cost is `cfg.rollback` bits or more above the best (then the caller restores `out/best`)."""
    model.eval()
    held = evaluate(model, cfg.task, **_train_range(cfg))
    best_so_far = min((h[1] for h in info["held_out"]), default=math.inf)
    if held < best_so_far:  # the NTM's cost spikes now and then: keep the best too
        best = {
            "step": done,
            "seconds": secs,
            "sequences": done * cfg.batch,
            "held_out": [*info["held_out"], [done, held, secs]],
        }
        keep = opt if cfg.rollback_optimizer == "best" else None
        save(model, keep, info | best, out / "best")
    info["held_out"].append([done, held, secs])  # step, bits/seq, seconds
    model.train()
    if cfg.rollback is not None and held > best_so_far + cfg.rollback:
        info.setdefault("rollbacks", []).append([done, held, best_so_far])
        return True
    return False


def restore_best(model, cfg: TrainConfig, out: Path) -> torch.optim.Optimizer:
    """Put `out/best`'s weights back in `model` (in place, so a compiled step keeps them) with an optimizer:
    a fresh one (the current state carried the step that diverged), or the one kept with the best weights."""
    best, _, state = load(out / "best")
    with torch.no_grad():
        for p, q in zip(model.parameters(), best.parameters(), strict=True):
            p.copy_(q)
    opt = make_optimizer(model, cfg)
    if cfg.rollback_optimizer == "best":
        if state is None:
            raise ValueError(f"{out / 'best'} has no optimizer state to restore (written without it)")
        opt.load_state_dict(state)
    return opt


def checkpoint_cost(info: dict) -> tuple[int, float] | None:
    """(batch, held-out cost) of the weights a run's checkpoint holds: the last evaluation's, or, where that
    evaluation rolled back (always so at the final one, whose checkpoint is written after the rollback), the
    best weights' that were put back.

    >>> checkpoint_cost({"step": 6, "held_out": [[2, 50.0, 1], [4, 10.0, 2], [6, 90.0, 3]], "rollbacks": [[6, 90.0, 10.0]]})
    (4, 10.0)
    """
    if not info["held_out"]:
        return None
    *before, (step, held, _) = info["held_out"]
    if info.get("rollbacks") and info["rollbacks"][-1][0] == step and before:
        best = min(before, key=lambda h: h[1])
        return best[0], best[1]
    return step, held


def train(
    cfg: TrainConfig,
    out: Path,
    resume: bool = False,
    progress: bool | None = None,
    command: str | None = None,
    compile: bool = False,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> dict:
    """Train to `cfg.steps` batches on `device`; returns the run info (history of training and held-out cost).

    `compile` runs the NTM's step through torch.compile (checked against the eager step; see `NTM.compile_step`).
    Batches are drawn on the CPU (seeded generators) and moved to the model.
    """
    model, opt, info = start(cfg, out, resume, command, device, dtype)
    if compile and isinstance(model, NTM):
        model.compile_step()
    info["compiled"] = bool(compile and isinstance(model, NTM))
    start_step, t0, base_secs = info["step"], time.perf_counter(), info["seconds"]
    ema = None
    bar = tqdm(
        range(start_step, cfg.steps),
        initial=start_step,
        total=cfg.steps,
        desc=f"{cfg.model} {cfg.task}",
        disable=None if progress is None else not progress,
    )
    for step in bar:
        seq = weigh_end(
            sample(cfg.task, batch_seed(cfg.seed, step), n=cfg.batch, **batch_range(cfg, step)), cfg.end_weight
        )
        loss = cost(model, seq, memory_size(cfg, step))
        opt.zero_grad(set_to_none=True)
        (loss / seq.mask.sum(1).mean() if cfg.per_step else loss).backward()
        gnorm = clip_gradients(model, cfg)
        if not (math.isfinite(loss.item()) and math.isfinite(float(gnorm))):
            raise NonFinite(
                f"non-finite loss or gradient at step {step}; the last good checkpoint "
                f"(step {info['step']}) is kept in {out / 'ckpt'}"
            )
        opt.step()
        loss = loss.item()
        ema = loss if ema is None else 0.98 * ema + 0.02 * loss
        bar.set_postfix(bits=f"{ema:.3f}")
        done = step + 1
        info["history"].append([done, loss])
        if done % cfg.eval_every == 0 or done == cfg.steps:
            if _held_out(model, opt, cfg, info, done, base_secs + time.perf_counter() - t0, out):
                opt = restore_best(model, cfg, out)
                if cfg.rollback_lr:
                    for group in opt.param_groups:
                        group["lr"] = cfg.lr * cfg.rollback_lr ** len(info["rollbacks"])
        if done % cfg.ckpt_every == 0 or done == cfg.steps:
            info.update(step=done, seconds=base_secs + time.perf_counter() - t0, sequences=done * cfg.batch)
            save(model, opt, info, out)
    return info
