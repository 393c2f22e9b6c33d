import pytest
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


def test_a_looser_tolerance_stops_earlier_and_keeps_the_predictions():
    X, y = synthetic()
    tr, te = slice(0, 200), slice(200, None)
    full = fit_batched(X[:, tr], y[:, tr], 10, tol=1e-6)
    loose = fit_batched(X[:, tr], y[:, tr], 10, tol=5e-4)
    assert full.converged.all() and loose.converged.all()
    assert (loose.predict(X[:, te]) != full.predict(X[:, te])).sum(1).max() <= 1
    assert loose.n_iter.sum() < full.n_iter.sum()


def grad_norm(Z, labels, W, b, C):
    """|gradient| of mean cross-entropy + ||W||^2 / (2 C n), by autograd."""
    W, b = W.clone().requires_grad_(), b.clone().requires_grad_()
    loss = torch.nn.functional.cross_entropy(Z @ W + b, labels) + (W**2).sum() / (2 * C * len(Z))
    return float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in torch.autograd.grad(loss, (W, b))])))


@pytest.mark.parametrize("newton", [1, 2])
def test_reaches_the_optimum_of_the_stated_objective(newton):
    """At the solution the objective's own gradient (autograd, float64, in feature space) is ~0: the row-span
    parametrisation, the preconditioner and the logits' image identity lose nothing."""
    X, y = synthetic(p=2, n=120, d=200)  # wider than long, as the sweep's activations
    bp = fit_batched(X, y, 10, C=0.1, tol=1e-6, newton=newton)
    assert bp.converged.all()
    for p in range(2):
        Z = ((X[p] - bp.mean[p]) / bp.scale[p]).double()
        for t in range(y.shape[2]):
            present = bp.present[p, t]
            labels = torch.searchsorted(torch.nonzero(present)[:, 0], y[p, :, t].contiguous())
            W, b = bp.W[p, :, t][:, present].double(), bp.b[p, t][present].double()
            at_zero = grad_norm(Z, labels, torch.zeros_like(W), torch.zeros_like(b), 0.1)
            assert grad_norm(Z, labels, W, b, 0.1) < 1e-3 * at_zero, (p, t)
