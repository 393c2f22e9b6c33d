"""The probe cells' intervals and tests hold their stated rates on synthetic data with a known truth."""

import numpy as np

from interp.probes.intervals import benjamini_hochberg, bootstrap_means, cell_intervals, mcnemar_greater, wilson


def test_wilson_covers_a_known_accuracy_95_percent_of_the_time():
    """1,000 seeded repetitions of 150 problems at accuracy 0.7 (the size of a probe cell)."""
    rng = np.random.default_rng(0)
    k = rng.binomial(150, 0.7, size=1000)
    lo, hi = wilson(k, np.full(1000, 150))
    coverage = np.mean((lo <= 0.7) & (0.7 <= hi))
    assert 0.93 <= coverage <= 0.97, coverage


def test_the_paired_bootstrap_covers_a_known_difference_95_percent_of_the_time():
    """Probe right with p 0.6, majority right with p 0.3, on the same 300 problems: the difference is 0.3."""
    rng = np.random.default_rng(1)
    covered = []
    for _ in range(1000):
        d = (rng.random(300) < 0.6).astype(np.int8) - (rng.random(300) < 0.3).astype(np.int8)
        lo, hi = np.percentile(bootstrap_means(d[:, None], 500, rng), [2.5, 97.5])
        covered.append(lo <= 0.3 <= hi)
    assert 0.93 <= np.mean(covered) <= 0.97, np.mean(covered)


def test_under_the_null_few_cells_clear_the_corrected_test():
    """A probe no better than the majority guess on every cell: BH at 0.05 keeps false discoveries rare."""
    rng = np.random.default_rng(2)
    n, cells = 200, 400
    a = (rng.random((n, cells)) < 0.3).astype(np.int8)
    b = (rng.random((n, cells)) < 0.3).astype(np.int8)
    p = mcnemar_greater(a, b)
    assert np.mean(p <= 0.05) <= 0.07  # the raw test holds its level
    assert np.mean(benjamini_hochberg(p) <= 0.05) <= 0.01


def test_benjamini_hochberg_matches_the_step_up_rule():
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    q = benjamini_hochberg(p)
    # sorted 0.01, 0.03, 0.04, 0.5 -> p * 4 / rank = 0.04, 0.06, 0.0533, 0.5 -> running minimum from the top
    np.testing.assert_allclose(q[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert np.isnan(q[4])


def test_cell_intervals_from_pooled_predictions():
    """A probe that is always right beats a majority guess that is right a third of the time; one that copies
    the majority guess does not. Problems that do not write the digit (-1) are left out."""
    rng = np.random.default_rng(3)
    n = 120
    majority = (rng.random(n) < 1 / 3).astype(np.int8)
    hits = np.zeros((1, n, 2, 2), np.int8)
    hits[0, :, 0, 0] = 1  # feature set 0: always right
    hits[0, :, 1, 0] = majority  # feature set 1: the majority guess itself
    hits[0, :, :, 1] = majority[:, None]  # controls read like the majority
    hits[0, :10] = -1
    maj = np.stack([majority, majority], -1)[None]
    maj[0, :10] = -1
    out = cell_intervals(hits, maj, seed=0, n_boot=500)
    assert out["accuracy_ci"][0, 0, 0] > 0.96 and abs(out["accuracy_ci"][0, 0, 1] - 1.0) < 1e-12
    assert out["above_majority_q"][0, 0] < 1e-6 and out["above_majority_q"][1, 0] > 0.5
    lo, hi = out["selectivity_ci"][1, 0]
    assert lo <= 0 <= hi
    again = cell_intervals(hits, maj, seed=0, n_boot=500)
    assert all(np.array_equal(out[k], again[k], equal_nan=True) for k in out)  # the same seed, the same intervals
