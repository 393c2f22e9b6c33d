"""What the model itself answers: greedy decoding and exact-match accuracy.

A probe that reads a digit the model never gets right is worth knowing about,
so the probe run reports the model's own accuracy beside the probes.
"""

from __future__ import annotations

import inspect
import re
from contextlib import nullcontext

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from interp.core.selfcheck import agree
from interp.hooks.tokens import tokenize
from interp.models.devices import model_device
from interp.models.kv import threaded_cache
from interp.models.precision import check_tolerance


def greedy_continuations(
    model,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int = 32,
    progress: bool | None = None,
    check: bool = True,
) -> list[str]:
    """Greedy continuation text of each prompt.

    Uses the Hugging Face module inside the bridge with its KV cache when there
    is one (its log-probs match the bridge's), left-padded as HF expects. The
    first batch's first rows are checked against uncached forwards (`check=False` skips that: benchmarks only).
    """
    toks = tokenize(model, prompts)
    hf = getattr(model, "original_model", None)
    cached = hf is not None and hasattr(hf, "generate")
    tok, device = model.tokenizer, model_device(model)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    out = [""] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(toks.ids[i]))
    bar = tqdm(
        total=len(prompts), desc="greedy answers", leave=False, disable=None if progress is None else not progress
    )
    with torch.no_grad(), threaded_cache(model) if cached else nullcontext():  # hooks gone after: not our model
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            rows = [toks.ids[i] for i in idx]
            width = max(map(len, rows))
            ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
            if cached:
                gen = _generate(hf, ids, mask, max_new_tokens, pad_id, check=check and s == 0)
            else:  # any hooked model: no cache, one full forward per new token
                gen = _greedy_no_cache(model, rows, max_new_tokens, pad_id, device)
            for i, g in zip(idx, gen.cpu().tolist(), strict=True):
                out[i] = tok.decode(g, skip_special_tokens=True)
            bar.update(len(idx))
    bar.close()
    return out


def _generate(
    hf, ids: Int[Tensor, "b w"], mask: Int[Tensor, "b w"], max_new_tokens: int, pad_id: int, check: bool, rows: int = 2
) -> Int[Tensor, "b new"]:
    """HF's cached greedy generate; with `check`, the log-probs of its first rows' tokens are
    recomputed by one uncached forward over prompt + answer and must agree."""
    res = hf.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=pad_id,
        output_logits=check,
        return_dict_in_generate=True,
    )
    width = ids.shape[1]
    gen = res.sequences[:, width:]
    if check and gen.shape[1]:
        k = min(rows, len(ids))
        full = torch.cat([ids[:k], gen[:k]], 1)
        full_mask = torch.cat([mask[:k], torch.ones_like(gen[:k])], 1)
        plain = hf(input_ids=full, attention_mask=full_mask, use_cache=False).logits[:, width - 1 : -1]
        fast = torch.stack([step[:k] for step in res.logits], 1)  # not every row's: 0.12 GB at Qwen's vocabulary
        pick = lambda lg: lg.float().log_softmax(-1).gather(-1, gen[:k, :, None])[..., 0]  # noqa: E731
        atol, rtol = check_tolerance(hf, 1e-3)
        agree("cached greedy decoding: log-prob of each generated token", pick(fast), pick(plain), atol, rtol)
    return gen


def uncached_answer_logits(
    hf, ids: Int[Tensor, "k w"], mask: Int[Tensor, "k w"], new: int
) -> Float[Tensor, "k new vocab"]:
    """One uncached forward's logits at the `new` positions that predict the last `new` tokens of `ids`.
    Computed only there where the model's forward takes `logits_to_keep` (a whole sequence's would be
    0.15 GB at Qwen's vocabulary, the greedy answers' peak)."""
    if "logits_to_keep" in inspect.signature(hf.forward).parameters:
        return hf(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=new + 1).logits[:, :-1]
    return hf(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, -new - 1 : -1]


def _greedy_no_cache(model, rows, max_new_tokens, pad_id, device):
    rows = [list(r) for r in rows]
    new = [[] for _ in rows]
    for _ in range(max_new_tokens):
        lengths = [len(r) for r in rows]
        width = max(lengths)
        ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], device=device)
        logits = model(ids)
        last = torch.tensor(lengths, device=logits.device) - 1
        nxt = logits[torch.arange(len(rows), device=logits.device), last].argmax(-1).tolist()
        for r, nw, t in zip(rows, new, nxt, strict=True):
            r.append(t)
            nw.append(t)
    return torch.tensor(new, device="cpu")


def parse_number(text: str) -> int | None:
    m = re.match(r"\s*(-?\d+)", text)
    return int(m.group(1)) if m else None


def arithmetic_accuracy(answers: np.ndarray, said: list[str], a: np.ndarray, b: np.ndarray, scales: int) -> dict:
    """Exact match overall, per operand length (the longer operand), and per answer digit scale."""
    got = [parse_number(t) for t in said]
    exact = np.array([g == int(x) for g, x in zip(got, answers, strict=True)])
    length = np.maximum([len(str(v)) for v in a], [len(str(v)) for v in b])
    per_len = {int(k): float(exact[length == k].mean()) for k in np.unique(length)}
    per_scale = {}
    for k in range(1, scales + 1):
        has = answers >= 10 ** (k - 1)  # only answers that have this digit
        if has.any():
            ok = [
                g is not None and (g // 10 ** (k - 1)) % 10 == (int(x) // 10 ** (k - 1)) % 10
                for g, x in zip(np.array(got, dtype=object)[has], answers[has], strict=True)
            ]
            per_scale[k] = float(np.mean(ok))
    return {"exact": float(exact.mean()), "by_operand_digits": per_len, "by_scale": per_scale, "n": len(said)}
