"""Algorithmic memory tasks of Graves, Wayne & Danihelka (2014), "Neural Turing Machines", sec. 4.

Each task is a pure function of (config, seed) returning a `Seq`: inputs and targets on one
time axis, batch first, and a mask that marks the steps whose outputs are scored. Lengths are
drawn once per batch, so a batch is one tensor without padding. Costs are in bits per sequence,
the paper's metric: summed binary cross-entropy (log base 2) over the scored bits.

    python -m interp.memory train --task copy --model ntm --out runs/memory/copy-ntm
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor


@dataclass(frozen=True)
class Seq:
    inputs: Float[Tensor, "n t c_in"]
    targets: Float[Tensor, "n t c_out"]
    mask: Float[Tensor, "n t"]  # 1 where the output is scored

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Seq:
        return Seq(*(v.to(device, dtype) for v in (self.inputs, self.targets, self.mask)))


@dataclass(frozen=True)
class CopyConfig:
    n: int = 32
    width: int = 8  # bits per vector
    min_len: int = 1
    max_len: int = 20  # training range 1-20 (sec. 4.1)
    length: int | None = None  # fixed length (evaluation beyond the training range)


@dataclass(frozen=True)
class RepeatCopyConfig:
    n: int = 32
    width: int = 8
    min_len: int = 1
    max_len: int = 10
    min_repeats: int = 1
    max_repeats: int = 10  # training ranges of sec. 4.2
    length: int | None = None
    repeats: int | None = None
    repeat_norm: float = 10.0  # "scalar": the count is fed as repeats / repeat_norm on its own channel
    # "scalar": one step holds repeats / repeat_norm (the paper feeds one scalar); "unary": the count channel is on
    # for `repeats` steps after the delimiter, so 20 is 20 pulses, not a value never seen in training
    count: Literal["scalar", "unary"] = "scalar"


@dataclass(frozen=True)
class RecallConfig:
    n: int = 32
    width: int = 6
    item_len: int = 3  # vectors per item (sec. 4.3)
    min_items: int = 2
    max_items: int = 6
    items: int | None = None


@dataclass(frozen=True)
class NGramConfig:
    n: int = 32
    order: int = 6  # 6-grams: the next bit depends on the previous 5 (sec. 4.4)
    length: int = 200


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _on_cpu(fn):
    """Run a generator with the CPU as the default device: its torch.Generator draws there, whatever default
    device the caller set; callers move batches to their model's device (`Seq.to`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.device("cpu"):
            return fn(*args, **kwargs)

    return wrapper


def _draw(g: torch.Generator, lo: int, hi: int, fixed: int | None) -> int:
    return fixed if fixed is not None else int(torch.randint(lo, hi + 1, (1,), generator=g))


@_on_cpu
def make_copy(cfg: CopyConfig, seed: int) -> Seq:
    """Copy (sec. 4.1): L random vectors, an end flag on its own channel, then L blank steps to recall them."""
    g = _gen(seed)
    L = _draw(g, cfg.min_len, cfg.max_len, cfg.length)
    bits = torch.randint(0, 2, (cfg.n, L, cfg.width), generator=g).float()
    x = torch.zeros(cfg.n, 2 * L + 1, cfg.width + 1)
    x[:, :L, : cfg.width] = bits
    x[:, L, cfg.width] = 1.0
    y = torch.zeros(cfg.n, 2 * L + 1, cfg.width)
    y[:, L + 1 :] = bits
    mask = torch.zeros(cfg.n, 2 * L + 1)
    mask[:, L + 1 :] = 1.0
    return Seq(x, y, mask)


@_on_cpu
def make_repeat_copy(cfg: RepeatCopyConfig, seed: int) -> Seq:
    """Repeat copy (sec. 4.2): the sequence, a delimiter, then the repeat count on its own channel (one
    scalar step, or `repeats` unit pulses); the target is the sequence repeated that many times, then an end
    marker on an extra channel."""
    g = _gen(seed)
    L = _draw(g, cfg.min_len, cfg.max_len, cfg.length)
    R = _draw(g, cfg.min_repeats, cfg.max_repeats, cfg.repeats)
    bits = torch.randint(0, 2, (cfg.n, L, cfg.width), generator=g).float()
    start = L + 1 + (R if cfg.count == "unary" else 0)  # the first output step
    T = start + R * L + 1
    x = torch.zeros(cfg.n, T, cfg.width + 2)
    x[:, :L, : cfg.width] = bits
    x[:, L, cfg.width] = 1.0  # delimiter
    if cfg.count == "unary":
        x[:, L + 1 : start, cfg.width + 1] = 1.0
    else:
        x[:, L, cfg.width + 1] = R / cfg.repeat_norm
    y = torch.zeros(cfg.n, T, cfg.width + 1)
    y[:, start : start + R * L, : cfg.width] = bits.repeat(1, R, 1)
    y[:, -1, cfg.width] = 1.0  # end marker
    mask = torch.zeros(cfg.n, T)
    mask[:, start:] = 1.0
    return Seq(x, y, mask)


@_on_cpu
def make_recall(cfg: RecallConfig, seed: int) -> Seq:
    """Associative recall (sec. 4.3): items of `item_len` vectors, each opened by a delimiter; then a
    query item between two query delimiters; the target is the item that followed it."""
    g = _gen(seed)
    k = _draw(g, cfg.min_items, cfg.max_items, cfg.items)
    w, m = cfg.width, cfg.item_len
    items = torch.randint(0, 2, (cfg.n, k, m, w), generator=g).float()
    q = torch.randint(0, k - 1, (cfg.n,), generator=g)  # never the last item: it has no successor
    step = m + 1
    T = k * step + 1 + m + 1 + m
    x = torch.zeros(cfg.n, T, w + 2)
    for i in range(k):
        x[:, i * step, w] = 1.0
        x[:, i * step + 1 : (i + 1) * step, :w] = items[:, i]
    s = k * step
    rows = torch.arange(cfg.n)
    x[:, s, w + 1] = 1.0
    x[:, s + 1 : s + 1 + m, :w] = items[rows, q]
    x[:, s + 1 + m, w + 1] = 1.0
    y = torch.zeros(cfg.n, T, w)
    y[:, -m:] = items[rows, q + 1]
    mask = torch.zeros(cfg.n, T)
    mask[:, -m:] = 1.0
    return Seq(x, y, mask)


@_on_cpu
def make_ngrams(cfg: NGramConfig, seed: int) -> tuple[Seq, Float[Tensor, "n t"]]:
    """Dynamic N-grams (sec. 4.4): per sequence a table of 2^(order-1) probabilities from Beta(1/2, 1/2);
    each bit is drawn given the previous order-1 bits (zeros before the start). Input bit t, target bit t+1.

    Also returns the true generating probabilities of each target bit (not the optimal estimate)."""
    g = _gen(seed)
    k = cfg.order - 1
    u = torch.rand(cfg.n, 2**k, generator=g)  # torch's Beta takes no generator: use the inverse CDF
    table = torch.sin(u * torch.pi / 2) ** 2  # Beta(1/2, 1/2) is the arcsine law: F^-1(u) = sin^2(pi u / 2)
    bits = torch.zeros(cfg.n, cfg.length + k)
    p_true = torch.zeros(cfg.n, cfg.length)
    weights = 2 ** torch.arange(k - 1, -1, -1)
    noise = torch.rand(cfg.n, cfg.length, generator=g)
    rows = torch.arange(cfg.n)
    for t in range(cfg.length):
        ctx = (bits[:, t : t + k] * weights).sum(1).long()
        p = table[rows, ctx]
        p_true[:, t] = p
        bits[:, t + k] = (noise[:, t] < p).float()
    seq = bits[:, k:]
    x = seq[:, :-1, None]
    y = seq[:, 1:, None]
    return Seq(x, y, torch.ones(cfg.n, cfg.length - 1)), p_true[:, 1:]


@_on_cpu
def ngram_optimal(inputs: Float[Tensor, "n t 1"], order: int = 6) -> Float[Tensor, "n t"]:
    """Bayes-optimal P(next bit = 1) (sec. 4.4): (N1 + 1/2) / (N1 + N0 + 1), counts of what followed the
    current context earlier in the same sequence (contexts before the start are zeros)."""
    n, T = inputs.shape[:2]
    k = order - 1
    bits = torch.cat([torch.zeros(n, k - 1), inputs[..., 0]], 1)  # the target's context ends at the input bit
    weights = 2 ** torch.arange(k - 1, -1, -1)
    ones = torch.zeros(n, 2**k)
    total = torch.zeros(n, 2**k)
    out = torch.zeros(n, T)
    rows = torch.arange(n)
    ones[:, 0] += inputs[:, 0, 0]  # the first bit followed the all-zero context
    total[:, 0] += 1
    for t in range(T):
        ctx = (bits[:, t : t + k] * weights).sum(1).long()
        out[:, t] = (ones[rows, ctx] + 0.5) / (total[rows, ctx] + 1.0)
        if t + 1 < T:  # the bit that followed this context is the next input
            nxt = inputs[:, t + 1, 0]
            ones[rows, ctx] += nxt
            total[rows, ctx] += 1
    return out


def bits_per_sequence(logits: Float[Tensor, "n t c"], seq: Seq) -> Float[Tensor, ""]:
    """Mean over sequences of the summed cross-entropy in bits over the scored steps (the paper's cost)."""
    bce = F.binary_cross_entropy_with_logits(logits.float(), seq.targets.float(), reduction="none").sum(-1)
    return (bce * seq.mask.float()).sum(1).mean() / math.log(2)


def prob_bits_per_sequence(p: Float[Tensor, "n t"], targets: Float[Tensor, "n t"]) -> Float[Tensor, ""]:
    """The same cost for a predictor given as probabilities (the optimal N-gram estimator)."""
    p = p.clamp(1e-7, 1 - 1e-7)
    return -(targets * torch.log2(p) + (1 - targets) * torch.log2(1 - p)).sum(1).mean()


def _ngram_seq(cfg: NGramConfig, seed: int) -> Seq:
    return make_ngrams(cfg, seed)[0]


@dataclass(frozen=True)
class TaskSpec:
    """Everything the toolkit knows about one task: how to draw it and how it is evaluated and drawn."""

    make: Callable[[Any, int], Seq]
    config: type
    figure: Literal["cost_curve", "repeat", "ngrams"]  # how the report draws its evaluation
    points: tuple[dict, ...] = ()  # held-out evaluation settings beyond the training range (generator overrides)
    x: tuple = ()  # the label of each point
    xlabel: str = ""
    example: dict | None = None  # the setting of the one sequence drawn in the report (cost_curve tasks)
    eval_batches: int = 2  # held-out batches of 32 per point by default


TASKS: dict[str, TaskSpec] = {
    "copy": TaskSpec(
        make_copy,
        CopyConfig,
        "cost_curve",
        tuple({"length": L} for L in (10, 20, 30, 50, 80, 120)),
        (10, 20, 30, 50, 80, 120),
        "sequence length (trained on 1-20)",
        {"length": 20},
    ),
    "repeat_copy": TaskSpec(
        make_repeat_copy,
        RepeatCopyConfig,
        "repeat",
        ({"length": 10, "repeats": 20}, {"length": 20, "repeats": 10}),
        ("length 10, repeat 20", "length 20, repeat 10"),
        "setting",
        eval_batches=20,  # 640 sequences per setting: a failure in one sequence in 50 shows
    ),
    "recall": TaskSpec(
        make_recall,
        RecallConfig,
        "cost_curve",
        tuple({"items": k} for k in (2, 4, 6, 8, 10, 12)),
        (2, 4, 6, 8, 10, 12),
        "items (trained on 2-6)",
        {"items": 6},
    ),
    "ngrams": TaskSpec(_ngram_seq, NGramConfig, "ngrams"),
}


def sample(task: str, seed: int, **overrides) -> Seq:
    """One batch of `task` from its generator, with config fields overridden (n, length, ...)."""
    spec = TASKS[task]
    return spec.make(spec.config(**overrides), seed)


def dims(task: str) -> tuple[int, int]:
    """(input channels, output channels) of a task at its default config."""
    seq = sample(task, 0, n=1)
    return seq.inputs.shape[-1], seq.targets.shape[-1]
