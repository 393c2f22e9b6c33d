import numpy as np
import pytest
import torch

from interp.probes.sweep import NotConverged, SweepConfig, difference_controls, sweep


def test_difference_controls_are_the_digits_of_the_difference():
    a, b = np.array([512, 7, 30]), np.array([9, 80, 30])
    c = difference_controls(a, b, written=np.array([3, 2, 1]), scales=3)
    assert c.tolist() == [[3, 0, 5], [3, 7, -1], [0, -1, -1]]


@pytest.mark.parametrize("method", ["torch", "sklearn"])
def test_sweep_finds_the_encoded_layer_and_scale(method):
    """Layer 1 encodes scale 1's label at its own position; layer 0 and scale 2's position are noise."""
    rng = np.random.default_rng(0)
    n, d = 240, 16
    labels = rng.integers(0, 4, (n, 2))
    labels[::3, 1] = -1  # a third of the problems do not write scale 2
    controls = rng.integers(0, 4, (n, 2))
    acts = rng.normal(size=(n, 2, 2, d)).astype(np.float32)  # [n, layer, scale, d]
    acts[:, 1, 0, :4] += 4 * np.eye(4)[labels[:, 0]]
    res = sweep(
        {"resid_post": torch.tensor(acts)},
        labels,
        np.where(labels >= 0, controls, -1),
        [0, 1],
        SweepConfig(folds=3, method=method),
        progress=False,
    )
    acc = res.mean()[0]  # [layer, scale]
    assert acc[1, 0] > 0.9 and acc[0, 0] < 0.45 and acc[1, 1] < 0.45
    assert res.accuracy.shape == (1, 2, 2, 3) and res.n.tolist() == [240, 160]
    assert res.selectivity()[0, 1, 0] > 0.4 and abs(res.selectivity()[0, 0, 0]) < 0.2


def test_a_fit_that_does_not_converge_is_refused():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (90, 1))
    acts = torch.tensor(rng.normal(size=(90, 1, 1, 8)).astype(np.float32))
    with pytest.raises(NotConverged, match="did not converge within 2 iterations"):
        sweep({"resid_post": acts}, labels, labels, [0], SweepConfig(max_iter=2), progress=False)


@pytest.mark.slow  # one sklearn fit per cell: over a minute on 2 cores; CI runs it
def test_every_cell_agrees_with_sklearn_on_model_activations(tiny_model):
    """The fast path's contract: within one held-out problem of scikit-learn on every (site, layer, scale) cell."""
    from interp import capture
    from interp.runs.probe import probe_inputs
    from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic
    from interp.tasks.reading import probe_texts, read_positions

    problems = make_arithmetic(ArithmeticConfig(n=150), 3)
    pos = read_positions(tiny_model.tokenizer, problems, False)
    acts = capture(tiny_model, probe_texts(problems), sites=["mlp_out", "resid_post"], positions=pos, progress=False)
    labels, controls, strata = probe_inputs(problems)
    runs = {
        m: sweep(dict(acts), labels, controls, [0, 1], SweepConfig(method=m), strata=strata, progress=False)
        for m in ("torch", "sklearn")
    }
    for which in ("accuracy", "control"):
        diff = np.abs(getattr(runs["torch"], which) - getattr(runs["sklearn"], which))  # per fold
        assert diff.max() <= 1 / 50 + 1e-9, (which, diff.max())  # 50 held-out problems per fold
