"""Fast paths check themselves: each compares a small first slice with its plain computation.

A cached or early-stopped forward can go silently wrong when a dependency
changes under it (transformers 5.24 made the bridge drop its KV cache). So
before a fast path trusts the rest of a run, it recomputes a slice the plain
way and calls `agree`, which raises `InterpError` naming both numbers.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interp.core.errors import InterpError
from interp.core.versions import describe


class SelfCheckError(InterpError):
    """A fast path disagreed with its plain computation: nothing computed by it can be trusted."""


def agree(what: str, fast: Tensor, plain: Tensor, atol: float, rtol: float = 0.0) -> float:
    """Raise `SelfCheckError` unless |fast - plain| <= atol + rtol * |plain| everywhere.

    Returns the largest absolute difference (for benchmarks and logs).
    """
    fast, plain = (
        (v if isinstance(v, Tensor) else torch.as_tensor(v, device="cpu")).detach().double().cpu()
        for v in (fast, plain)
    )
    if fast.shape != plain.shape:
        raise SelfCheckError(f"{what}: fast path gave shape {tuple(fast.shape)}, plain {tuple(plain.shape)}")
    diff = (fast - plain).abs().nan_to_num(float("inf"))
    excess = diff - (atol + rtol * plain.abs())
    if fast.numel() and bool((excess > 0).any()):
        i = int(excess.flatten().argmax())
        raise SelfCheckError(
            f"{what}: the fast path gives {fast.flatten()[i].item():.6g} where the plain computation gives "
            f"{plain.flatten()[i].item():.6g} (|diff| {diff.flatten()[i].item():.3g} over tolerance "
            f"{atol + rtol * abs(plain.flatten()[i].item()):.3g}); refusing to go on ({describe()})"
        )
    return float(diff.max()) if fast.numel() else 0.0


def relative_distance(fast: Tensor, plain: Tensor) -> float:
    """||fast - plain|| / ||plain|| (0 when both are zero): how a fast number format is judged, since its
    rounding moves each element by a few of its epsilons, relative to the activation's scale."""
    fast, plain = fast.detach().double().cpu(), plain.detach().double().cpu()
    scale, gap = float(plain.norm()), float((fast - plain).norm())
    return gap / scale if scale > 0 else (0.0 if gap == 0 else float("inf"))


def agree_relative(what: str, fast: Tensor, plain: Tensor, tol: float) -> float:
    """Raise `SelfCheckError` unless `relative_distance(fast, plain)` <= tol; returns the distance."""
    if fast.shape != plain.shape:
        raise SelfCheckError(f"{what}: fast path gave shape {tuple(fast.shape)}, plain {tuple(plain.shape)}")
    dist = relative_distance(fast, plain)
    if not dist <= tol:
        raise SelfCheckError(
            f"{what}: the fast path is {dist:.3g} from the plain computation (relative), over tolerance {tol:.3g}; "
            f"refusing to go on ({describe()})"
        )
    return dist
