"""Frozen run configs: any result can be rebuilt from one of these and its seed."""

from __future__ import annotations

from dataclasses import dataclass, field

from interp.models import DEFAULT_MODEL
from probes.sweep import SweepConfig
from tasks.arithmetic import ArithmeticConfig


@dataclass(frozen=True)
class ProbeRunConfig:
    model: str = DEFAULT_MODEL
    task: ArithmeticConfig = field(default_factory=ArithmeticConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    sites: tuple[str, ...] = ("attn_out", "mlp_out", "resid_post")
    layers: str = "all"  # "all", "0,4,8" or "10-20"
    seed: int = 0  # problems, folds and control tasks all derive from it
    batch_size: int = 32
    behaviour_n: int = 64  # decode the model's own answers (greedy) for this many problems
