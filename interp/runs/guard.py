"""The float32 guard: a fast-format run checks a slice of its own work against float32 before trusting it.

The float32 model computes the slice first and is freed before the fast model loads, so the two never sit
in memory together. Each checked tensor must lie within `guard_tolerance` of float32 (relative distance,
||fast - float32|| / ||float32||, over the slice); otherwise the run stops in one line and writes nothing.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor

from interp.core.selfcheck import SelfCheckError, relative_distance
from interp.models.devices import resolve_device
from interp.models.loading import load_model
from interp.models.precision import Format, choose_format, guard_tolerance


@dataclass(frozen=True)
class GuardResult:
    """How far the fast run was from float32 on the slice, and the bound it had to meet.

    >>> GuardResult("bfloat16", 0.0625, 0.011, "resid_post L3", 16).to_json()["tolerance"]
    0.0625
    """

    dtype: str
    tolerance: float  # relative distance allowed: `GUARD_ULPS` epsilons of the format
    worst: float  # the largest relative distance seen
    at: str  # where
    n: int  # how much the slice held, in `unit`s
    unit: str = "rows"

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("dtype", "tolerance", "worst", "at", "n", "unit")}


def guarded_load(
    model: str, device: str, dtype: str, compute: Callable, n_devices: int | None = None, times=None
) -> tuple:
    """(model in its number format, the format, the float32 slice `compute` gave or None): for a fast
    format the float32 model computes the slice first and is freed, so the two never share memory.
    `times`: a `Stages`, timing the "guard" and "load" stages."""
    stage = times if times is not None else (lambda name: nullcontext())  # a Stages dict may be empty: falsy
    fmt = choose_format(dtype, resolve_device(device) if (n_devices or 1) <= 1 else "cuda")
    reference = None
    if fmt.fast:
        with stage("guard"):
            reference = float32_slice(model, device, compute, n_devices)
    with stage("load"):
        loaded = load_model(model, device=device, dtype=fmt.dtype, n_devices=n_devices)
    return loaded, fmt, reference


def float32_slice(model: str, device: str, compute: Callable, n_devices: int | None = None) -> dict[str, Tensor]:
    """`compute(model)` -> {name: tensor} on the float32 model, which is freed before this returns."""
    reference = load_model(model, device=device, dtype="float32", n_devices=n_devices)
    with torch.no_grad():
        out = {k: v.detach().float().cpu() for k, v in compute(reference).items()}
    del reference
    gc.collect()
    return out


def check_fast(
    fmt: Format, fast: dict[str, Tensor], reference: dict[str, Tensor], what: str, n: int, unit: str
) -> GuardResult:
    """Raise `SelfCheckError` in one line when any tensor is further from float32 than the format allows.

    >>> ref = {"resid_post L0": torch.ones(4, 8)}
    >>> fast = {"resid_post L0": torch.ones(4, 8) * 1.01}
    >>> check_fast(Format("bfloat16", "asked for"), fast, ref, "capture", 4, "prompts").worst
    0.01...
    """
    tol = guard_tolerance(fmt.torch_dtype)
    dist = {k: relative_distance(fast[k].float().cpu(), v) for k, v in reference.items()}
    at = max(dist, key=lambda k: dist[k]) if dist else ""
    worst = dist.get(at, 0.0)
    if not worst <= tol:  # NaN fails too
        raise SelfCheckError(
            f"float32 guard: {what} in {fmt.dtype} is {worst:.1%} from float32 at {at} over the first rows, where "
            f"{tol:.2%} ({tol / torch.finfo(fmt.torch_dtype).eps:.0f} {fmt.dtype} epsilons) is allowed; rerun "
            "with --dtype float32"
        )
    return GuardResult(fmt.dtype, tol, worst, at, n, unit)


def precision_line(precision: dict) -> str:
    """`number format: bfloat16 (why); float32 guard: 4.6% at attn_out L11 on 16 rows, 12.5% allowed`.

    >>> precision_line({"dtype": "float32", "reason": "exact, the default"})
    'number format: float32 (exact, the default)'
    """
    line = f"number format: {precision['dtype']} ({precision['reason']})"
    guard = precision.get("guard")
    if guard:
        line += (
            f"; float32 guard: {guard['worst']:.1%} at {guard['at']} on the first {guard['n']} "
            f"{guard.get('unit', 'rows')}, "
            f"{guard['tolerance']:.1%} allowed"
        )
    for what, fmt in precision.items():  # parts computed in another format than the run's
        if what not in ("dtype", "reason", "guard") and isinstance(fmt, str):
            line += f"; {what} in {fmt}"
    return line


__all__ = ["GuardResult", "check_fast", "float32_slice", "guarded_load", "precision_line"]
