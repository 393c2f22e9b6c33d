"""Arithmetic problems as pure functions of (config, seed), with every label a probe needs.

A prompt is `shots` solved examples then the question: `12+35=47\\n3+4=7\\n405+17=`.
Labels are digits of the answer by scale (1 = ones, 2 = tens, ...; a missing
high digit is 0), the answer's length, operand digits and carries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from jaxtyping import Int

Op = Literal["add", "sub", "mul"]
ReadAt = Literal["emit", "equals", "last_operand", "last"]
SYMBOL = {"add": "+", "sub": "-", "mul": "*"}


@dataclass(frozen=True)
class ArithmeticConfig:
    """What arithmetic problems to make and where probes read them.

    >>> ArithmeticConfig(digits=(2, 2)).format(12, 35)
    '12+35='
    """

    n: int = 500
    op: Op = "add"
    digits: tuple[int, int] = (1, 4)  # operand length range, inclusive: (2, 2) = 2-digit only
    shots: int = 3  # solved examples before the question (0 = zero-shot)
    # Where probes read. "emit": each answer digit at the position that predicts it, with the correct
    # answer written after the prompt (teacher forcing); or the final '=', last operand token, last token.
    read_at: ReadAt = "emit"
    scales: int = 4  # answer digit scales to label: 1 = ones ... 4 = thousands
    pad: int = 0  # zero-pad operands to this many digits, answers to the widest (0 = no padding)

    def __post_init__(self):
        lo, hi = self.digits
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if not 1 <= lo <= hi <= 9:
            raise ValueError(f"digits must be a range within 1-9, got {self.digits}")
        if self.op not in SYMBOL:
            raise ValueError(f"op must be one of {', '.join(SYMBOL)}, got {self.op!r}")
        if self.shots < 0 or self.scales < 1:
            raise ValueError("shots must be >= 0 and scales >= 1")
        if self.pad and self.pad < hi:
            raise ValueError(f"pad must be 0 or at least the operand length {hi}, got {self.pad}")

    def max_written(self) -> int:
        """The most answer digits any problem of this config writes."""
        hi = 10 ** self.digits[1] - 1
        top = {"add": 2 * hi, "sub": hi, "mul": hi * hi}[self.op]
        return len(self.answer(hi, hi if self.op != "sub" else 0, top))

    def answer(self, a: int, b: int, answer: int) -> str:
        """The answer as this format writes it, e.g. `47` or, padded, `00047`."""
        return self.format(a, b, answer)[len(self.format(a, b)) : -1]

    def format(self, a: int, b: int, answer: int | None = None) -> str:
        """One problem as text: `12+35=` or, with its answer, `12+35=47\n`."""
        w = self.pad
        ans_w = {"add": w + 1, "sub": w, "mul": 2 * w}[self.op] if w else 0
        q = f"{a:0{w}d}{SYMBOL[self.op]}{b:0{w}d}="
        return q if answer is None else f"{q}{answer:0{ans_w}d}\n"


@dataclass(frozen=True)
class Problems:
    cfg: ArithmeticConfig
    seed: int
    a: Int[np.ndarray, " n"]
    b: Int[np.ndarray, " n"]
    answer: Int[np.ndarray, " n"]
    prompts: list[str]
    labels: dict[str, Int[np.ndarray, " n"]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.prompts)


def operands(rng: np.random.Generator, cfg: ArithmeticConfig, n: int) -> Int[np.ndarray, " n"]:
    """Length uniform in the range, then value uniform among numbers of that length."""
    lengths = rng.integers(cfg.digits[0], cfg.digits[1] + 1, size=n)
    lo = np.where(lengths == 1, 0, 10 ** (lengths - 1))
    return rng.integers(lo, 10**lengths)


def _pairs(rng, cfg, n):
    a, b = operands(rng, cfg, n), operands(rng, cfg, n)
    if cfg.op == "sub":  # keep answers non-negative: a is the larger operand
        a, b = np.maximum(a, b), np.minimum(a, b)
    ans = {"add": a + b, "sub": a - b, "mul": a * b}[cfg.op]
    return a, b, ans


def digit(x: Int[np.ndarray, " n"], scale: int) -> Int[np.ndarray, " n"]:
    """Digit at `scale` (1 = ones); 0 where the number is shorter."""
    return (x // 10 ** (scale - 1)) % 10


def make_arithmetic(cfg: ArithmeticConfig, seed: int) -> Problems:
    """Problems and labels; the same (cfg, seed) always gives the same problems.

    >>> problems = make_arithmetic(ArithmeticConfig(n=60, digits=(1, 2), shots=1), seed=0)
    >>> len(problems), problems.labels["digit_1"].shape
    (60, (60,))
    """
    rng = np.random.default_rng(seed)
    a, b, ans = _pairs(rng, cfg, cfg.n)
    prompts = []
    for i in range(cfg.n):
        sa, sb, sans = _pairs(rng, cfg, cfg.shots)
        shots = "".join(cfg.format(int(x), int(y), int(z)) for x, y, z in zip(sa, sb, sans, strict=True))
        prompts.append(shots + cfg.format(int(a[i]), int(b[i])))
    written = [len(cfg.answer(int(x), int(y), int(z))) for x, y, z in zip(a, b, ans, strict=True)]
    labels = {"n_digits": np.array([len(str(v)) for v in ans]), "written_digits": np.array(written)}
    for k in range(1, cfg.scales + 1):
        labels[f"digit_{k}"] = digit(ans, k)
        labels[f"a_digit_{k}"] = digit(a, k)
        labels[f"b_digit_{k}"] = digit(b, k)
        if cfg.op in ("add", "sub"):  # carry (add) or borrow (sub) out of column k
            m = 10**k
            labels[f"carry_{k}"] = ((a % m + b % m >= m) if cfg.op == "add" else (a % m < b % m)).astype(int)
    return Problems(cfg, seed, a, b, ans, prompts, labels)


def to_dataset(problems: Problems):
    """The exact problems as a `datasets.Dataset` (save with `.save_to_disk(path)`)."""
    from datasets import Dataset

    ds = Dataset.from_dict(
        {"prompt": problems.prompts, "a": problems.a, "b": problems.b, "answer": problems.answer, **problems.labels}
    )
    cfg = asdict(problems.cfg) | {"seed": problems.seed}
    ds.info.description = repr(cfg)
    return ds


@dataclass(frozen=True)
class Pairs:
    """Clean/corrupted prompts for patching: the same few-shot prefix, the first operand's leading digit changed.

    The corruption keeps every prompt the same length and changes the answer's first character,
    so the logit difference between the two answers' first tokens measures the answer.
    """

    cfg: ArithmeticConfig
    seed: int
    a: Int[np.ndarray, " n"]
    a_corrupt: Int[np.ndarray, " n"]
    b: Int[np.ndarray, " n"]
    clean: list[str]
    corrupt: list[str]
    answer: Int[np.ndarray, " n"]
    answer_corrupt: Int[np.ndarray, " n"]

    def __len__(self) -> int:
        return len(self.clean)


def make_pairs(cfg: ArithmeticConfig, seed: int) -> Pairs:
    """`cfg.n` clean/corrupted pairs; one shared prefix of `cfg.shots` solved examples.

    >>> pairs = make_pairs(ArithmeticConfig(n=4, digits=(2, 2)), seed=0)
    >>> len(pairs.clean[0]) == len(pairs.corrupt[0])
    True
    """
    f = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y}[cfg.op]
    rng = np.random.default_rng(seed)
    sa, sb, sans = _pairs(rng, cfg, cfg.shots)
    prefix = "".join(cfg.format(int(x), int(y), int(z)) for x, y, z in zip(sa, sb, sans, strict=True))
    rows: list[tuple[int, int, int]] = []
    for _ in range(100 * cfg.n):
        if len(rows) == cfg.n:
            break
        a, b, ans = (int(v[0]) for v in _pairs(rng, cfg, 1))
        width = len(str(a))
        lead, rest = divmod(a, 10 ** (width - 1))
        options = [d for d in range(1 if width > 1 else 0, 10) if d != lead]
        rng.shuffle(options)
        for d in options:  # first option that keeps the answer valid and changes its first character
            a2 = d * 10 ** (width - 1) + rest
            if cfg.op == "sub" and a2 < b:
                continue
            if cfg.format(a2, b, f(a2, b))[len(cfg.format(a2, b))] != cfg.format(a, b, ans)[len(cfg.format(a, b))]:
                rows.append((a, a2, b))
                break
    if len(rows) < cfg.n:
        raise ValueError(f"could not build {cfg.n} pairs whose answers start differently for {cfg}")
    a, a2, b = (np.array(v) for v in zip(*rows, strict=True))
    return Pairs(
        cfg,
        seed,
        a,
        a2,
        b,
        [prefix + cfg.format(int(x), int(y)) for x, y in zip(a, b, strict=True)],
        [prefix + cfg.format(int(x), int(y)) for x, y in zip(a2, b, strict=True)],
        f(a, b),
        f(a2, b),
    )
