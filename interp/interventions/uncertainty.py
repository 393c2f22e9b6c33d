"""Intervals over pairs for patching effects: a percentile bootstrap that resamples clean/corrupted pairs.

A normalised effect is a ratio of means over the same pairs, (mean LD_patched - mean LD_corrupt) /
(mean LD_clean - mean LD_corrupt), so each resample draws pairs once and recomputes all three means on them.
It reuses the per-pair logit differences the grid computed: no new forward passes. Seeded.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float


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
