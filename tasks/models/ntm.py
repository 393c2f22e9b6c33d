"""Neural Turing Machine (Graves, Wayne & Danihelka 2014) as a TransformerLens `HookedRootModule`.

Fully batched: the only Python loop is over time. Memory starts at a small constant
(Collier & Beel 2018 found constant initialisation trains fastest), head weightings start
on location 0, and the first read vector is learned.

Hook points fire once per time step, so interventions act at every step:
`hook_ctrl_out` [n, hidden], `hook_read_w` [n, read_heads, N], `hook_write_w` [n, N],
`hook_read` [n, read_heads, M], `hook_memory` [n, N, M] (after the write).
`forward(x, trace=True)` also returns every step's weightings stacked over time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint


@dataclass(frozen=True)
class NTMConfig:
    d_in: int
    d_out: int
    controller: Literal["lstm", "ff"] = "lstm"
    d_hidden: int = 100
    N: int = 128  # memory locations (paper: 128)
    M: int = 20  # location width (paper: 20)
    read_heads: int = 1
    shift: int = 1  # allowed shifts -1..+1 (sec. 3.3.2)
    memory_init: float = 1e-6


def address(key: Float[Tensor, "n h M"], beta: Float[Tensor, "n h"], g: Float[Tensor, "n h"],
            s: Float[Tensor, "n h S"], gamma: Float[Tensor, "n h"], w_prev: Float[Tensor, "n h N"],
            memory: Float[Tensor, "n N M"]) -> Float[Tensor, "n h N"]:
    """Sec. 3.3: content weighting, interpolation with the previous weighting, circular shift, sharpening."""
    sim = F.cosine_similarity(key[:, :, None, :], memory[:, None, :, :], dim=-1, eps=1e-8)  # eq. 6
    w_c = torch.softmax(beta[..., None] * sim, -1)  # eq. 5
    w_g = g[..., None] * w_c + (1 - g[..., None]) * w_prev  # eq. 7
    r = (s.shape[-1] - 1) // 2
    w_s = sum(s[..., j : j + 1] * torch.roll(w_g, j - r, dims=-1) for j in range(s.shape[-1]))  # eq. 8
    w = (w_s + 1e-12) ** gamma[..., None]  # eq. 9
    return w / w.sum(-1, keepdim=True)


class NTM(HookedRootModule):
    def __init__(self, cfg: NTMConfig):
        super().__init__()
        self.cfg = cfg
        R, M, H, S = cfg.read_heads, cfg.M, cfg.d_hidden, 2 * cfg.shift + 1
        d_ctrl_in = cfg.d_in + R * M
        self.controller = nn.LSTMCell(d_ctrl_in, H) if cfg.controller == "lstm" else nn.Linear(d_ctrl_in, H)
        self.per_head = M + 1 + 1 + S + 1  # key, beta, g, shift, gamma
        self.to_heads = nn.Linear(H, (R + 1) * self.per_head + 2 * M)  # + erase and add vectors
        self.to_out = nn.Linear(H + R * M, cfg.d_out)
        self.read0 = nn.Parameter(torch.randn(R, M) * 0.01)
        self.hook_ctrl_out, self.hook_read_w, self.hook_write_w = HookPoint(), HookPoint(), HookPoint()
        self.hook_read, self.hook_memory = HookPoint(), HookPoint()
        self.setup()

    def _heads(self, h: Float[Tensor, "n H"]):
        R, M, S = self.cfg.read_heads, self.cfg.M, 2 * self.cfg.shift + 1
        p = self.to_heads(h)
        heads, erase, add = p[:, : -2 * M], p[:, -2 * M : -M], p[:, -M:]
        heads = heads.view(h.shape[0], R + 1, self.per_head)
        key, beta, g = heads[..., :M], heads[..., M], heads[..., M + 1]
        s, gamma = heads[..., M + 2 : M + 2 + S], heads[..., M + 2 + S]
        return (torch.tanh(key), F.softplus(beta), torch.sigmoid(g), torch.softmax(s, -1),
                1 + F.softplus(gamma), torch.sigmoid(erase), torch.tanh(add))

    def forward(self, x: Float[Tensor, "n t d_in"], trace: bool = False):
        """Logits [n, t, d_out]; with `trace`, also {"read_w", "write_w": [n, t, (heads,) N]}."""
        cfg = self.cfg
        n, T, _ = x.shape
        R = cfg.read_heads
        mem = torch.full((n, cfg.N, cfg.M), cfg.memory_init, device=x.device, dtype=x.dtype)
        w = torch.zeros(n, R + 1, cfg.N, device=x.device, dtype=x.dtype)
        w[..., 0] = 1.0
        read = self.read0.expand(n, R, cfg.M)
        state = None
        outs, rw, ww = [], [], []
        for t in range(T):
            inp = torch.cat([x[:, t], read.reshape(n, -1)], -1)
            if cfg.controller == "lstm":
                state = self.controller(inp, state)
                h = state[0]
            else:
                h = torch.relu(self.controller(inp))
            h = self.hook_ctrl_out(h)
            key, beta, g, s, gamma, erase, add = self._heads(h)
            w = address(key, beta, g, s, gamma, w, mem)
            w_r = self.hook_read_w(w[:, :R])
            w_w = self.hook_write_w(w[:, R])
            w = torch.cat([w_r, w_w[:, None]], 1)
            read = self.hook_read(torch.einsum("nhN,nNM->nhM", w_r, mem))  # eq. 2, before this step's write
            mem = mem * (1 - w_w[..., None] * erase[:, None, :]) + w_w[..., None] * add[:, None, :]  # eq. 3-4
            mem = self.hook_memory(mem)
            outs.append(self.to_out(torch.cat([h, read.reshape(n, -1)], -1)))
            if trace:
                rw.append(w_r.detach())
                ww.append(w_w.detach())
        logits = torch.stack(outs, 1)
        if trace:
            return logits, {"read_w": torch.stack(rw, 1), "write_w": torch.stack(ww, 1)}
        return logits
