"""Patching effects' intervals over pairs: calibrated on the tiny model, seeded, and what the grid outlines."""

import numpy as np
import pytest

from interp.interventions.pairs import pair_tokens
from interp.interventions.patching import PatchConfig, Patcher, Site
from interp.interventions.sublayers import run_patching
from interp.interventions.uncertainty import effect_interval
from interp.tasks.arithmetic import ArithmeticConfig, make_pairs


@pytest.fixture(scope="module")
def pool(tiny_model):
    """Per-pair logit differences of every sublayer patch over 300 pairs: the population the test samples."""
    batch, _ = pair_tokens(tiny_model, make_pairs(ArithmeticConfig(n=300, digits=(2, 2), shots=1), seed=0))
    p, pairs = Patcher(tiny_model, **batch), []
    sites = [Site(k, layer) for k in ("attn_out", "mlp_out") for layer in range(tiny_model.cfg.n_layers)]
    acts = p.activations(p.clean, [s.hook for s in sites])
    p.sweep(p.corrupt, sites, lambda s: acts[s.hook], 512, False, pairs)
    return np.concatenate(pairs).T, p.forward(p.clean).numpy(), p.forward(p.corrupt).numpy()


def test_the_bootstrap_over_pairs_covers_the_population_effect_95_percent_of_the_time(pool):
    """1,000 seeded draws of 100 pairs from the pool; each sublayer's interval covers the pool's effect."""
    per, lc, lk = pool
    truth = (per.mean(0) - lk.mean()) / (lc.mean() - lk.mean())
    rng, covered = np.random.default_rng(0), []
    for r in range(1000):
        idx = rng.integers(0, len(lc), 100)
        ci = effect_interval(per[idx], lc[idx], lk[idx], n_boot=500, seed=r)
        covered.append((ci[:, 0] <= truth) & (truth <= ci[:, 1]))
    coverage = np.mean(covered, 0)
    assert ((0.93 <= coverage) & (coverage <= 0.97)).all(), coverage


def test_the_grid_carries_seeded_intervals_that_bracket_each_effect(tiny_model):
    batch, _ = pair_tokens(tiny_model, make_pairs(ArithmeticConfig(n=40, digits=(2, 2), shots=1), seed=0))
    cfg = PatchConfig(per_position=False, ablations=False, n_boot=300)
    a, b = (run_patching(tiny_model, **batch, cfg=cfg, progress=False) for _ in range(2))
    assert a.effect_ci.shape == (*a.effect.shape, 2) and np.array_equal(a.effect_ci, b.effect_ci)
    assert ((a.effect_ci[..., 0] <= a.effect + 1e-9) & (a.effect <= a.effect_ci[..., 1] + 1e-9)).all()
    assert "effect_ci" in a.arrays()


def test_the_grid_outlines_only_cells_whose_interval_clears_the_threshold():
    from interp.reports.grids import sublayer_grid

    effect = np.array([[0.5, 0.05], [0.3, 0.2]])  # attn_out, mlp_out over two layers
    ci = np.array([[[0.4, 0.6], [-0.1, 0.2]], [[0.05, 0.6], [0.15, 0.25]]])
    outlined = len(sublayer_grid(effect, ["attn_out", "mlp_out"], 0.1, ci=ci).layout.shapes)
    assert outlined == 2 and len(sublayer_grid(effect, ["attn_out", "mlp_out"], 0.1).layout.shapes) == 3


def test_head_effects_carry_intervals_too(tiny_model):
    from interp.interventions.heads import HeadPatchConfig, run_head_patching

    batch, _ = pair_tokens(tiny_model, make_pairs(ArithmeticConfig(n=30, digits=(2, 2), shots=1), seed=0))
    res = run_head_patching(tiny_model, **batch, cfg=HeadPatchConfig(n_boot=300, top_k=2), progress=False)
    assert res.effect_ci.shape == (*res.effect.shape, 2) and "head_effect_ci" in res.arrays()
    lo, hi = res.top[0]["ci"]
    assert lo <= res.top[0]["effect"] + 1e-9 <= hi + 2e-9
