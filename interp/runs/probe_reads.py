"""What the main job captures: every probed site at each digit's read position, and the float32 guard's slice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from interp.hooks.capture import capture
from interp.hooks.names import n_layers, parse_layers
from interp.models.loading import model_info
from interp.tasks.arithmetic import Problems
from interp.tasks.reading import probe_texts, read_plan


def read_sites(sites: Sequence[str]) -> list[str]:
    """The probed sites, plus resid_post for the logit lens."""
    return list(dict.fromkeys([*sites, "resid_post"]))


def capture_reads(
    model, problems: Problems, pos: np.ndarray, layers: list[int], sites: Sequence[str], batch_size: int, progress
) -> dict[str, torch.Tensor]:
    """Every probed site, plus resid_post, at each digit's read position: {site: [n, layer, scale, d_model]}."""
    texts = probe_texts(problems)
    return capture(
        model, texts, sites=read_sites(sites), layers=layers, positions=pos, batch_size=batch_size, progress=progress
    )


def read_slice(model, problems: Problems, sites: Sequence[str], layers: str, rows: int) -> dict[str, torch.Tensor]:
    """The first `rows` problems read as `capture_reads` reads them, by site and layer (`by_layer`)."""
    rows = min(rows, len(problems))
    layer_list = parse_layers(layers, n_layers(model))
    pos = read_plan(model.tokenizer, problems, model_info(model).prepend_bos).pos[:rows]
    acts = capture(model, probe_texts(problems)[:rows], sites=read_sites(sites), layers=layer_list, positions=pos)
    return by_layer(acts, layer_list)


def by_layer(acts: dict[str, torch.Tensor], layers: list[int]) -> dict[str, torch.Tensor]:
    """{"resid_post L3": [n, scale, d_model], ...} from {site: [n, layer, scale, d_model]}.

    >>> by_layer({"mlp_out": torch.zeros(2, 3, 4, 8)}, [0, 5, 9])["mlp_out L5"].shape
    torch.Size([2, 4, 8])
    """
    return {f"{s} L{layer}": a[:, i] for s, a in acts.items() for i, layer in enumerate(layers)}


__all__ = ["by_layer", "capture_reads", "read_sites", "read_slice"]
