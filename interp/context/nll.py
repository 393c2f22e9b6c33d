"""Per-token NLL on long documents, through the plain Hugging Face model.

No hooks are needed, so this runs the plain model with SDPA attention (the
bridge computes attention eagerly: ~3x slower at 8K tokens). The sequence goes
through in query chunks with a KV cache, and log-softmax is taken chunk by
chunk from the final hidden states: full-precision logits for 32K positions
of Gemma 3's 262K vocabulary would be 34 GB.
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Float, Int
from scipy import stats
from scipy.optimize import curve_fit
from torch import Tensor
from transformers import DynamicCache

from interp.core.selfcheck import agree
from interp.models.kv import cache_keyword
from interp.models.precision import check_tolerance

# A fit beyond these is not a power law and no fit is reported: |b| above MAX_EXPONENT is a step at the first
# bins; a t^b (over the fitted positions) or c above MAX_SCALE times the largest loss means the two cancel
# (b near 0 makes a t^b + c a log-linear trend), so neither is a meaningful parameter.
MAX_EXPONENT, MAX_SCALE = 5.0, 10.0
# Predicted-token positions (1-based) by which NLL is summarised.
BUCKETS = ((1, 8), (9, 64), (65, 512), (513, 2048), (2049, 8192), (8193, 32768))


@torch.no_grad()
def token_nll(hf, ids: Int[Tensor, "batch pos"], chunk: int = 1024) -> Float[Tensor, "batch pos_minus_1"]:
    """NLL (nats) of tokens 1..T-1 given their prefixes, on the CPU; never holds more than `chunk` positions of
    logits. Runs on the model's device."""
    ids = ids.to(hf.get_input_embeddings().weight.device)
    head, cap = hf.get_output_embeddings(), getattr(hf.config, "final_logit_softcapping", None)
    body = hf.get_decoder() if hasattr(hf, "get_decoder") else hf.model
    cache, keyword = DynamicCache(config=hf.config), cache_keyword(body)
    out = []
    T = ids.shape[1]
    for s in range(0, T - 1, chunk):
        e = min(s + chunk, T - 1)
        h = body(input_ids=ids[:, s:e], use_cache=True, **{keyword: cache}).last_hidden_state
        logits = head(h).float()
        if cap:
            logits = torch.tanh(logits / cap) * cap
        lp = logits.log_softmax(-1)
        out.append(-lp.gather(-1, ids[:, s + 1 : e + 1, None])[..., 0])
        del logits, lp
    return torch.cat(out, 1).cpu()


def check_chunked(hf, ids: Int[Tensor, "1 pos"], tokens: int = 256, chunk: int = 64) -> float:
    """Chunked NLL through the KV cache against one uncached forward, on the first `tokens` tokens."""
    ids = ids[:, :tokens]
    chunk = min(chunk, max(1, (ids.shape[1] - 1) // 2))  # at least two chunks, so the cache is used
    atol, rtol = check_tolerance(hf, 1e-3)
    return agree(
        "chunked NLL continuing from the KV cache",
        token_nll(hf, ids, chunk),
        token_nll(hf, ids, ids.shape[1]),
        atol,
        rtol,
    )


def cumulative(nll: Float[np.ndarray, "doc pos"]) -> Float[np.ndarray, "doc pos"]:
    """cum[t] = mean NLL over positions <= t, per document."""
    return np.cumsum(nll, 1) / np.arange(1, nll.shape[1] + 1)


def bucket_means(nll: Float[np.ndarray, "doc pos"]) -> dict[str, float]:
    """Mean NLL by position bucket (1-based predicted-token positions); buckets past the end are left out."""
    return {f"{lo}-{hi}": float(nll[:, lo - 1 : hi].mean()) for lo, hi in BUCKETS if lo <= nll.shape[1]}


def t_interval(values: Float[np.ndarray, " window"]) -> list[float]:
    """95% t-interval of the mean over windows (the independent units; tokens within one are not); NaN bounds
    with a single window."""
    k = len(values)
    half = stats.t.ppf(0.975, k - 1) * values.std(ddof=1) / np.sqrt(k) if k > 1 else np.nan
    return [float(values.mean() - half), float(values.mean() + half)]


def bucket_intervals(nll: Float[np.ndarray, "doc pos"]) -> dict[str, list[float]]:
    """Each bucket's 95% t-interval over windows."""
    return {f"{lo}-{hi}": t_interval(nll[:, lo - 1 : hi].mean(1)) for lo, hi in BUCKETS if lo <= nll.shape[1]}


def bucket_steps(nll: Float[np.ndarray, "doc pos"]) -> dict[str, dict]:
    """Each bucket minus the one before it, paired within windows, with its 95% t-interval over windows: the
    spread between windows cancels, so a fall the side-by-side intervals hide can show."""
    per = {f"{lo}-{hi}": nll[:, lo - 1 : hi].mean(1) for lo, hi in BUCKETS if lo <= nll.shape[1]}
    keys = list(per)
    return {
        f"{b} minus {a}": {"diff": float((per[b] - per[a]).mean()), "ci": t_interval(per[b] - per[a])}
        for a, b in zip(keys, keys[1:], strict=False)
    }


def power_law_fit(nll: Float[np.ndarray, "doc pos"], start: int = 8, bins: int = 40) -> dict | None:
    """L(t) = a t^b + c fitted to the per-position loss (mean over documents), binned evenly on a log axis from
    position `start`; None if it fails or is not a power law (see MAX_EXPONENT, MAX_SCALE).

    The fit is on L(t) itself, not its running mean: the cumulative mean of a t^b + c is a t^b / (1 + b) + c
    (to first order), so a fit to it would scale `a` by 1 / (1 + b) and smooth the noise into a high R².
    """
    per_pos = np.asarray(nll, dtype=float).mean(0)
    T = len(per_pos)
    if T < start + 2:
        return None
    edges = np.unique(np.geomspace(start, T + 1, bins + 1).astype(int))
    t = np.array([np.exp(np.log(np.arange(lo, hi)).mean()) for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
    y = np.array([per_pos[lo - 1 : hi - 1].mean() for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
    if len(t) < 4:
        return None
    # the optimiser tries exponents that overflow on the way; a fit that ends there is refused just below
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            (a, b, c), _ = curve_fit(
                lambda x, a, b, c: a * x**b + c, t, y, p0=(y[0] - y[-1], -0.5, y[-1]), maxfev=20000
            )
        except (RuntimeError, ValueError):
            return None
        term = (
            float(np.abs(a * t**b).max()) if np.isfinite([a, b]).all() else np.inf
        )  # the power-law term, fitted range
    scale = MAX_SCALE * float(np.abs(y).max())
    if not (np.isfinite([a, b, c]).all() and abs(b) <= MAX_EXPONENT and max(term, abs(c)) <= scale):
        # t^-65 is a step at the first bins; 2458 t^-0.0002 - 2452 is a log-linear trend whose a and c cancel
        return None
    pred = a * t**b + c
    r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    return {
        "alpha": float(a),
        "beta": float(b),
        "gamma": float(c),
        "r2": float(r2),
        "from_position": start,
        "of": "per-position loss, mean over windows, log-binned",
    }
