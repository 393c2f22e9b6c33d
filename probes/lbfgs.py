"""Batched L-BFGS over many independent problems at once, each with its own history, step and stop.

The problem object gives `image(x)` (the logits, linear in x), `loss(logits, x) -> [p, t]`,
`grad(x, logits)`, `predict(x)` on watched rows (or `watch` None) and `select(keep)`; x is [p, t, ...],
one probe's parameters per (p, t).

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
    compact L-BFGS inverse Hessian (Byrd, Nocedal & Schnabel 1994, eq. 3.13).

    S and Y are the two halves of one [probes, 2m, D] buffer, so that each iteration reads it twice, with
    contiguous rows: once to take in a pair and the new gradient, once to apply H. It is the largest
    array an iteration touches, so how often it is read sets much of the iteration's time."""

    def __init__(self, p: int, t: int, m: int, D: int, device: torch.device | str = "cpu"):
        zeros = lambda *shape: torch.zeros(*shape, device=device)  # noqa: E731
        self.SY = zeros(p * t, 2 * m, D)  # rows: s_0 .. s_{m-1}, y_0 .. y_{m-1}
        self.ok = zeros(p * t, m)  # 1 where a pair has positive curvature; a probe leaves out the rest
        self.StY, self.YtY = zeros(p * t, m, m), zeros(p * t, m, m)  # over slots: s_i . y_j, y_i . y_j
        self.Sg, self.Yg = zeros(p * t, m, 1), zeros(p * t, m, 1)  # S g, Y g for the current gradient
        self.t, self.m, self.stored = t, m, 0

    def select(self, keep: Tensor) -> None:
        rows = keep.repeat_interleave(self.t)
        for name in ("SY", "ok", "StY", "YtY", "Sg", "Yg"):
            setattr(self, name, getattr(self, name)[rows])

    def push(self, s: Tensor, y: Tensor, g: Tensor) -> None:
        """Store the pair (s, y) [p, t, D] and take the products with the new gradient g."""
        j, m = self.stored % self.m, self.m
        s, y, g = (v.reshape(-1, v.shape[-1]) for v in (s, y, g))
        self.SY[:, j], self.SY[:, m + j] = s, y
        self.ok[:, j] = ((s * y).sum(1) > 1e-10).float()
        prod = torch.bmm(torch.stack([s, y, g], 1), self.SY.transpose(1, 2)).transpose(1, 2)  # [., 2m, 3]
        self.StY[:, :, j], self.StY[:, j, :] = prod[:, :m, 1], prod[:, m:, 0]
        self.YtY[:, :, j], self.YtY[:, j, :] = prod[:, m:, 1], prod[:, m:, 1]
        self.Sg, self.Yg = prod[:, :m, 2:], prod[:, m:, 2:]
        self.stored += 1

    def direction(self, g: Tensor) -> Tensor:
        """-H g [p, t, D]; the products with g were taken when g arrived (`push`)."""
        p, t, D = g.shape
        if self.stored == 0:
            return -g / g.abs().amax(-1, keepdim=True).clamp_min(1.0)
        m = self.m
        order = torch.arange(self.stored - min(self.stored, m), self.stored, device=g.device) % m  # oldest first
        ok = self.ok[:, order]
        mask = ok[:, :, None] * ok[:, None, :]
        SY, YY = self.StY[:, order][:, :, order] * mask, self.YtY[:, order][:, :, order] * mask
        u, yg = self.Sg[:, order] * ok[..., None], self.Yg[:, order] * ok[..., None]
        D_ = torch.diagonal(SY, dim1=1, dim2=2)
        R = torch.triu(SY) + torch.diag_embed(1.0 - ok)  # a dropped pair: an identity row
        newest = (ok * torch.arange(1, len(order) + 1, device=g.device)).argmax(1)  # the newest pair each probe kept
        rows = torch.arange(len(ok), device=g.device)
        yy = torch.diagonal(YY, dim1=1, dim2=2)[rows, newest]
        gamma = torch.where(ok.any(1), D_[rows, newest] / yy.clamp_min(1e-20), torch.ones_like(yy))[:, None, None]
        q1 = torch.linalg.solve_triangular(R, u, upper=True)
        top = torch.linalg.solve_triangular(
            R.transpose(1, 2), (torch.diag_embed(D_) + gamma * YY) @ q1 - gamma * yg, upper=False
        )
        coef = g.new_zeros(len(ok), 1, 2 * m)
        coef[:, 0, order], coef[:, 0, m + order] = top[..., 0], -(gamma * q1)[..., 0]
        Hg = torch.baddbmm(gamma * g.reshape(-1, 1, D), coef, self.SY)  # gamma g + [S; Y]^T coef
        return -Hg.view(p, t, D)


def minimize(
    prob, x0: Tensor, max_iter: int, tol: float, watch_tol: float, patience: int, history: int
) -> tuple[Tensor, Tensor, Tensor]:
    """(x, iterations per feature set, converged per probe) from the start x0 [p, t, ...].

    The logits are linear in x (`prob.image`), so the line search maps its direction once and every
    trial step is elementwise. Long because the per-probe bookkeeping (stopping, Armijo search,
    shrinking) reads best in one piece.
    """
    p, t = x0.shape[:2]
    x = x0.clone()
    dev = x0.device
    out = x.clone()
    n_iter, conv_out = torch.zeros(p, dtype=torch.long, device=dev), torch.zeros(p, t, dtype=torch.bool, device=dev)
    active = torch.arange(p, device=dev)
    z = prob.image(x)
    loss = prob.loss(z, x)
    g = prob.grad(x, z)
    hist = History(p, t, history, x[0, 0].numel(), dev)
    stable = torch.zeros(p, t, dtype=torch.long, device=dev)
    stalled = torch.zeros(p, t, dtype=torch.bool, device=dev)  # no step lowers the loss in float32: as far as it goes
    pred = prob.predict(x) if prob.watch is not None else None
    it = 0
    for it in range(1, max_iter + 1):
        gmax = g.flatten(2).abs().amax(-1)
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
        moving = ~stop
        direction = hist.direction(g.flatten(2)) * moving[..., None]  # a stopped probe stays where it is
        slope = (g.flatten(2) * direction).sum(-1)
        uphill = slope >= 0  # lost curvature: restart from steepest descent
        if uphill.any():
            direction = torch.where(uphill[..., None], -g.flatten(2) * moving[..., None], direction)
            slope = (g.flatten(2) * direction).sum(-1)
        direction = direction.view(x.shape)
        dz = prob.image(direction)  # the logits move by step * dz
        step = torch.ones_like(loss)  # backtracking Armijo search, a step per probe
        pending = moving & (slope < 0)
        accepted = torch.zeros_like(loss)
        new_loss = loss
        for _ in range(10):
            tl = prob.loss(
                torch.addcmul(z, step.view(*step.shape, 1, 1), dz), x + step.view(*step.shape, 1, 1) * direction
            )
            # Armijo; near the optimum the decrease is below float32's resolution of the loss, so there a step
            # that raises it by no more than rounding (4 ulp) is taken: the gradient, which float32 still
            # resolves, decides when to stop.
            flat = (gmax <= watch_tol) & (tl <= loss + 4 * torch.finfo(loss.dtype).eps * loss.abs())
            ok = pending & ((tl <= loss + 1e-4 * step * slope) | flat)
            accepted = torch.where(ok, step, accepted)
            new_loss = torch.where(ok, tl, new_loss)
            pending = pending & ~ok
            if not pending.any():
                break
            step = torch.where(pending, step * 0.5, step)
        stalled = stalled | (pending & (gmax <= watch_tol))  # else: a fresh direction next time
        a = accepted.view(*accepted.shape, 1, 1)
        new_x, new_z = x + a * direction, torch.addcmul(z, a, dz)
        new_g = prob.grad(new_x, new_z)
        hist.push((new_x - x).flatten(2), (new_g - g).flatten(2), new_g.flatten(2))
        x, z, g, loss = new_x, new_z, new_g, new_loss
        if pred is not None:
            new_pred = prob.predict(x)
            stable = torch.where((new_pred == pred).all(-1), stable + 1, torch.zeros_like(stable))
            pred = new_pred
    out[active], n_iter[active] = x, it
    conv_out[active] = g.flatten(2).abs().amax(-1) <= tol
    return out, n_iter, conv_out
