"""Clean/corrupted prompt pairs as token batches that patching can line up position by position."""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Int
from torch import Tensor

from interp.core.errors import InterpError
from interp.hooks.tokens import tokenize
from interp.tasks.arithmetic import Pairs


def pair_tokens(model, pairs: Pairs) -> tuple[dict[str, Tensor], Int[np.ndarray, " kept"]]:
    """Token batches for `tasks.arithmetic.Pairs`: clean, corrupt, good/bad answer-token ids.

    Pairs whose two prompts tokenise to different lengths, or whose answers share a first
    token, cannot be patched position by position; they are dropped and the kept indices returned.

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> sorted(batch), batch["clean"].shape == batch["corrupt"].shape
    (['bad', 'clean', 'corrupt', 'good'], True)
    """
    cfg = pairs.cfg  # answers as the prompt format writes them (zero-padded where the format pads)
    answers = [cfg.answer(int(x), int(y), int(z)) for x, y, z in zip(pairs.a, pairs.b, pairs.answer, strict=True)]
    answers_c = [
        cfg.answer(int(x), int(y), int(z))
        for x, y, z in zip(pairs.a_corrupt, pairs.b, pairs.answer_corrupt, strict=True)
    ]
    c = tokenize(model, pairs.clean).ids
    k = tokenize(model, pairs.corrupt).ids
    cg = tokenize(model, [p + a for p, a in zip(pairs.clean, answers, strict=True)]).ids
    kb = tokenize(model, [p + a for p, a in zip(pairs.corrupt, answers_c, strict=True)]).ids
    rows = []
    for i in range(len(c)):
        if len(c[i]) != len(k[i]) or cg[i][: len(c[i])] != c[i] or kb[i][: len(k[i])] != k[i]:
            continue
        good, bad = cg[i][len(c[i])], kb[i][len(k[i])]
        if good != bad:
            rows.append(i)
    if not rows:
        raise InterpError("no clean/corrupted pair tokenises to equal lengths with different answer tokens")
    lengths = np.array([len(c[i]) for i in rows])
    mode = np.bincount(lengths).argmax()
    rows = [i for i, n in zip(rows, lengths, strict=True) if n == mode]  # one length: positions line up
    batch = {
        "clean": torch.tensor([c[i] for i in rows], device="cpu"),
        "corrupt": torch.tensor([k[i] for i in rows], device="cpu"),
        "good": torch.tensor([cg[i][len(c[i])] for i in rows], device="cpu"),
        "bad": torch.tensor([kb[i][len(k[i])] for i in rows], device="cpu"),
    }
    return batch, np.array(rows)
