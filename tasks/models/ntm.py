"""Neural Turing Machine (Graves, Wayne & Danihelka 2014) as a TransformerLens `HookedRootModule`.

Fully batched: the only Python loop is over time. Memory starts at a small constant
(Collier & Beel 2018 found constant initialisation trains fastest), head weightings start
on location 0, and the first read vector is learned.

Hook points fire once per time step, so interventions act at every step:
`hook_ctrl_out` [n, hidden], `hook_read_w` [n, read_heads, N], `hook_write_w` [n, N],
`hook_read` [n, read_heads, M], `hook_memory` [n, N, M] (after the write). Read the
weightings over a sequence with `interp.record(model, ["hook_read_w", "hook_write_w"])`.

A step is a few dozen small tensor ops, so its time is op overhead, not arithmetic.
`address` and the write are therefore written with as few ops as the equations allow
(one batched matmul for the cosine similarity, three rolls for the shift, a softmax for
the sharpening), and hook points are skipped while nothing is hooked. `address_plain`
is the paper's equations written out one by one; a test holds the two together.
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
    clip: float | None = None  # clip the controller's outputs to +-clip (Collier & Beel 2018: 20)


def address_plain(
    key: Float[Tensor, "n h M"],
    beta: Float[Tensor, "n h"],
    g: Float[Tensor, "n h"],
    s: Float[Tensor, "n h S"],
    gamma: Float[Tensor, "n h"],
    w_prev: Float[Tensor, "n h N"],
    memory: Float[Tensor, "n N M"],
) -> Float[Tensor, "n h N"]:
    """Sec. 3.3 as written: content weighting, interpolation, circular shift, sharpening (the reference)."""
    sim = F.cosine_similarity(key[:, :, None, :], memory[:, None, :, :], dim=-1, eps=1e-8)  # eq. 6
    w_c = torch.softmax(beta[..., None] * sim, -1)  # eq. 5
    w_g = g[..., None] * w_c + (1 - g[..., None]) * w_prev  # eq. 7
    r = (s.shape[-1] - 1) // 2
    w_s = sum(s[..., j : j + 1] * torch.roll(w_g, j - r, dims=-1) for j in range(s.shape[-1]))  # eq. 8
    w = (w_s + 1e-12) ** gamma[..., None]  # eq. 9
    return w / w.sum(-1, keepdim=True)


def address(
    key: Float[Tensor, "n h M"],
    beta: Float[Tensor, "n h 1"],
    g: Float[Tensor, "n h 1"],
    s: Float[Tensor, "n h S"],
    gamma: Float[Tensor, "n h 1"],
    w_prev: Float[Tensor, "n h N"],
    memory: Float[Tensor, "n N M"],
) -> Float[Tensor, "n h N"]:
    """`address_plain` in fewer ops: the same weighting to float rounding."""
    dot = torch.bmm(key, memory.transpose(1, 2))  # eq. 6 as one matmul, then divide by the norms
    sim = dot / (key.norm(dim=-1, keepdim=True) * memory.norm(dim=-1)[:, None, :]).clamp_min(1e-8)
    w_c = torch.softmax(beta * sim, -1)  # eq. 5
    w_g = torch.lerp(w_prev, w_c, g)  # eq. 7
    r = (s.shape[-1] - 1) // 2
    w_s = sum(s[..., j : j + 1] * torch.roll(w_g, j - r, dims=-1) for j in range(s.shape[-1]))  # eq. 8
    return torch.softmax(gamma * torch.log(w_s + 1e-12), -1)  # eq. 9: w^gamma / sum w^gamma


# The compiled step against the eager one, fed the same state: each output may differ by this much of its scale
# (max(1, its largest magnitude)). Reordered float32 arithmetic gives about 1e-6; an error is of the order of 1.
STEP_TOLERANCE = 1e-4
STEP_OUTPUTS = ("output", "read", "h", "c", "weightings", "memory")

HOOKS = ("hook_ctrl_out", "hook_read_w", "hook_write_w", "hook_read", "hook_memory")


class CompiledStepMismatch(RuntimeError):
    """torch.compile's step disagreed with the eager step on the first batch of a shape."""


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
        self.hook_ctrl_out, self.hook_read_w, self.hook_write_w = (HookPoint(), HookPoint(), HookPoint())
        self.hook_read, self.hook_memory = HookPoint(), HookPoint()
        self.setup()

    def _heads(self, h: Float[Tensor, "n H"]):
        R, M, S = self.cfg.read_heads, self.cfg.M, 2 * self.cfg.shift + 1
        p = self.to_heads(h)
        if self.cfg.clip:
            p = p.clamp(-self.cfg.clip, self.cfg.clip)
        heads, erase, add = p.split([(R + 1) * self.per_head, M, M], -1)  # split: one op back, not one per slice
        key, beta, g, s, gamma = heads.view(h.shape[0], R + 1, self.per_head).split([M, 1, 1, S, 1], -1)
        return (
            torch.tanh(key),
            F.softplus(beta),
            torch.sigmoid(g),
            torch.softmax(s, -1),
            1 + F.softplus(gamma),
            torch.sigmoid(erase),
            torch.tanh(add),
        )

    def step(
        self,
        x_t: Float[Tensor, "n d_in"],
        read: Float[Tensor, "n R M"],
        h: Float[Tensor, "n H"],
        c: Float[Tensor, "n H"],
        w: Float[Tensor, "n heads N"],
        mem: Float[Tensor, "n N M"],
        hooked: bool = False,
    ):
        """One time step: (output features, read, h, c, weightings, memory). Pure, so it can be compiled."""
        n, R = x_t.shape[0], self.cfg.read_heads
        hook = (lambda k, v: getattr(self, k)(v)) if hooked else (lambda k, v: v)  # noqa: E731
        inp = torch.cat([x_t, read.reshape(n, -1)], -1)
        if self.cfg.controller == "lstm":
            h, c = self.controller(inp, (h, c))
        else:
            h = torch.relu(self.controller(inp))
        h = hook("hook_ctrl_out", h)
        key, beta, g, s, gamma, erase, add = self._heads(h)
        w = address(key, beta, g, s, gamma, w, mem)
        w_r, w_w = hook("hook_read_w", w[:, :R]), hook("hook_write_w", w[:, R])
        if hooked:  # a hook may have edited the weightings: carry the edited ones
            w = torch.cat([w_r, w_w[:, None]], 1)
        read = hook("hook_read", torch.bmm(w_r, mem))  # eq. 2, before this step's write
        # eq. 3-4: M <- M (1 - w e) + w a, written as M + w (a - M e)
        mem = hook("hook_memory", torch.addcmul(mem, w_w[..., None], add[:, None, :] - mem * erase[:, None, :]))
        return torch.cat([h, read.reshape(n, -1)], -1), read, h, c, w, mem

    def compile_step(self) -> None:
        """Run `step` through torch.compile while nothing is hooked (about 2x faster to train on CPU).

        The first call at each batch shape compiles (tens of seconds) and is checked against the
        eager step, step by step: each compiled step is given the eager step's state, and `forward` raises
        `CompiledStepMismatch` if any of its outputs differs by more than `STEP_TOLERANCE` of that output's
        scale. Compared over a whole unrolled sequence instead, sharp trained weightings amplify float32
        rounding until two correct steps differ by several times what other op orders give, and a sound
        compiled step was refused now and then; fed the same state, they differ by rounding only.
        (Runtime type checkers such as the test suite's jaxtyping hook cannot be traced: compile
        outside them.)
        """
        # One graph per (batch shape, memory size, grad mode): memory sizes drawn per batch need more than
        # dynamo's default of 8.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        self._compiled = torch.compile(self.step, dynamic=False, fullgraph=True)
        self._checked: set[tuple[int, ...]] = set()

    def forward(self, x: Float[Tensor, "n t d_in"], N: int | None = None) -> Float[Tensor, "n t d_out"]:
        """Logits; `N` memory locations instead of the config's (no weight depends on N)."""
        N = N or self.cfg.N
        # Hook points cost a module call each, several per step: skip them while nothing is hooked.
        hooked = any(getattr(self, k).fwd_hooks for k in HOOKS)
        compiled = getattr(self, "_compiled", None)
        if compiled is None or hooked:
            return self._unroll(x, lambda *a: self.step(*a, hooked=hooked), N)
        if (*x.shape[::2], N) not in self._checked:
            diff, at = self.step_mismatch(x, compiled, N)
            if not diff <= STEP_TOLERANCE:
                raise CompiledStepMismatch(
                    f"the compiled NTM step differs from the eager step by {diff:.3g} of the scale of {at} "
                    f"(tolerance {STEP_TOLERANCE:g}, torch {torch.__version__}); train without compiling"
                )
            self._checked.add((*x.shape[::2], N))
        return self._unroll(x, compiled, N)

    @torch.no_grad()
    def step_mismatch(self, x: Float[Tensor, "n t d_in"], step, N: int) -> tuple[float, str]:
        """(largest difference, relative to the output's scale, between `step` and the eager step over `x`'s
        steps, which output): each step of `step` starts from the eager step's state, so the recurrence
        cannot amplify rounding into a difference."""
        state, worst, at = self._initial(x, N), 0.0, ""
        for t in range(x.shape[1]):
            want = self.step(x[:, t].contiguous(), *state)
            got = step(x[:, t].contiguous(), *state)
            for name, a, b in zip(STEP_OUTPUTS, got, want, strict=True):
                d = float((a - b).abs().max()) / max(1.0, float(b.abs().max()))
                if not d <= worst:  # NaN counts as the worst
                    worst, at = d, f"{name} at step {t}"
            state = want[1:]
        return worst, at

    def _initial(self, x: Float[Tensor, "n t d_in"], N: int) -> tuple[Tensor, ...]:
        """(read, h, c, weightings, memory) before the first step."""
        cfg, n = self.cfg, x.shape[0]
        mem = torch.full((n, N, cfg.M), cfg.memory_init, device=x.device, dtype=x.dtype)
        w = torch.zeros(n, cfg.read_heads + 1, N, device=x.device, dtype=x.dtype)
        w[..., 0] = 1.0
        read = self.read0.expand(n, cfg.read_heads, cfg.M).contiguous()
        h = c = torch.zeros(n, cfg.d_hidden, device=x.device, dtype=x.dtype)
        return read, h, c, w, mem

    def _unroll(self, x: Float[Tensor, "n t d_in"], step, N: int) -> Float[Tensor, "n t d_out"]:
        read, h, c, w, mem = self._initial(x, N)
        outs = []
        for t in range(x.shape[1]):
            out, read, h, c, w, mem = step(x[:, t].contiguous(), read, h, c, w, mem)
            outs.append(out)
        return self.to_out(torch.stack(outs, 1))

    def forward_plain(self, x: Float[Tensor, "n t d_in"], N: int | None = None) -> Float[Tensor, "n t d_out"]:
        """The step as the paper writes it, op by op and without hooks: the reference `forward` is tested against."""
        cfg = self.cfg
        n, T, _ = x.shape
        R, M, S, N = cfg.read_heads, cfg.M, 2 * cfg.shift + 1, N or cfg.N
        mem = torch.full((n, N, M), cfg.memory_init, device=x.device, dtype=x.dtype)
        w = torch.zeros(n, R + 1, N, device=x.device, dtype=x.dtype)
        w[..., 0] = 1.0
        read = self.read0.expand(n, R, M)
        state, outs = None, []
        for t in range(T):
            inp = torch.cat([x[:, t], read.reshape(n, -1)], -1)
            if cfg.controller == "lstm":
                state = self.controller(inp, state)
                h = state[0]
            else:
                h = torch.relu(self.controller(inp))
            p = self.to_heads(h)
            if cfg.clip:
                p = p.clamp(-cfg.clip, cfg.clip)
            heads = p[:, : -2 * M].view(n, R + 1, self.per_head)
            w = address_plain(
                torch.tanh(heads[..., :M]),
                F.softplus(heads[..., M]),
                torch.sigmoid(heads[..., M + 1]),
                torch.softmax(heads[..., M + 2 : M + 2 + S], -1),
                1 + F.softplus(heads[..., M + 2 + S]),
                w,
                mem,
            )
            erase, add = torch.sigmoid(p[:, -2 * M : -M]), torch.tanh(p[:, -M:])
            read = torch.einsum("nhN,nNM->nhM", w[:, :R], mem)
            mem = mem * (1 - w[:, R, :, None] * erase[:, None, :]) + w[:, R, :, None] * add[:, None, :]
            outs.append(self.to_out(torch.cat([h, read.reshape(n, -1)], -1)))
        return torch.stack(outs, 1)
