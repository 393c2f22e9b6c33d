"""What the fast paths' self-checks cost: each fast path timed with its check and with the check removed.

    python benchmarks/selfcheck.py [--model smollm2-135m] [--json out.json]

The four checks of `interp.selfcheck`: early-stopped capture (500 probe prompts), cached greedy
decoding (64 problems), patching from the shared prefix's KV cache (100 pairs, the sublayer grid),
and chunked NLL (one 8,192-token window). Each setting runs twice, alternating, and the faster run
counts; each fast path's `check=False` removes its check (it exists for this benchmark).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch

from interp import longctx
from interp.behaviour import greedy_continuations
from interp.builtins import cache_dir
from interp.capture import capture
from interp.models import load_hf, load_model, model_info
from interp.pairs import pair_tokens
from interp.patching import PatchConfig
from interp.sublayers import run_patching
from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic, make_pairs, probe_texts, read_positions
from interp.tasks.long_context import LongContextConfig, load_documents, make_windows
from interp.versions import versions


def best_of(fn: Callable[[], object], repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    model = load_model(a.model)
    problems = make_arithmetic(ArithmeticConfig(n=500), 0)
    pos = read_positions(model.tokenizer, problems, model_info(model).prepend_bos)
    texts = probe_texts(problems)
    pairs, _ = pair_tokens(model, make_pairs(ArithmeticConfig(n=100, digits=(2, 2)), 0))
    _, _, hf, tok = load_hf(a.model, attn_implementation="sdpa")
    docs = load_documents(("kjv",), cache_dir())
    ids = [tok(d.text, add_special_tokens=False)["input_ids"] for d in docs]
    window = torch.as_tensor(make_windows(ids, [d.name for d in docs], LongContextConfig(tokens=8192, documents=1)).ids)

    def nll(check: bool) -> None:
        if check:
            longctx.check_chunked(hf, window)
        longctx.token_nll(hf, window)

    sites = ["attn_out", "mlp_out", "resid_post"]
    cases = {
        "capture (500 prompts, 3 sites, every layer)": lambda c: capture(
            model, texts, sites=sites, positions=pos, progress=False, check=c
        ),
        "greedy decoding (64 problems)": lambda c: greedy_continuations(
            model, problems.prompts[:64], 6, progress=False, check=c
        ),
        "patching (100 pairs, sublayer grid)": lambda c: run_patching(
            model, **pairs, cfg=PatchConfig(per_position=False, ablations=False), progress=False, check=c
        ),
        "chunked NLL (8,192 tokens)": nll,
    }
    rows = {}
    for name, fn in cases.items():
        fn(True)  # warm up
        with_check = best_of(lambda: fn(True))  # noqa: B023
        without_check = best_of(lambda: fn(False))  # noqa: B023
        rows[name] = {
            "with_check_s": with_check,
            "without_check_s": without_check,
            "overhead_pct": 100 * (with_check - without_check) / without_check,
        }
        print(name, json.dumps(rows[name]), flush=True)
    out = {"model": a.model, "threads": torch.get_num_threads(), "versions": versions(), "cases": rows}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
