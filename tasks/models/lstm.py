"""LSTM baseline for the memory tasks (paper: 3 layers x 256 for copy), with hook points.

`hook_lstm_out` [n, t, d_hidden] is the top layer's output sequence; `hook_logits` [n, t, d_out].
"""

from __future__ import annotations

from dataclasses import dataclass

from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint


@dataclass(frozen=True)
class LSTMConfig:
    d_in: int
    d_out: int
    d_hidden: int = 256
    n_layers: int = 3


class HookedLSTM(HookedRootModule):
    def __init__(self, cfg: LSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(cfg.d_in, cfg.d_hidden, cfg.n_layers, batch_first=True)
        self.to_out = nn.Linear(cfg.d_hidden, cfg.d_out)
        self.hook_lstm_out, self.hook_logits = HookPoint(), HookPoint()
        self.setup()

    def forward(self, x: Float[Tensor, "n t d_in"]) -> Float[Tensor, "n t d_out"]:
        h, _ = self.lstm(x)
        return self.hook_logits(self.to_out(self.hook_lstm_out(h)))
