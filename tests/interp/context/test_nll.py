import numpy as np
import pytest
import torch

from interp.context.nll import bucket_means, cumulative, token_nll


def test_chunked_nll_matches_full_logits(tiny_hf):
    ids = torch.randint(4, 40, (2, 50), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = -tiny_hf(ids).logits.float().log_softmax(-1)[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    for chunk in (7, 64):
        np.testing.assert_allclose(token_nll(tiny_hf, ids, chunk).numpy(), full.numpy(), atol=1e-4)


def test_cumulative_and_buckets():
    nll = np.array([[1.0, 3.0, 2.0] + [0.0] * 9])
    assert np.allclose(cumulative(nll)[0, :3], [1.0, 2.0, 2.0])
    b = bucket_means(nll)
    assert b == {"1-8": 0.75, "9-64": 0.0}


def test_power_law_fit_recovers_a_known_per_position_curve():
    """L(t) = a t^b + c with noise, per position: the fit returns a, b, c (a fit to the running mean would give
    a / (1 + b) for a)."""
    from interp.context.nll import power_law_fit

    rng = np.random.default_rng(0)
    a, b, c = 6.0, -0.5, 2.5
    t = np.arange(1, 4097)
    nll = a * t**b + c + rng.normal(0, 0.3, size=(8, len(t)))
    fit = power_law_fit(nll)
    assert fit["alpha"] == pytest.approx(a, rel=0.1) and fit["beta"] == pytest.approx(b, abs=0.05)
    assert fit["gamma"] == pytest.approx(c, abs=0.05) and "per-position" in fit["of"]


def test_bucket_intervals_are_over_windows():
    """Windows are the units: two windows at 2 and 4 nats give mean 3 and a t-interval of 12.7 half-width."""
    from interp.context.nll import bucket_intervals

    nll = np.stack([np.full(100, 2.0), np.full(100, 4.0)])
    lo, hi = bucket_intervals(nll)["65-512"]
    assert lo == pytest.approx(3 - 12.706 * 1 / np.sqrt(2) * np.sqrt(2), abs=1e-2) and hi > 15
    assert all(np.isnan(v) for v in bucket_intervals(nll[:1])["1-8"])


def test_bucket_steps_are_paired_within_windows():
    from interp.context.nll import bucket_intervals, bucket_steps

    rng = np.random.default_rng(0)
    level = rng.normal(3, 1.0, (8, 1))  # windows far apart
    nll = level + rng.normal(0, 0.1, (8, 600))
    nll[:, 64:] -= 0.2  # a fall of 0.2 from bucket 9-64 to 65-512 in every window
    steps = bucket_steps(nll)
    assert list(steps) == ["9-64 minus 1-8", "65-512 minus 9-64", "513-2048 minus 65-512"]
    fall = steps["65-512 minus 9-64"]
    assert abs(fall["diff"] + 0.2) < 0.03 and fall["ci"][1] < 0  # decided when paired
    ci = bucket_intervals(nll)
    assert ci["65-512"][1] > ci["9-64"][0]  # side by side, the intervals overlap
    assert steps["9-64 minus 1-8"]["ci"][0] < 0 < steps["9-64 minus 1-8"]["ci"][1]


def test_a_flat_curve_gets_no_power_law_rather_than_an_absurd_one():
    """Four noisy windows whose loss is flat from position 8 gave 3.5e59 t^-65 before; now no fit."""
    from interp.context.nll import MAX_EXPONENT, power_law_fit

    rng = np.random.default_rng(3)
    nll = np.full((4, 8191), 3.5) + rng.normal(0, 1.0, (4, 8191))
    nll[:, :8] += 4.0
    fit = power_law_fit(nll)
    assert fit is None or abs(fit["beta"]) <= MAX_EXPONENT


def test_a_log_linear_trend_gets_no_power_law_rather_than_cancelling_terms():
    """A slow rise gave -2242 t^-0.0000 + 2244 before: a and c cancel and mean nothing; now no fit."""
    from interp.context.nll import MAX_SCALE, power_law_fit

    rng = np.random.default_rng(5)
    nll = np.full((3, 255), 3.0) + rng.normal(0, 1.5, (3, 255))
    nll[:, 8:] += np.linspace(0, 0.4, 247)
    fit = power_law_fit(nll)
    assert fit is None or abs(fit["gamma"]) <= MAX_SCALE * 10
