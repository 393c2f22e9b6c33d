"""Uncertainty for probe cells, from the pooled held-out predictions of every fold.

Each problem is held out in exactly one fold, so pooling the folds gives one prediction per problem and
cell. From those:
- accuracy: a Wilson 95% interval on the pooled hits (no t over 3 folds);
- above majority and selectivity: paired per problem (the probe and the majority guess, or the digit and
  its control task, on the same problems), with a percentile bootstrap over problems;
- "above majority" as a test: exact one-sided McNemar on the problems where the probe and the majority
  guess disagree, with Benjamini-Hochberg over every cell of the grid (q <= 0.05 is "above baseline").
Resampling is seeded, so the same seed gives the same intervals; it reuses the predictions, with no new fit.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int, Shaped
from scipy import stats

Z95 = 1.959963984540054


def wilson(k: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes in n trials, elementwise."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    p = k / np.maximum(n, 1)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def bootstrap_means(d: Shaped[np.ndarray, "m c"], n_boot: int, rng: np.random.Generator) -> Float[np.ndarray, "b c"]:
    """Means of `d` over problems (rows) for `n_boot` resamples of the problems, every column on the same ones."""
    m = len(d)
    counts = rng.multinomial(m, np.full(m, 1 / m), size=n_boot).astype(np.float32)  # [b, m]
    return counts @ d.astype(np.float32) / m


def mcnemar_greater(a: Int[np.ndarray, "m c"], b: Int[np.ndarray, "m c"]) -> Float[np.ndarray, " c"]:
    """One-sided exact McNemar p-value that classifier `a` is right more often than `b` on the same problems."""
    wins, losses = ((a == 1) & (b == 0)).sum(0), ((a == 0) & (b == 1)).sum(0)
    return stats.binom.sf(wins - 1, wins + losses, 0.5)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """q-values (step-up, monotone) for the p-values, any shape; NaN stays NaN."""
    flat = np.asarray(p, float).ravel()
    ok = np.flatnonzero(np.isfinite(flat))
    q = np.full_like(flat, np.nan)
    order = ok[np.argsort(flat[ok])]
    ranked = flat[order] * len(ok) / np.arange(1, len(ok) + 1)
    q[order] = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    return q.reshape(np.shape(p))


def cell_intervals(
    hits: Int[np.ndarray, "scale n p 2"], majority_hits: Int[np.ndarray, "scale n 2"], seed: int = 0, n_boot: int = 2000
) -> dict[str, np.ndarray]:
    """Every cell's intervals and test, arrays [p, scale, ...] over feature sets p (site x layer).

    `hits[j, i, c, t]`: whether the probe of feature set c got problem i's target t right (t = 0 the digit,
    1 its control), -1 where the problem does not write digit j; `majority_hits` the same for the majority
    guess of each fold.
    """
    T, _, P, _ = hits.shape
    rng = np.random.default_rng(seed)
    out = {k: np.full((P, T, 2), np.nan) for k in ("accuracy_ci", "control_ci", "above_majority_ci", "selectivity_ci")}
    p_above = np.full((P, T), np.nan)
    for j in range(T):
        rows = hits[j, :, 0, 0] >= 0
        h, mj = hits[j, rows].astype(np.int8), majority_hits[j, rows].astype(np.int8)  # [m, P, 2], [m, 2]
        if not len(h):
            continue
        for key, t in (("accuracy_ci", 0), ("control_ci", 1)):
            out[key][:, j] = np.stack(wilson(h[:, :, t].sum(0), np.full(P, len(h))), -1)
        above = h[:, :, 0] - mj[:, None, 0]
        selectivity = above - (h[:, :, 1] - mj[:, None, 1])
        for key, d in (("above_majority_ci", above), ("selectivity_ci", selectivity)):
            out[key][:, j] = np.percentile(bootstrap_means(d, n_boot, rng), [2.5, 97.5], axis=0).T
        p_above[:, j] = mcnemar_greater(h[:, :, 0], np.broadcast_to(mj[:, None, 0], h[:, :, 0].shape))
    out["above_majority_p"] = p_above
    out["above_majority_q"] = benjamini_hochberg(p_above)
    return out
