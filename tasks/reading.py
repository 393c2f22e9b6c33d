"""Where a probe reads each digit of an arithmetic answer, for any tokenizer.

`emit` reads each digit at the last token that ends before it, so no read position holds its own label,
whether the tokenizer writes one token per digit or groups digits (most BPEs); `read_plan` says which
scales then share a position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Int

from interp.tasks.arithmetic import Problems


def token_positions(tokenizer, problems: Problems, prepend_bos: bool) -> dict[str, Int[np.ndarray, " n"]]:
    """Token index of the final '=', the last token of the second operand, and the last token.

    Uses the tokenizer's character offsets, so it holds whether numbers are split
    into single digits or not.
    """
    enc = tokenizer(problems.prompts, add_special_tokens=False, return_offsets_mapping=True)
    shift = int(prepend_bos)
    out = {"equals": [], "last_operand": [], "last": []}
    for text, offsets in zip(problems.prompts, enc["offset_mapping"], strict=True):
        out["equals"].append(_token_at(offsets, len(text) - 1, text) + shift)
        out["last_operand"].append(_token_at(offsets, len(text) - 2, text) + shift)
        out["last"].append(len(offsets) - 1 + shift)
    return {k: np.array(v) for k, v in out.items()}


def probe_texts(problems: Problems) -> list[str]:
    """What the probe run feeds the model: the prompts, followed by their correct answers for `emit`.

    >>> probe_texts(make_arithmetic(ArithmeticConfig(n=1, shots=0), seed=1))   # emit: the answer follows
    ['...=...']
    """
    if problems.cfg.read_at != "emit":
        return problems.prompts
    cfg = problems.cfg
    return [
        p + cfg.answer(int(x), int(y), int(z))
        for p, x, y, z in zip(problems.prompts, problems.a, problems.b, problems.answer, strict=True)
    ]


@dataclass(frozen=True)
class ReadPositions:
    """Where each digit scale is read, and what the tokenizer did to the answer.

    `pos[i, k-1]` is the token index at which problem i's scale-k digit is read. For `emit`
    it is the last token that ends before the digit's character: the position that predicts the
    token writing the digit. With a tokenizer that writes several digits as one token (most BPEs),
    several scales share that position; `shared[k-1, j-1]` counts the problems where scales k and j
    (both written) are read at one position. `digits_split` is True when every answer digit is a
    token of its own, the only case in which a readout over the tokens `0`-`9` means anything.
    """

    pos: Int[np.ndarray, "n scales"]
    shared: Int[np.ndarray, "scales scales"]
    digits_split: bool

    def sharing(self) -> dict[str, int]:
        """`{"1-2": count, ...}`: problems whose two written scales share one read position (pairs that do)."""
        T = len(self.shared)
        return {
            f"{k + 1}-{j + 1}": int(self.shared[k, j]) for k in range(T) for j in range(k + 1, T) if self.shared[k, j]
        }


def read_positions(tokenizer, problems: Problems, prepend_bos: bool) -> Int[np.ndarray, "n scales"]:
    """Token index at which each digit scale is read, for `probe_texts(problems)`: `read_plan(...).pos`.

    >>> problems = make_arithmetic(ArithmeticConfig(n=60, digits=(1, 2), shots=1), seed=0)
    >>> read_positions(model.tokenizer, problems, prepend_bos=False).shape   # [n, scale]
    (60, 4)
    """
    return read_plan(tokenizer, problems, prepend_bos).pos


def read_plan(tokenizer, problems: Problems, prepend_bos: bool) -> ReadPositions:
    """Where each digit scale is read, for `probe_texts(problems)`, and what the tokenizer did to the answers.

    `emit`: the last token that ends before the scale-k digit, i.e. the position that predicts the
    token writing it (the final `=` for the leading digit, then each written digit for the next when
    digits are one token each). Every such position provably ends before its digit: the run never
    reads inside the answer. A scale the answer does not write reads where the leading digit is read
    (its label is masked out). Other read positions are the same for every scale.

    >>> problems = make_arithmetic(ArithmeticConfig(n=60, digits=(1, 2), shots=1), seed=0)
    >>> plan = read_plan(model.tokenizer, problems, prepend_bos=False)
    >>> plan.digits_split, plan.sharing()          # one token per digit: no scale shares a position
    (True, {})
    """
    cfg = problems.cfg
    n, T = len(problems), cfg.scales
    answered = [
        p + cfg.answer(int(x), int(y), int(z))
        for p, x, y, z in zip(problems.prompts, problems.a, problems.b, problems.answer, strict=True)
    ]
    enc = tokenizer(answered, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    split = all(
        all(s >= len(p) and e - s == 1 for s, e in offsets if e > len(p))
        for p, offsets in zip(problems.prompts, enc, strict=True)
    )
    shared = np.zeros((T, T), dtype=int)
    if cfg.read_at != "emit":
        fixed = token_positions(tokenizer, problems, prepend_bos)
        return ReadPositions(np.repeat(fixed[cfg.read_at][:, None], T, 1), shared, split)
    pos = np.zeros((n, T), dtype=int)
    for i, (prompt, text, offsets) in enumerate(zip(problems.prompts, answered, enc, strict=True)):
        width = len(text) - len(prompt)
        for k in range(1, T + 1):
            char = len(text) - min(k, width)  # the scale-k digit (the leading one when not written)
            t = _token_at(offsets, char, text)
            if t == 0 or offsets[t - 1][1] > char:  # never read a token that holds the digit
                raise ValueError(f"no token ends before the answer's digit in {text!r}")
            pos[i, k - 1] = t - 1 + int(prepend_bos)
        w = min(width, T)
        shared[:w, :w] += (pos[i, :w, None] == pos[i, None, :w]) & ~np.eye(w, dtype=bool)
    return ReadPositions(pos, shared, split)


def _token_at(offsets: list[tuple[int, int]], char: int, text: str) -> int:
    for t, (s, e) in enumerate(offsets):
        if s <= char < e:
            return t
    raise ValueError(f"no token covers character {char} of {text!r}")
