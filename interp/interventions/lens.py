"""The logit lens: the model's own readout of the residual stream at any layer.

At each layer the residual stream goes through the model's final normalisation, with its
statistics recomputed on that vector (reusing the last layer's cached scale is a known
TransformerLens pitfall), then through the unembedding columns of the tokens asked for. At the
last layer this is exactly the model's output restricted to those tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from interp.core.errors import InterpError
from interp.interventions.readout import unembed_columns

LENS_ROWS = 4096  # residual vectors normalised and read out together


def digit_token_ids(tokenizer) -> list[int]:
    """Token ids of "0".."9"; every digit must be a single token.

    >>> len(digit_token_ids(model.tokenizer))
    10
    """
    ids = []
    for digit in "0123456789":
        enc = tokenizer(digit, add_special_tokens=False)["input_ids"]
        if len(enc) != 1:
            raise InterpError(f"digit {digit!r} is {len(enc)} tokens in this tokenizer: the logit lens needs one each")
        ids.append(enc[0])
    return ids


@torch.no_grad()
def logit_lens(model, resid: Float[Tensor, "... d_model"], token_ids: Sequence[int]) -> Float[Tensor, "... k"]:
    """Logits of `token_ids` read from residual-stream vectors, as the model's own final layers would (on the
    vectors' device).

    >>> acts = capture(model, ["12+35="], sites=["resid_post"], layers="all")
    >>> lens = logit_lens(model, acts["resid_post"], digit_token_ids(model.tokenizer))
    >>> lens.shape                       # [batch, layer, 10]
    torch.Size([1, ..., 10])
    """
    ids = torch.as_tensor(list(token_ids), device=model.W_U.device)
    flat = resid.reshape(-1, resid.shape[-1])
    parts = [  # a slice of rows at a time: normalising them all at once held several copies of `resid`
        unembed_columns(model, model.ln_final(part[:, None].to(model.W_U.device, model.W_U.dtype))[:, 0], ids)
        for part in flat.split(LENS_ROWS)
    ]
    return torch.cat(parts).view(*resid.shape[:-1], -1).to(resid.device)
