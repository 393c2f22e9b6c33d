"""Reading a few logits without the full unembedding: stop at `unembed.hook_in`, project onto a few columns.

Patching needs two logits per row and the causal tests ten; the full vocabulary (262K for Gemma 3)
would cost more than the rest of the model. The projection applies the unembedding's bias and the
model's output soft-cap, so it is exactly the model's logits restricted to those tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.stop import StopForward


def final_residual(
    model, ids: Int[Tensor, "rows pos"], hooks: Sequence[tuple[str, Callable]] = (), cache=None
) -> Float[Tensor, "rows d_model"]:
    """The unembedding input at the last position, with `hooks` on (continuing `cache` when given)."""
    got = {}

    def stop(x, hook):
        got["x"] = x[:, -1]
        raise StopForward

    try:
        with model.hooks(fwd_hooks=[*hooks, ("unembed.hook_in", stop)]):
            model(ids, past_key_values=cache) if cache is not None else model(ids)
    except StopForward:
        pass
    return got["x"]


def unembed_columns(
    model, x: Float[Tensor, "rows d_model"], token_ids: Int[Tensor, " k"] | Int[Tensor, "rows k"]
) -> Float[Tensor, "rows k"]:
    """Logits of `token_ids` (shared by every row, or one set per row) from unembedding inputs `x`."""
    ids = token_ids.to(model.W_U.device)
    if ids.ndim == 1:
        z = x @ model.W_U[:, ids]
    else:
        z = torch.einsum("rd,rkd->rk", x, model.W_U.T[ids])
    b_U = getattr(model, "b_U", None)
    z = z + b_U[ids] if b_U is not None else z
    cap = float(getattr(model.cfg, "output_logits_soft_cap", 0) or 0)  # TransformerLens writes "no cap" as -1
    return torch.tanh(z / cap) * cap if cap > 0 else z


def normalised_effect(ld, ld_clean: float, ld_corrupt: float) -> np.ndarray:
    """(LD - LD_corrupt) / (LD_clean - LD_corrupt): 1 restores the clean answer, 0 changes nothing; NaN when the
    clean and corrupted runs do not differ."""
    denom = ld_clean - ld_corrupt
    return (np.asarray(ld) - ld_corrupt) / denom if denom else np.full(np.shape(ld), np.nan)
