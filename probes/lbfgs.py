"""Batched L-BFGS over many independent problems at once, each with its own history, step and stop.

The problem object gives `loss(x) -> (loss [p, t], logits)`, `grad(x, logits)`, `predict(x)` on watched
rows (or `watch` None) and `select(keep)`; x is one flat vector per probe, [p, t, D].

- The direction uses the compact form of the inverse Hessian (Byrd, Nocedal & Schnabel 1994): a few
  batched products with the stored pairs instead of a two-loop recursion of 4 passes per pair.
- A feature set (the t probes sharing a problem row p) leaves the batch once all its probes have stopped.
- A probe stops at a small gradient (`tol`), or, given rows to watch (the held-out fold), once its gradient
  is below `watch_tol` and its predictions on those rows have not changed for `patience` iterations: what
  the sweep reports is those predictions, and iterating further only moves digits of the loss.
"""

from __future__ import annotations

import torch
from torch import Tensor


class History:
    """The last m (s, y) pairs per probe as ring buffers, with their Gram matrices kept up to date, for the
    compact L-BFGS inverse Hessian (Byrd, Nocedal & Schnabel 1994, eq. 3.13). Each iteration reads the
    buffers four times: two products to take in a pair (and the new gradient), two to apply H."""

    def __init__(self, p: int, t: int, m: int, D: int):
        self.S, self.Y = torch.zeros(p * t, m, D), torch.zeros(p * t, m, D)
        self.ok = torch.zeros(p * t, m)  # 1 where a pair has positive curvature; a probe leaves out the rest
        self.SY, self.YY = torch.zeros(p * t, m, m), torch.zeros(p * t, m, m)  # over slots: s_i . y_j, y_i . y_j
        self.Sg, self.Yg = torch.zeros(p * t, m, 1), torch.zeros(p * t, m, 1)  # S g, Y g for the current gradient
        self.t, self.m, self.stored = t, m, 0

    def select(self, keep: Tensor) -> None:
        rows = keep.repeat_interleave(self.t)
        for name in ("S", "Y", "ok", "SY", "YY", "Sg", "Yg"):
            setattr(self, name, getattr(self, name)[rows])

    def push(self, s: Tensor, y: Tensor, g: Tensor) -> None:
        """Store the pair (s, y) and take the products with the new gradient g."""
        j = self.stored % self.m
        s, y, g = (v.reshape(-1, v.shape[-1], 1) for v in (s, y, g))
        self.S[:, j], self.Y[:, j] = s[..., 0], y[..., 0]
        self.ok[:, j] = ((s * y).sum((1, 2)) > 1e-10).float()
        on_s = torch.bmm(self.S, torch.cat([y, g], -1))  # [., m, 2]: s_i . y, s_i . g
        on_y = torch.bmm(self.Y, torch.cat([s, y, g], -1))  # y_i . s, y_i . y, y_i . g
        self.SY[:, :, j], self.SY[:, j, :] = on_s[..., 0], on_y[..., 0]
        self.YY[:, :, j], self.YY[:, j, :] = on_y[..., 1], on_y[..., 1]
        self.Sg, self.Yg = on_s[..., 1:], on_y[..., 2:]
        self.stored += 1

    def direction(self, g: Tensor) -> Tensor:
        """-H g; the products with g were taken when g arrived (`push`)."""
        p, t, D = g.shape
        if self.stored == 0:
            return -g / g.abs().amax(-1, keepdim=True).clamp_min(1.0)
        order = torch.arange(self.stored - min(self.stored, self.m), self.stored) % self.m  # oldest first
        ok = self.ok[:, order]
        mask = ok[:, :, None] * ok[:, None, :]
        SY, YY = self.SY[:, order][:, :, order] * mask, self.YY[:, order][:, :, order] * mask
        u, yg = self.Sg[:, order] * ok[..., None], self.Yg[:, order] * ok[..., None]
        D_ = torch.diagonal(SY, dim1=1, dim2=2)
        R = torch.triu(SY) + torch.diag_embed(1.0 - ok)  # a dropped pair: an identity row
        newest = (ok * torch.arange(1, len(order) + 1)).argmax(1)  # the newest pair each probe kept
        rows = torch.arange(len(ok))
        yy = torch.diagonal(YY, dim1=1, dim2=2)[rows, newest]
        gamma = torch.where(ok.any(1), D_[rows, newest] / yy.clamp_min(1e-20), torch.ones(len(ok)))[:, None, None]
        q1 = torch.linalg.solve_triangular(R, u, upper=True)
        top = torch.linalg.solve_triangular(
            R.transpose(1, 2), (torch.diag_embed(D_) + gamma * YY) @ q1 - gamma * yg, upper=False
        )
        coef = torch.zeros(len(ok), 2 * self.m, 1)
        coef[:, order], coef[:, self.m + order] = top, -gamma * q1
        Hg = gamma * g.reshape(-1, D, 1) + torch.bmm(self.S.transpose(1, 2), coef[:, : self.m])
        Hg = Hg + torch.bmm(self.Y.transpose(1, 2), coef[:, self.m :])
        return -Hg.view(p, t, D)


def minimize(
    prob, x0: Tensor, max_iter: int, tol: float, watch_tol: float, patience: int, history: int
) -> tuple[Tensor, Tensor, Tensor]:
    """(x, iterations per feature set, converged per probe) from the start x0 [p, t, D].

    Long because the per-probe bookkeeping (stopping, Armijo search, shrinking) reads best in one piece.
    """
    p, t, _ = x0.shape
    x = x0.clone()
    out, n_iter, conv_out = x.clone(), torch.zeros(p, dtype=torch.long), torch.zeros(p, t, dtype=torch.bool)
    active = torch.arange(p)
    loss, z = prob.loss(x)
    g = prob.grad(x, z)
    hist = History(p, t, history, x.shape[-1])
    stable = torch.zeros(p, t, dtype=torch.long)
    stalled = torch.zeros(p, t, dtype=torch.bool)  # no step lowers the loss in float32: as far as it goes
    pred = prob.predict(x) if prob.watch is not None else None
    it = 0
    for it in range(1, max_iter + 1):
        gmax = g.abs().amax(-1)
        converged = gmax <= tol
        stop = converged | stalled | ((gmax <= watch_tol) & (stable >= patience) if pred is not None else False)
        finished = stop.all(1)
        # Write finished feature sets out and shrink the batch, once enough have finished to pay for the copy.
        if finished.all() or finished.sum() * 8 >= len(finished):
            idx = active[finished]
            out[idx], conv_out[idx], n_iter[idx] = x[finished], converged[finished], it - 1
            keep = ~finished
            if not keep.any():
                return out, n_iter, conv_out
            active, prob, stop, loss, x, z, g = (
                active[keep],
                prob.select(keep),
                stop[keep],
                loss[keep],
                x[keep],
                z[keep],
                g[keep],
            )
            hist.select(keep)
            stable, stalled, gmax = stable[keep], stalled[keep], gmax[keep]
            pred = pred[keep] if pred is not None else None
        direction = hist.direction(g) * (~stop)[..., None]  # a stopped probe stays where it is
        slope = (g * direction).sum(-1)
        uphill = slope >= 0  # lost curvature: restart from steepest descent
        if uphill.any():
            direction = torch.where(uphill[..., None], -g * (~stop)[..., None], direction)
            slope = (g * direction).sum(-1)
        step = torch.ones_like(loss)  # backtracking Armijo search, a step per probe
        pending = ~stop & (slope < 0)
        new_x, new_z, new_loss = x, z, loss
        for _ in range(10):
            trial = x + step[..., None] * direction
            tl, tz = prob.loss(trial)
            # Armijo; near the optimum the decrease is below float32's resolution of the loss, so there a step
            # that raises it by no more than rounding (4 ulp) is taken: the gradient, which float32 still
            # resolves, decides when to stop.
            flat = (gmax <= watch_tol) & (tl <= loss + 4 * torch.finfo(loss.dtype).eps * loss.abs())
            ok = pending & ((tl <= loss + 1e-4 * step * slope) | flat)
            new_x = torch.where(ok[..., None], trial, new_x)
            new_z = torch.where(ok[:, None, :, None], tz, new_z)
            new_loss = torch.where(ok, tl, new_loss)
            pending = pending & ~ok
            if not pending.any():
                break
            step = torch.where(pending, step * 0.5, step)
        stalled = stalled | (pending & (gmax <= watch_tol))  # else: a fresh direction next time
        new_g = prob.grad(new_x, new_z)
        hist.push(new_x - x, new_g - g, new_g)
        x, z, g, loss = new_x, new_z, new_g, new_loss
        if pred is not None:
            new_pred = prob.predict(x)
            stable = torch.where((new_pred == pred).all(1), stable + 1, torch.zeros_like(stable))
            pred = new_pred
    out[active], n_iter[active] = x, it
    conv_out[active] = g.abs().amax(-1) <= tol
    return out, n_iter, conv_out
