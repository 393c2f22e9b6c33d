"""Batched inverse of symmetric positive definite matrices, by recursive 2 x 2 block Schur complements.

LAPACK's Cholesky and inverse run one small matrix at a time and at a fraction of the machine's speed on
sizes like 333 x 333; here most of the work is batched matrix products. Measured on 90 matrices of
333 x 333 (float32, 2 cores): 65 ms against 160 ms for `cholesky_inverse(cholesky(A))`, with residuals
`|A X - I|` of the same order (1e-5). The Schur complements of an SPD matrix are SPD and no worse
conditioned than it, so the recursion is as stable as the Cholesky route for the moderately conditioned
matrices it is used on (the probe solver's `K + cI`).
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor


def spd_inverse(A: Float[Tensor, "b n n"], leaf: int = 48) -> Float[Tensor, "b n n"]:
    """A^-1 for a batch of SPD matrices; blocks of at most `leaf` rows go to LAPACK (Cholesky)."""
    n = A.shape[-1]
    if n <= leaf:
        return torch.cholesky_inverse(torch.linalg.cholesky(A))
    h = n // 2
    A11, A12, A22 = A[:, :h, :h], A[:, :h, h:], A[:, h:, h:]
    B11 = spd_inverse(A11, leaf)
    T = torch.bmm(B11, A12)  # A11^-1 A12
    Si = spd_inverse(torch.baddbmm(A22, A12.transpose(1, 2), T, alpha=-1), leaf)  # (A22 - A21 A11^-1 A12)^-1
    B12 = -torch.bmm(T, Si)
    out = torch.empty_like(A)
    out[:, :h, :h] = torch.baddbmm(B11, B12, T.transpose(1, 2), alpha=-1)  # A11^-1 + T Si T^T
    out[:, :h, h:] = B12
    out[:, h:, :h] = B12.transpose(1, 2)
    out[:, h:, h:] = Si
    return out
