"""Prompts -> right-padded token batches, and positions to read.

Right padding with a causal model is exact without an attention mask: a real
token never attends to the pads after it, and rotary positions start at 0 for
every row. So "last" is simply each row's real length minus one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.errors import InterpError
from interp.models.loading import model_info


@dataclass(frozen=True)
class TokenMatch:
    """Read at the token whose text (stripped) equals `text`, e.g. `TokenMatch("=")`.

    >>> acts = capture(model, ["12+35=4"], ["blocks.0.hook_resid_post"], positions=TokenMatch("="))
    >>> acts.positions.tolist()
    [5]
    """

    text: str
    occurrence: int = -1  # which match when several: 0 = first, -1 = last


Positions = Union[str, Sequence[int], Sequence[Sequence[int]], Tensor, np.ndarray, TokenMatch]  # str: "last" or "all"
Inputs = Union[
    Sequence[str], Int[Tensor, "batch pos"], Float[Tensor, "batch ..."], Sequence[Tensor], Mapping[str, Any]
]  # Mapping: a tokenizer's output


@dataclass(frozen=True)
class Tokenized:
    ids: list[list[int]]  # one list per example, BOS included when prepended

    @property
    def lengths(self) -> Int[Tensor, " batch"]:
        return torch.tensor([len(x) for x in self.ids], device="cpu")


def tokenize(
    model, inputs: Inputs, prepend_bos: bool | None = None, attention_mask: Int[Tensor, "batch pos"] | None = None
) -> Tokenized:
    """Token ids per example. Strings use the model's tokenizer; tensors pass through.

    `prepend_bos=None` follows the model's own tokenizer (`interp.models.loading.model_info`). A padded
    `[batch, pos]` tensor needs its `attention_mask` (or pass a tokenizer's output, which carries one):
    the pads are dropped, left or right, and positions count from each row's first real token. A
    tensor whose rows end (or start) with different runs of the pad token and no mask is refused,
    since reading "last" there would read a pad.
    """
    if isinstance(inputs, Mapping):  # a tokenizer's output: {"input_ids", "attention_mask"}
        if "input_ids" not in inputs:
            raise InterpError("a mapping input must hold 'input_ids' (a tokenizer's output)")
        attention_mask = inputs.get("attention_mask", attention_mask)
        inputs = torch.as_tensor(inputs["input_ids"])
    if attention_mask is not None and not isinstance(inputs, Tensor):
        raise InterpError("attention_mask goes with a [batch, pos] token tensor")
    if isinstance(inputs, Tensor):
        if inputs.ndim != 2:
            raise InterpError(f"token input must be [batch, pos], got shape {tuple(inputs.shape)}")
        if attention_mask is None:
            _refuse_unmasked_padding(model, inputs)
            ids = inputs.tolist()
        else:
            mask = torch.as_tensor(attention_mask)
            if mask.shape != inputs.shape:
                raise InterpError(f"attention_mask has shape {tuple(mask.shape)}, the tokens {tuple(inputs.shape)}")
            ids = [row[m.bool()].tolist() for row, m in zip(inputs.cpu(), mask.cpu(), strict=True)]
    else:
        inputs = list(inputs)
        if inputs and all(isinstance(x, str) for x in inputs):
            tok = getattr(model, "tokenizer", None)
            if tok is None:
                raise InterpError("this model has no tokenizer: pass token ids instead of strings")
            if prepend_bos is None:
                prepend_bos = model_info(model).prepend_bos
            enc = tok(inputs, add_special_tokens=False)["input_ids"]
            bos = [tok.bos_token_id] if prepend_bos and tok.bos_token_id is not None else []
            ids = [bos + list(e) for e in enc]
        elif all(isinstance(x, Tensor) and x.ndim == 1 for x in inputs):
            ids = [x.tolist() for x in inputs]
        else:
            raise InterpError("inputs must be a list of strings, a [batch, pos] tensor, or 1-D tensors")
    if not ids:
        raise InterpError("inputs are empty")
    for i, row in enumerate(ids):
        if not row:
            raise InterpError(f"input {i} is empty after tokenizing")
    n_ctx = getattr(getattr(model, "cfg", None), "n_ctx", None)
    if n_ctx:
        too_long = [i for i, row in enumerate(ids) if len(row) > n_ctx]
        if too_long:
            i = too_long[0]
            raise InterpError(f"input {i} has {len(ids[i])} tokens, longer than the model's context of {n_ctx}")
    return Tokenized(ids)


def _refuse_unmasked_padding(model, ids: Int[Tensor, "batch pos"]) -> None:
    pad_id = getattr(getattr(model, "tokenizer", None), "pad_token_id", None)
    if pad_id is None or len(ids) < 2:
        return
    is_pad = ids == pad_id
    trailing = is_pad.flip(1).int().cumprod(1).sum(1)
    leading = is_pad.int().cumprod(1).sum(1)
    if (trailing != trailing[0]).any() or (leading != leading[0]).any():
        raise InterpError(
            f"these token rows look padded (runs of the pad token {pad_id} of different lengths at their ends): "
            "pass attention_mask= (or the tokenizer's whole output) so that positions skip the padding"
        )


def pad(rows: list[list[int]], pad_id: int = 0) -> Int[Tensor, "batch pos"]:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), pad_id, dtype=torch.long, device="cpu")
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long, device="cpu")
    return out


def resolve_positions(model, tokens: Tokenized, positions: Positions) -> Int[Tensor, "batch ..."] | None:
    """One position per example, or k per example from a [batch, k] array (None means every position)."""
    lengths = tokens.lengths
    n = len(lengths)
    if isinstance(positions, str):
        if positions == "last":
            return lengths - 1
        if positions == "all":
            return None
        raise InterpError(f"unknown positions {positions!r}: use 'last', 'all', indices or TokenMatch")
    if isinstance(positions, TokenMatch):
        return torch.tensor([_match(model, row, positions, i) for i, row in enumerate(tokens.ids)], device="cpu")
    pos = torch.as_tensor(np.asarray(positions), dtype=torch.long, device="cpu")
    pos = pos.flatten() if pos.ndim < 2 or pos.shape[0] != n else pos
    if pos.ndim > 2 or len(pos) != n:
        raise InterpError(f"got {len(pos)} positions for {n} inputs: give one index (or one row) per input")
    length = lengths.view(-1, *([1] * (pos.ndim - 1)))
    pos = torch.where(pos < 0, pos + length, pos)
    bad = ((pos < 0) | (pos >= length)).nonzero()
    if len(bad):
        i = int(bad[0, 0])
        raise InterpError(f"a position is outside input {i} ({int(lengths[i])} tokens)")
    return pos


def _match(model, row: list[int], rule: TokenMatch, i: int) -> int:
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        raise InterpError("TokenMatch needs a model with a tokenizer")
    hits = [p for p, t in enumerate(row) if tok.decode([t]).strip() == rule.text]
    if not hits:
        raise InterpError(f"input {i} has no token {rule.text!r}")
    try:
        return hits[rule.occurrence]
    except IndexError:
        raise InterpError(f"input {i} has {len(hits)} tokens {rule.text!r}, no occurrence {rule.occurrence}") from None
