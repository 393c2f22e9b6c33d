"""Training NTM and LSTM models on the memory tasks, with checkpoints (`python -m interp.memory train`).

Batch i of a run is drawn with seed (seed, i), so a resumed run sees exactly the batches it
would have seen. A checkpoint (model.safetensors, optim.pt, run.json) is written to a scratch
folder and swapped in whole; a non-finite loss stops training with the last good checkpoint kept.
`RUN/best` holds the weights with the lowest held-out cost so far, itself a run folder for `eval`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from interp.tasks.memory import Seq, bits_per_sequence, dims, sample
from interp.tasks.models.lstm import HookedLSTM, LSTMConfig
from interp.tasks.models.ntm import NTM, NTMConfig

HELD_OUT = 10**9  # evaluation batches use seeds from here, never seen in training


@dataclass(frozen=True)
class TrainConfig:
    task: str = "copy"
    model: str = "ntm"
    steps: int = 4000  # batches
    batch: int = 32
    lr: float = 1e-3  # Adam, as Collier & Beel
    clip: float = 10.0  # gradient norm
    seed: int = 0
    ckpt_every: int = 250
    eval_every: int = 250
    d_hidden: int | None = None  # default: 100 (NTM controller), 256 (LSTM)
    n_layers: int = 3  # LSTM only
    N: int = 128
    M: int = 20
    max_len: int | None = None  # shorter training sequences than the paper's (copy, repeat copy)
    init_from: str | None = None  # warm start from another run's checkpoint (see `warm_start`)
    controller: str = "lstm"  # NTM controller: "lstm" or "ff" (feedforward, as in the paper's tables)
    ctrl_clip: float | None = None  # clip the NTM controller's outputs to +-this (Collier & Beel: 20)
    optimizer: str = "adam"  # "adam", or "rmsprop" (the paper's: momentum 0.9, gradients clipped elementwise)
    memory_sizes: tuple[int, ...] | None = None  # NTM: memory locations per batch, drawn from these


def train_config(d: dict) -> TrainConfig:
    """A run.json config back as a TrainConfig (JSON has lists where the config has tuples)."""
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def build(cfg: TrainConfig):
    d_in, d_out = dims(cfg.task)
    if cfg.model == "ntm":
        return NTM(
            NTMConfig(
                d_in,
                d_out,
                controller=cfg.controller,
                d_hidden=cfg.d_hidden or 100,
                N=cfg.N,
                M=cfg.M,
                clip=cfg.ctrl_clip,
            )
        )
    if cfg.model == "lstm":
        return HookedLSTM(LSTMConfig(d_in, d_out, d_hidden=cfg.d_hidden or 256, n_layers=cfg.n_layers))
    raise ValueError(f"unknown model {cfg.model!r}: choose ntm or lstm")


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":  # Graves et al. 2014, sec. 4: RMSProp with momentum 0.9
        return torch.optim.RMSprop(model.parameters(), lr=cfg.lr, momentum=0.9)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}: choose adam or rmsprop")


def clip_gradients(model, cfg: TrainConfig) -> torch.Tensor:
    """Elementwise to +-clip for RMSProp (as the paper), by global norm for Adam; returns the norm before."""
    if cfg.optimizer == "rmsprop":
        norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
        torch.nn.utils.clip_grad_value_(model.parameters(), cfg.clip)
        return norm
    return torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)


def warm_start(model, run: Path, sizes: dict) -> list[str]:
    """Copy a trained run's weights into `model` (same model kind, possibly another task).

    Where the tasks' channel counts differ, the shared leading input and output channels are copied
    and the task's extra channels keep their fresh initialisation. The NTM controller sees
    [input | read vectors], so its read columns are realigned after the input block.
    Returns the names of the parameters that were only partly copied."""
    src_model, src_info, _ = load(run)
    if src_info["config"]["model"] != _kind(model):
        raise ValueError(f"--init-from {run}: a {src_info['config']['model']} run cannot start a {_kind(model)}")
    src_cfg = asdict(train_config(src_info["config"]))  # older runs lack newer fields: their defaults
    for key in ("d_hidden", "n_layers", "M", "controller"):  # N is free: no weight depends on it
        if src_cfg[key] != sizes.get(key):
            raise ValueError(f"--init-from {run}: its {key} is {src_cfg[key]}, this run's {sizes.get(key)}")
    src = src_model.state_dict()
    d_src = dims(src_info["config"]["task"])[0]
    d_in = model.cfg.d_in
    partial = []
    with torch.no_grad():
        for name, p in model.state_dict().items():
            q = src[name]
            if q.shape == p.shape:
                p.copy_(q)
                continue
            if q.ndim != p.ndim:
                raise ValueError(f"--init-from {run}: {name} is {tuple(q.shape)} there, {tuple(p.shape)} here")
            partial.append(name)
            if name == "controller.weight_ih":  # [4H, d_in + R*M]
                p[:, : min(d_src, d_in)] = q[:, : min(d_src, d_in)]
                p[:, d_in:] = q[:, d_src:]
            else:
                shared = tuple(slice(0, min(a, b)) for a, b in zip(q.shape, p.shape, strict=True))
                p[shared] = q[shared]
    return partial


def _kind(model) -> str:
    return "ntm" if isinstance(model, NTM) else "lstm"


def batch_seed(seed: int, step: int) -> int:
    return seed * 1_000_003 + step


def cost(model, seq: Seq, N: int | None = None) -> torch.Tensor:
    """Bits per sequence; `N`: an NTM's memory locations for this batch."""
    return bits_per_sequence(model(seq.inputs, N=N) if N else model(seq.inputs), seq)


def memory_size(cfg: TrainConfig, step: int) -> int | None:
    """The NTM memory size for batch `step`: drawn from `memory_sizes` with the batch's seed, so that
    wrapping round memory is seen in training and a resumed run sees the same sizes."""
    if not cfg.memory_sizes:
        return None
    return cfg.memory_sizes[batch_seed(cfg.seed, step) % len(cfg.memory_sizes)]


def _train_range(cfg: TrainConfig) -> dict:
    return {"max_len": cfg.max_len} if cfg.max_len else {}


class NonFinite(RuntimeError):
    pass


def save(model, opt, info: dict, out: Path) -> None:
    """Write a complete checkpoint beside `out/ckpt`, then swap it in (`opt` None: weights only)."""
    tmp, final, old = out / ".ckpt-tmp", out / "ckpt", out / ".ckpt-old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    if opt is not None:
        torch.save(opt.state_dict(), tmp / "optim.pt")
    (tmp / "run.json").write_text(json.dumps(info, indent=1))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def load(run: Path, memory: int | None = None):
    """(model, run info, optimizer state or None) from a run folder's checkpoint.

    Committed checkpoints (`tasks/checkpoints/`) ship without the optimizer state: they evaluate
    and warm-start, but cannot `--resume`. `memory` sets an NTM's number of memory locations N
    (no weight depends on it), e.g. the paper's 128 for a model trained with fewer."""
    ck = run / "ckpt" if (run / "ckpt").exists() else run / ".ckpt-old"
    if not (ck / "run.json").exists():
        raise FileNotFoundError(f"no checkpoint in {run}")
    info = json.loads((ck / "run.json").read_text())
    cfg = train_config(info["config"])
    model = build(replace(cfg, N=memory) if memory and cfg.model == "ntm" else cfg)
    model.load_state_dict(load_file(ck / "model.safetensors"))
    return model, info, torch.load(ck / "optim.pt") if (ck / "optim.pt").exists() else None


def evaluate(model, task: str, n: int = 32, batches: int = 4, **overrides) -> float:
    """Mean cost over `batches` fixed held-out batches (each draws its own length where not fixed)."""
    key = zlib.crc32(repr(sorted(overrides.items())).encode())
    with torch.no_grad():
        return (
            sum(float(cost(model, sample(task, HELD_OUT + key + i, n=n, **overrides))) for i in range(batches))
            / batches
        )


def start(cfg: TrainConfig, out: Path, resume: bool, command: str | None):
    """(model, optimizer, run info): fresh (or warm-started), or resumed from `out`'s checkpoint."""
    if not resume:
        torch.manual_seed(cfg.seed)  # parameter init; data uses its own generators
        model = build(cfg)
        if cfg.init_from:
            warm_start(model, Path(cfg.init_from), asdict(cfg))
        info = {
            "config": asdict(cfg),
            "step": 0,
            "seconds": 0.0,
            "sequences": 0,
            "history": [],
            "held_out": [],
            "commands": [command],
        }
        return model, make_optimizer(model, cfg), info
    model, info, opt_state = load(out)
    if opt_state is None:
        raise ValueError(f"--resume: {out} has no optimizer state (a committed checkpoint?); use --init-from")
    if asdict(train_config(info["config"])) | {"steps": cfg.steps} != asdict(cfg) | {"steps": cfg.steps}:
        raise ValueError("--resume with a different config than the checkpoint's (only --steps may change)")
    opt = make_optimizer(model, cfg)
    opt.load_state_dict(opt_state)
    info["config"] = asdict(cfg)
    info.setdefault("commands", []).append(command)
    return model, opt, info


def _held_out(model, cfg: TrainConfig, info: dict, done: int, secs: float, out: Path) -> None:
    """Evaluate on held-out batches; keep the weights in `out/best` when they are the best so far."""
    model.eval()
    held = evaluate(model, cfg.task, **_train_range(cfg))
    if all(held < h[1] for h in info["held_out"]):  # the NTM's cost spikes now and then: keep the best too
        best = {
            "step": done,
            "seconds": secs,
            "sequences": done * cfg.batch,
            "held_out": [*info["held_out"], [done, held, secs]],
        }
        save(model, None, info | best, out / "best")
    info["held_out"].append([done, held, secs])  # step, bits/seq, seconds
    model.train()


def train(
    cfg: TrainConfig,
    out: Path,
    resume: bool = False,
    progress: bool | None = None,
    command: str | None = None,
    compile: bool = False,
) -> dict:
    """Train to `cfg.steps` batches; returns the run info (history of training and held-out cost).

    `compile` runs the NTM's step through torch.compile (checked against the eager step; see `NTM.compile_step`).
    """
    model, opt, info = start(cfg, out, resume, command)
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
        seq = sample(cfg.task, batch_seed(cfg.seed, step), n=cfg.batch, **_train_range(cfg))
        loss = cost(model, seq, memory_size(cfg, step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
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
            _held_out(model, cfg, info, done, base_secs + time.perf_counter() - t0, out)
        if done % cfg.ckpt_every == 0 or done == cfg.steps:
            info.update(step=done, seconds=base_secs + time.perf_counter() - t0, sequences=done * cfg.batch)
            save(model, opt, info, out)
    return info
