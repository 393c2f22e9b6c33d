"""Intervals over pairs for patching effects and AtP's agreement: a percentile bootstrap over pairs.

A normalised effect is a ratio of means over the same pairs, (mean LD_patched - mean LD_corrupt) /
(mean LD_clean - mean LD_corrupt), so each resample draws pairs once and recomputes all three means on them.
It reuses the per-pair logit differences the grid computed: no new forward passes. Seeded.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float
from scipy import stats


def effect_interval(
    patched: Float[np.ndarray, "n c"],
    clean: Float[np.ndarray, " n"],
    corrupt: Float[np.ndarray, " n"],
    n_boot: int = 2000,
    seed: int = 0,
) -> Float[np.ndarray, "c 2"]:
    """95% percentile interval of each column's normalised effect, resampling pairs (rows) jointly."""
    n = len(clean)
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1 / n), size=n_boot) / n  # [b, n]: resample weights
    lc, lk = w @ clean, w @ corrupt  # [b]
    denom = lc - lk
    eff = (w @ patched - lk[:, None]) / np.where(denom == 0, np.nan, denom)[:, None]  # [b, c]
    return np.nanpercentile(eff, [2.5, 97.5], axis=0).T


def agreement_interval(
    exact: tuple[Float[np.ndarray, "n c"], Float[np.ndarray, " n"], Float[np.ndarray, " n"]],
    estimate: tuple[Float[np.ndarray, "n c"], Float[np.ndarray, " n"], Float[np.ndarray, " n"]],
    k: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, list[float]]:
    """95% intervals of AtP's agreement with the exact grid (Spearman's rho, top-k overlap), resampling pairs.

    `exact`: (per-pair patched LD [n, cell], clean LD [n], corrupted LD [n]); `estimate`: (per-pair AtP
    contributions [n, cell], clean LD [n], corrupted LD [n]). Each resample recomputes both grids from the
    same pairs, so the interval says how much the agreement depends on which pairs were drawn.

    >>> rng = np.random.default_rng(0); n = 40
    >>> patched = rng.normal(size=(n, 12)) + np.arange(12); lc, lk = np.full(n, 12.0), np.zeros(n)
    >>> ci = agreement_interval((patched, lc, lk), (patched - lk[:, None], lc, lk), k=3)
    >>> ci["spearman_ci"]
    [1.0, 1.0]
    """
    (patched, lc, lk), (contrib, ac, ak) = exact, estimate
    n = len(lc)
    w = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=n_boot) / n  # [b, n]
    e = (w @ patched - (w @ lk)[:, None]) / (w @ lc - w @ lk)[:, None]  # [b, cell]
    a = (w @ contrib) / (w @ ac - w @ ak)[:, None]
    ok = np.isfinite(e).all(0) & np.isfinite(a).all(0)
    e, a = e[:, ok], a[:, ok]
    k = min(k, e.shape[1])
    re, ra = stats.rankdata(e, axis=1), stats.rankdata(a, axis=1)
    re, ra = re - re.mean(1, keepdims=True), ra - ra.mean(1, keepdims=True)
    rho = (re * ra).sum(1) / np.sqrt((re**2).sum(1) * (ra**2).sum(1))
    top_e, top_a = np.argsort(-np.abs(e), 1)[:, :k], np.argsort(-np.abs(a), 1)[:, :k]
    overlap = np.array([len(np.intersect1d(x, y)) / k for x, y in zip(top_e, top_a, strict=True)])
    pct = lambda v: [float(x) for x in np.nanpercentile(v, [2.5, 97.5])]  # noqa: E731
    return {"spearman_ci": pct(rho), "top_k_overlap_ci": pct(overlap)}
