"""How a memory-task run is set up: its config, the model it builds, its optimizer and gradient clipping."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp.tasks.memory import dims
from interp.tasks.models.lstm import HookedLSTM, LSTMConfig
from interp.tasks.models.ntm import NTM, NTMConfig


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
    # "adam"; "rmsprop" (momentum 0.9, torch's decay 0.99 and epsilon 1e-8); "rmsprop-graves": Graves (2013, eq.
    # 38-41), which the NTM paper cites: centred, decay 0.95, epsilon 1e-4 under the root (here 1e-2 beside it).
    # Both RMSProps clip gradients elementwise, as the paper
    optimizer: str = "adam"
    memory_sizes: tuple[int, ...] | None = None  # NTM: memory locations per batch, drawn from these
    count: str | None = None  # repeat copy: how the count is fed ("scalar" or "unary", see RepeatCopyConfig)
    # a held-out cost more than this many bits above the best so far restores the best weights and restarts the
    # optimizer: the NTM's training collapses now and then, and a collapse is rarely undone by more steps
    rollback: float | None = None
    # what a rollback does with the optimizer: "fresh" starts a new one; "best" restores the state it had at the
    # best weights (a fresh RMSProp's first steps run up to 3x their steady size, which may provoke the next collapse)
    rollback_optimizer: str = "fresh"
    # each rollback multiplies the learning rate by this: from weights that collapsed at a rate, the same rate
    # tends to collapse them again, while a lower one holds them (BENCHMARKS.md, repeat copy)
    rollback_lr: float | None = None
    # repeat copy: the most repeats a training batch may draw rises from 1 to the task's range over this many
    # batches (a curriculum: the copy NTM it starts from already solves one repeat); held-out batches keep the range
    grow_repeats: int | None = None
    # repeat copy: the training cost counts the last step (end marker on, data channels off) this many times;
    # held-out costs stay plain bits. Most of a trained NTM's failures start another repeat there (BENCHMARKS.md)
    end_weight: float | None = None
    # train on bits per scored step, not per sequence: a batch's gradient then no longer grows with its length and
    # repeats (up to 100x between repeat-copy batches); held-out costs and the history stay bits per sequence
    per_step: bool = False


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
    if cfg.optimizer == "rmsprop-graves":
        # Graves 2013's step divides by sqrt(n - g^2 + 1e-4); torch adds its epsilon after the root, so 1e-2 there
        # gives the same floor where the gradient is quiet (within 1.41x elsewhere). With torch's 1e-8 a gradient
        # waking after a quiet spell steps 10 lr at once; the floor did not make the NTM steadier (BENCHMARKS.md).
        return torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=0.95, eps=1e-2, momentum=0.9, centered=True)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}: choose adam, rmsprop or rmsprop-graves")


def clip_gradients(model, cfg: TrainConfig) -> torch.Tensor:
    """Elementwise to +-clip for RMSProp (as the paper), by global norm for Adam; returns the norm before."""
    if cfg.optimizer.startswith("rmsprop"):
        norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
        torch.nn.utils.clip_grad_value_(model.parameters(), cfg.clip)
        return norm
    return torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)


def device_of(model) -> torch.device:
    """Where a model's inputs go (any callable without parameters: the CPU)."""
    params = model.parameters() if isinstance(model, torch.nn.Module) else iter(())
    return next(params, torch.empty(0, device="cpu")).device


def dtype_of(model) -> torch.dtype:
    params = model.parameters() if isinstance(model, torch.nn.Module) else iter(())
    return next(params, torch.empty(0, device="cpu")).dtype


def task_options(cfg: TrainConfig) -> dict:
    """Generator settings a run was trained with that evaluation must keep (the count encoding)."""
    return {"count": cfg.count} if cfg.count else {}
