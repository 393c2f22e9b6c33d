"""Two models compared on the same text windows, paired window by window.

Windows are placed in the text (`interp.tasks.long_context.shared_windows`), so window i is the same passage
for both models, and the difference is taken within each window before averaging: the large spread between
windows (the Bible against the Jargon File) cancels. Two readings:

- per token, by position bucket: what each model's own position t costs. Tokenizers differ, so position t
  covers a different amount of text in each and a lower NLL per token is not a better model of the text;
- per character, over the text both windows cover: the same characters for both, so this one compares the
  models as models of the text.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from interp.context.nll import BUCKETS, t_interval


def verdict(ci: list[float], a: str, b: str) -> str:
    """Which model is lower, or that the interval cannot decide."""
    if ci[1] < 0:
        return f"{a} lower"
    if ci[0] > 0:
        return f"{b} lower"
    return "cannot tell"


def nats_per_char(
    nll: Float[np.ndarray, "window pos"], spans: Int[np.ndarray, "window pos 2"], lo: np.ndarray, hi: np.ndarray
) -> Float[np.ndarray, " window"]:
    """Summed NLL of the predicted tokens lying inside characters [lo, hi) of each window, per character."""
    inside = (spans[..., 0] >= lo[:, None]) & (spans[..., 1] <= hi[:, None])
    return (nll * inside).sum(1) / (hi - lo)


def paired(
    a: Float[np.ndarray, "window pos"],
    b: Float[np.ndarray, "window pos"],
    spans_a: Int[np.ndarray, "window pos 2"] | None,
    spans_b: Int[np.ndarray, "window pos 2"] | None,
    names: tuple[str, str],
) -> dict:
    """a minus b, per bucket (per token) and per character of the shared text, each with its 95% t-interval
    over windows and a verdict. Per character needs both models' token spans (None: left out)."""
    out: dict = {"models": list(names), "windows": len(a), "buckets": {}}
    n = min(a.shape[1], b.shape[1])
    for lo, hi in BUCKETS:
        if lo > n:
            continue
        d = a[:, lo - 1 : min(hi, n)].mean(1) - b[:, lo - 1 : min(hi, n)].mean(1)
        ci = t_interval(d)
        out["buckets"][f"{lo}-{hi}"] = {"diff": float(d.mean()), "ci": ci, "verdict": verdict(ci, *names)}
    if spans_a is not None and spans_b is not None:
        lo = np.maximum(spans_a[:, 0, 0], spans_b[:, 0, 0])
        hi = np.minimum(spans_a[:, -1, 1], spans_b[:, -1, 1])
        d = nats_per_char(a, spans_a, lo, hi) - nats_per_char(b, spans_b, lo, hi)
        ci = t_interval(d)
        out["per_char"] = {
            "diff": float(d.mean()),
            "ci": ci,
            "verdict": verdict(ci, *names),
            "chars": float((hi - lo).mean()),
        }
    return out
