import numpy as np
import pytest
import torch

from interp.probes.batched import fit_batched
from interp.probes.linear import LinearProbe
from interp.probes.sweep import SweepConfig, control_labels, sweep


def test_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(LinearProbe())


def synthetic(p=3, n=300, d=24, t=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(p, n, d, generator=g)
    dirs = torch.randn(d, t, 10, generator=g)
    y = (torch.einsum("pnd,dtk->pntk", X, dirs) + 3 * torch.randn(p, n, t, 10, generator=g)).argmax(-1)
    return X, y


def test_batched_agrees_with_sklearn():
    X, y = synthetic()
    tr, te = slice(0, 200), slice(200, None)
    bp = fit_batched(X[:, tr], y[:, tr], 10, C=0.1)
    pred = bp.predict(X[:, te]).numpy()
    for p in range(X.shape[0]):
        for t in range(y.shape[2]):
            ref = LinearProbe(C=0.1).fit(X[p, tr].numpy(), y[p, tr, t].numpy())
            acc_sk = ref.score(X[p, te].numpy(), y[p, te, t].numpy())
            acc_t = (pred[p, :, t] == y[p, te, t].numpy()).mean()
            assert abs(acc_sk - acc_t) <= 0.01, (p, t, acc_sk, acc_t)
            assert acc_t > 0.3  # well above chance (0.1): the probes learned something


def test_probe_save_load_and_direction(tmp_path):
    X, y = synthetic(p=1)
    probe = LinearProbe().fit(X[0].numpy(), y[0, :, 0].numpy())
    probe.save(tmp_path / "p", layer=3, site="resid_post")
    back = LinearProbe.load(tmp_path / "p")
    np.testing.assert_array_equal(back.predict(X[0].numpy()), probe.predict(X[0].numpy()))
    np.testing.assert_allclose(np.linalg.norm(back.direction_, axis=1), 1.0, rtol=1e-5)


def test_control_is_a_function_of_the_input():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    y = (a + b) % 10
    c = control_labels(y, a, b, seed=1)
    for i in range(50):  # same input digits -> same control label
        same = (a == a[i]) & (b == b[i])
        assert (c[same] == c[i]).all()
    assert (c == control_labels(y, a, b, seed=1)).all()


@pytest.mark.parametrize("method", ["torch", "sklearn"])
def test_sweep_finds_the_encoded_layer(method):
    """Layer 1 encodes the label linearly, layer 0 is noise: the sweep must say so."""
    rng = np.random.default_rng(0)
    n, d = 240, 16
    y = rng.integers(0, 4, n)
    a_d, b_d = rng.integers(0, 10, n), rng.integers(0, 10, n)
    noise = rng.normal(size=(n, 2, d)).astype(np.float32)
    noise[:, 1, :4] += 4 * np.eye(4)[y]
    acts = {"resid_post": torch.tensor(noise)}
    res = sweep(
        acts,
        {"digit_1": y},
        {"digit_1": control_labels(y, a_d, b_d, 0)},
        [0, 1],
        SweepConfig(folds=3, method=method),
        progress=False,
    )
    acc = res.mean()[0, :, 0]
    assert acc[1] > 0.9 and acc[0] < 0.45
    assert res.accuracy.shape == (1, 2, 1, 3) and 0.2 < res.majority[0] < 0.4
    assert res.selectivity()[0, 1, 0] > 0.4


@pytest.mark.slow  # one sklearn fit per cell: over a minute on 2 cores; CI runs it
def test_every_cell_agrees_with_sklearn_on_model_activations(tiny_model):
    """The fast path's contract: within 1 point of scikit-learn on every (site, layer, scale) cell."""
    from interp import capture
    from interp.runs.probe import ProbeRunConfig, probe_inputs
    from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic, token_positions

    cfg = ProbeRunConfig(task=ArithmeticConfig(n=150))
    problems = make_arithmetic(cfg.task, 3)
    pos = token_positions(tiny_model.tokenizer, problems, False)["equals"]
    acts = capture(
        tiny_model,
        problems.prompts,
        sites=list(cfg.sites),
        layers="all",
        positions=pos,
        progress=False,
    )
    labels, controls, strata = probe_inputs(problems, cfg)
    runs = {
        m: sweep(
            dict(acts),
            labels,
            controls,
            [0, 1],
            SweepConfig(method=m),
            strata=strata,
            progress=False,
        )
        for m in ("torch", "sklearn")
    }
    for which in ("accuracy", "control"):
        diff = np.abs(runs["torch"].mean(which) - runs["sklearn"].mean(which))
        assert diff.max() <= 0.01, (which, diff.max())
