"""Many edits of one position, batched: the model's digit logits with each edit, from the prefix's KV cache.

Positions before the edited one are the same in every row, so they run once; each row continues from
their cache with one token. The first row is unedited, and `check` holds it to a whole forward.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from interp.core.selfcheck import agree
from interp.interventions.readout import final_residual, unembed_columns
from interp.models.devices import model_device
from interp.models.kv import PrefixCache
from interp.models.precision import check_tolerance


def _final_digits(model, ids: Tensor, cache, hooks, digit_ids: Tensor) -> Float[Tensor, "rows 10"]:
    """The model's logits over the ten digits at the last position (stopping before the full unembedding)."""
    return unembed_columns(model, final_residual(model, ids, hooks, cache), digit_ids)


@torch.no_grad()
def digit_logits_under_edits(
    model, ids: list[int], pos: int, edits: list[tuple[str, Tensor]], digit_ids: list[int], check: bool = True
) -> Float[Tensor, "rows 10"]:
    """The model's logits over the ten digits at `pos` of one token sequence: row 0 unedited, then one row per
    row of each edit, with that hook's activation at `pos` replaced by it (`edits`: (hook name, [rows, d])).
    On the model's device.

    Positions before `pos` are the same in every row, so they run once and each row continues from their KV
    cache with the one token at `pos`. `check` holds row 0 to a whole forward of the sequence.

    >>> ids = model.tokenizer("12+35=", add_special_tokens=False)["input_ids"]
    >>> edit = ("blocks.1.hook_resid_post", torch.zeros(2, model.cfg.d_model))   # two edited rows
    >>> digit_logits_under_edits(model, ids, 5, [edit], digit_token_ids(model.tokenizer)).shape   # unedited + 2
    torch.Size([3, 10])
    """
    device = model_device(model)
    ids_t = torch.as_tensor(digit_ids, device=model.W_U.device)
    rows = 1 + sum(len(e) for _, e in edits)
    hooks, start = [], 1
    for name, e in edits:
        hooks.append((name, _writer(start, e)))
        start += len(e)
    prefix = PrefixCache(model, torch.as_tensor(ids[:pos], device=device))
    with prefix.continued(rows) as cache:
        out = _final_digits(model, torch.full((rows, 1), ids[pos], device=device), cache, hooks, ids_t)
    if check:
        plain = _final_digits(model, torch.as_tensor(ids[: pos + 1], device=device)[None], None, [], ids_t)[0]
        atol, rtol = check_tolerance(model, 1e-3, 1e-4)
        agree("causal tests from the prefix's KV cache: digit logits", out[0], plain, atol, rtol)
    return out


def _writer(start: int, values: Tensor):
    """A hook that writes rows start.. of the last position with `values` (other rows untouched)."""

    def hook(act: Tensor, hook=None) -> Tensor:
        act = act.clone()
        act[start : start + len(values), -1] = values.to(act.device, act.dtype)
        return act

    return hook
