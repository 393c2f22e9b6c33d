"""Activation statistics along a long context, kept as running sums only.

On 32K-token inputs the full activations (layers x positions x d_model) and
attention patterns (heads x 32K x 32K per layer) do not fit in RAM, so hooks
on the plain Hugging Face modules reduce each query chunk to per-bucket sums
as it passes and keep nothing else:

- norms of `attn_out`, `mlp_out` and `resid_post` (what each sublayer adds to
  the residual stream, and the stream after the layer; the same quantities
  as TransformerLens' `blocks.{l}.hook_attn_out` etc. without weight folding);
- attention mass each query puts on keys more than k positions back, and on
  the first token (the usual attention sink), averaged over heads.

Positions are 0-based token indices; index 0 (BOS where the model uses one)
is its own bucket because its activations are outliers.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

STATS_SITES = ("attn_out", "mlp_out", "resid_post")  # what the norms are taken of


@dataclass(frozen=True)
class StatsConfig:
    far: tuple[int, ...] = (16, 128, 1024)  # "more than k positions back"
    edges: tuple[tuple[int, int], ...] = ((0, 0), (1, 8), (9, 64), (65, 512), (513, 2048), (2049, 8192), (8193, 32768))


def bucket_of(pos: Int[Tensor, " pos"], edges) -> Int[Tensor, " pos"]:
    """Index into `edges` of each 0-based position (positions past the last edge get the last bucket)."""
    his = torch.tensor([hi for _, hi in edges], device=pos.device)
    return torch.searchsorted(his, pos).clamp(max=len(edges) - 1)


def _mid_norm(layer) -> torch.nn.Module:
    """The norm applied to the residual stream between attention and MLP (its input is resid_mid)."""
    for name in ("pre_feedforward_layernorm", "post_attention_layernorm"):  # Gemma 2/3, then Llama-style
        if hasattr(layer, name):
            return getattr(layer, name)
    raise TypeError(f"no MLP input norm found on {type(layer).__name__}")


class ContextStats:
    """Running per-bucket sums; `attach(hf)` hooks a Hugging Face causal LM for the duration of a block."""

    def __init__(self, n_layers: int, cfg: StatsConfig = StatsConfig()):
        self.cfg = cfg
        B = len(cfg.edges)
        self.norm_sum = np.zeros((len(STATS_SITES), n_layers, B))
        self.far_sum = np.zeros((len(cfg.far), n_layers, B))
        self.first_sum = np.zeros((n_layers, B))
        self.count = np.zeros(B)  # tokens per bucket (counted once, at layer 0)
        self._pos: Tensor | None = None
        self._pre: Tensor | None = None
        self._mid: Tensor | None = None

    @property
    def labels(self) -> list[str]:
        return [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.cfg.edges]

    def _add(self, target: np.ndarray, values: Float[Tensor, "batch pos"]) -> None:
        b = bucket_of(self._pos, self.cfg.edges)
        summed = values.double().sum(0).cpu()
        target += torch.zeros(len(self.cfg.edges), dtype=torch.float64, device="cpu").index_add_(0, b, summed).numpy()

    def _pre_layer(self, layer_i: int):
        def hook(_mod, args, kwargs):
            h = args[0] if args else kwargs["hidden_states"]
            pos = kwargs.get("position_ids")
            if pos is None:
                raise TypeError("decoder layer was not given position_ids")
            self._pos = pos[0].cpu()  # same positions for every row: no padding on long inputs
            self._pre = h.detach()
            if layer_i == 0:
                self.count += h.shape[0] * np.bincount(
                    bucket_of(self._pos, self.cfg.edges).numpy(), minlength=len(self.count)
                )

        return hook

    def _post_layer(self, layer_i: int):
        def hook(_mod, _args, out):
            post = (out[0] if isinstance(out, tuple) else out).detach()
            for s, x in enumerate((self._mid - self._pre, post - self._mid, post)):
                self._add(self.norm_sum[s, layer_i], x.float().norm(dim=-1))
            self._pre = self._mid = None

        return hook

    def _mid_hook(self, _mod, args):
        self._mid = args[0].detach()

    def _attn(self, layer_i: int):
        def hook(_mod, _args, out):
            w = out[1] if isinstance(out, tuple) and len(out) > 1 else None
            if w is None:
                raise RuntimeError("attention weights not returned: load the model with attn_implementation='eager'")
            w = w.float()  # [batch, head, query, key]
            q = self._pos.to(w.device)
            # Sliding-window layers (Gemma) cache only the last keys: key j is at position key0 + j.
            key0 = int(self._pos[-1]) + 1 - w.shape[-1]
            cs = w.cumsum(-1)
            for i, k in enumerate(self.cfg.far):
                last = q - k - 1 - key0  # last key index more than k positions back
                idx = last.clamp(min=0)[None, None, :, None].expand(*w.shape[:2], -1, 1)
                mass = cs.gather(-1, idx)[..., 0] * (last >= 0)
                self._add(self.far_sum[i, layer_i], mass.mean(1))
            first = w[..., 0] if key0 == 0 else torch.zeros_like(w[..., 0])  # outside the window: no mass
            self._add(self.first_sum[layer_i], first.mean(1))

        return hook

    @contextmanager
    def attach(self, hf):
        layers = (hf.get_decoder() if hasattr(hf, "get_decoder") else hf.model).layers
        handles = []
        try:
            for layer_i, layer in enumerate(layers):
                handles.append(layer.register_forward_pre_hook(self._pre_layer(layer_i), with_kwargs=True))
                handles.append(_mid_norm(layer).register_forward_pre_hook(self._mid_hook))
                handles.append(layer.register_forward_hook(self._post_layer(layer_i)))
                handles.append(layer.self_attn.register_forward_hook(self._attn(layer_i)))
            yield self
        finally:
            for h in handles:
                h.remove()

    def result(self) -> dict:
        """Means per bucket (NaN where a bucket saw no tokens), as plain arrays."""
        n = np.where(self.count > 0, self.count, np.nan)
        return {
            "norm": self.norm_sum / n,
            "far": self.far_sum / n,
            "first": self.first_sum / n,
            "count": self.count.copy(),
            "sites": list(STATS_SITES),
            "far_k": list(self.cfg.far),
            "buckets": self.labels,
        }
