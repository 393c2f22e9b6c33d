"""Every probe of a sweep as one batched torch problem, solved by batched L-BFGS.

Same objective as `LinearProbe` (scikit-learn's, divided by C*n): per probe,
`mean(log loss) + ||W||^2 / (2 C n)` on standardised features, intercept not
penalised, softmax over the classes present in the training labels.

Activations are badly conditioned (a few directions carry most of the
variance), which costs plain L-BFGS hundreds of iterations. So the problem is
solved in the SVD basis of the training features, each direction rescaled by
its curvature estimate `s^2/(4n) + 1/(Cn)`. The L2 optimum lies in the span
of the training rows, so this is the same optimum, with rank <= n unknowns
per class instead of d, reached in tens of iterations.

The probes are independent, so each keeps its own L-BFGS history, step size
and stopping test; only the matmuls are shared. (One L-BFGS over the summed
objective would let the worst-conditioned probe set everyone's step size.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor


@dataclass
class BatchedProbes:
    mean: Float[Tensor, "p 1 d"]
    scale: Float[Tensor, "p 1 d"]
    W: Float[Tensor, "p d t k"]
    b: Float[Tensor, "p t k"]
    present: Bool[Tensor, "p t k"]  # classes seen in training; others are never predicted
    n_iter: int
    converged: Bool[Tensor, "p t"]

    def logits(self, X: Float[Tensor, "p n d"]) -> Float[Tensor, "p n t k"]:
        Z = (X.float() - self.mean) / self.scale
        out = torch.einsum("pnd,pdtk->pntk", Z, self.W) + self.b[:, None]
        return out.masked_fill(~self.present[:, None], float("-inf"))

    def predict(self, X: Float[Tensor, "p n d"]) -> Int[Tensor, "p n t"]:
        return self.logits(X).argmax(-1)


def _dot(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> Float[Tensor, "p t"]:
    """Per-probe inner product of (W-shaped, b-shaped) pairs."""
    return (a[0] * b[0]).sum((1, 3)) + (a[1] * b[1]).sum(-1)


def _axpy(alpha: Tensor, x: tuple[Tensor, Tensor], y: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """y + alpha * x with a per-probe alpha [p, t]."""
    return y[0] + alpha[:, None, :, None] * x[0], y[1] + alpha[..., None] * x[1]


def fit_batched(
    X: Float[Tensor, "p n d"],
    y: Int[Tensor, "p n t"],
    n_classes: int,
    C: float = 0.1,
    max_iter: int = 1000,
    tol: float = 1e-6,
    history: int = 10,
) -> BatchedProbes:
    """Fit p x t probes: feature set p (a layer and site) is shared by its t targets.

    Long because the batched L-BFGS (two-loop recursion, per-probe Armijo search) reads best in one piece.
    """
    X = X.float()
    p, n, d = X.shape
    t = y.shape[2]
    mean = X.mean(1, keepdim=True)
    scale = X.std(1, keepdim=True, unbiased=False)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    Z = (X - mean) / scale
    # Preconditioned basis: W = V diag(1/sqrt(h)) B, features F = U S / sqrt(h).
    U, S, Vh = torch.linalg.svd(Z, full_matrices=False)  # r = min(n, d)
    h = S.pow(2) / (4 * n) + 1.0 / (C * n)  # [p, r]
    F = U * (S / h.sqrt())[:, None]  # [p, n, r]
    onehot = torch.nn.functional.one_hot(y, n_classes).float()  # [p, n, t, k]
    present = onehot.sum(1) > 0  # [p, t, k]
    keep = present[:, None].float()  # absent classes keep zero weights
    penalty = (1.0 / (2 * C * n)) / h  # ||W||^2 = sum B^2 / h

    def f(x: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        B, b = (v.detach().requires_grad_() for v in x)
        logits = torch.einsum("pnr,prtk->pntk", F, B) + b[:, None]
        logits = logits.masked_fill(~present[:, None], -1e9)
        reg = torch.einsum("pr,prtk->pt", penalty, B.pow(2))
        loss = -(onehot * logits.log_softmax(-1)).sum(-1).mean(1) + reg
        gB, gb = torch.autograd.grad(loss.sum(), (B, b))
        return loss.detach(), (gB * keep, gb * present)

    r = F.shape[2]
    x = (torch.zeros(p, r, t, n_classes), torch.zeros(p, t, n_classes))
    loss, g = f(x)
    S: list[tuple[Tensor, Tensor]] = []
    Y: list[tuple[Tensor, Tensor]] = []
    R: list[Tensor] = []
    done = torch.zeros(p, t, dtype=torch.bool)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is reported after the loop)
        gmax = torch.maximum(g[0].abs().amax((1, 3)), g[1].abs().amax(-1))
        done = gmax <= tol
        if done.all():
            break
        # Two-loop recursion, per probe (Nocedal & Wright, Alg. 7.4).
        q = (-g[0], -g[1])
        alphas = []
        for s_, y_, r_ in zip(reversed(S), reversed(Y), reversed(R), strict=True):
            a = r_ * _dot(s_, q)
            q = _axpy(-a, y_, q)
            alphas.append(a)
        if S:
            gamma = _dot(S[-1], Y[-1]) / _dot(Y[-1], Y[-1]).clamp_min(1e-20)
        else:
            gamma = 1.0 / gmax.clamp_min(1.0)
        q = (q[0] * gamma[:, None, :, None], q[1] * gamma[..., None])
        for s_, y_, r_, a in zip(S, Y, R, reversed(alphas), strict=True):
            beta = r_ * _dot(y_, q)
            q = _axpy(a - beta, s_, q)
        direction = (q[0] * (~done)[:, None, :, None], q[1] * (~done)[..., None])
        slope = _dot(g, direction)
        uphill = slope >= 0  # lost curvature: restart from steepest descent
        if uphill.any():
            direction = tuple(
                torch.where(m, -gi, di)
                for m, gi, di in zip((uphill[:, None, :, None], uphill[..., None]), g, direction, strict=True)
            )
            slope = _dot(g, direction)
        # Backtracking Armijo line search with a step per probe.
        step = torch.ones(p, t)
        pending = ~done
        new_loss, new_g, new_x = loss.clone(), g, x
        for _ in range(30):
            trial = _axpy(step, direction, x)
            tl, tg = f(trial)
            ok = pending & (tl <= loss + 1e-4 * step * slope)
            m4, m3 = ok[:, None, :, None], ok[..., None]
            new_x = (torch.where(m4, trial[0], new_x[0]), torch.where(m3, trial[1], new_x[1]))
            new_g = (torch.where(m4, tg[0], new_g[0]), torch.where(m3, tg[1], new_g[1]))
            new_loss = torch.where(ok, tl, new_loss)
            pending = pending & ~ok
            if not pending.any():
                break
            step = torch.where(pending, step * 0.5, step)
        s_new = (new_x[0] - x[0], new_x[1] - x[1])
        y_new = (new_g[0] - g[0], new_g[1] - g[1])
        sy = _dot(s_new, y_new)
        if (loss - new_loss).abs().max() == 0 and not (sy > 0).any():
            break  # nothing moved: converged as far as float32 allows
        S.append(s_new)
        Y.append(y_new)
        R.append(torch.where(sy > 1e-10, 1.0 / sy.clamp_min(1e-10), torch.zeros_like(sy)))
        if len(S) > history:
            S.pop(0), Y.pop(0), R.pop(0)
        x, g, loss = new_x, new_g, new_loss
    W = torch.einsum("prd,prtk->pdtk", Vh, x[0] / h.sqrt()[..., None, None])
    return BatchedProbes(mean, scale, W, x[1], present, it, done)
