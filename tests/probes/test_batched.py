import torch

from interp.probes.batched import fit_batched
from interp.probes.linear import LinearProbe


def synthetic(p=3, n=300, d=24, t=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(p, n, d, generator=g) * torch.logspace(0, 2, d)  # badly scaled, as activations are
    dirs = torch.randn(d, t, 10, generator=g)
    y = torch.einsum("pnd,dtk->pntk", X / torch.logspace(0, 2, d), dirs) + 3 * torch.randn(p, n, t, 10, generator=g)
    return X, y.argmax(-1)


def test_agrees_with_sklearn_probe_by_probe():
    X, y = synthetic()
    tr, te = slice(0, 200), slice(200, None)
    bp = fit_batched(X[:, tr], y[:, tr], 10, C=0.1, tol=1e-6)
    pred = bp.predict(X[:, te]).numpy()
    for p in range(X.shape[0]):
        for t in range(y.shape[2]):
            ref = LinearProbe(C=0.1).fit(X[p, tr].numpy(), y[p, tr, t].numpy())
            assert (ref.predict(X[p, te].numpy()) != pred[p, :, t]).sum() <= 1, (p, t)
            assert (pred[p, :, t] == y[p, te, t].numpy()).mean() > 0.3  # well above chance: the probes learned


def test_rows_fit_only_those_rows():
    """A feature set restricted to some rows is the probe fitted on those rows alone (standardisation too)."""
    X, y = synthetic(p=2)
    rows = torch.rand(2, 300, generator=torch.Generator().manual_seed(1)) < 0.6
    masked = fit_batched(X, y, 10, rows=rows, tol=1e-6)
    for p in range(2):
        alone = fit_batched(X[p : p + 1, rows[p]], y[p : p + 1, rows[p]], 10, tol=1e-6)
        assert (masked.predict(X)[p] != alone.predict(X[p : p + 1])[0]).sum() <= 1
        ref = LinearProbe(C=0.1).fit(X[p, rows[p]].numpy(), y[p, rows[p], 0].numpy())
        assert (ref.predict(X[p].numpy()) != masked.predict(X)[p, :, 0].numpy()).sum() <= 1


def test_stopping_on_stable_predictions_keeps_the_predictions():
    X, y = synthetic()
    tr, te = slice(0, 200), slice(200, None)
    full = fit_batched(X[:, tr], y[:, tr], 10, tol=1e-6)
    watched = fit_batched(X[:, tr], y[:, tr], 10, tol=1e-6, watch=X[:, te], patience=10, watch_tol=1e-2)
    assert (watched.predict(X[:, te]) != full.predict(X[:, te])).sum(1).max() <= 1
    assert watched.n_iter.sum() < full.n_iter.sum()  # it did stop early
