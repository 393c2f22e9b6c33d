"""What the fast paths' self-checks cost: each fast path timed with its check and with the check removed.

    python benchmarks/selfcheck.py [--model smollm2-135m] [--json out.json]

The four checks of `interp.core.selfcheck`: early-stopped capture (500 probe prompts), cached greedy
decoding (64 problems), patching from the shared prefix's KV cache (50 pairs, the sublayer grid),
and chunked NLL (one 8,192-token window). After a warm-up, each setting runs `--rounds` times,
with and without the check alternately, and the fastest of each counts. Each fast path's
`check=False` removes its check (it exists for this benchmark). First, each check is also timed
on its own (the same call on two rows, with and without the check, median of 5), since a
check costs less than the run-to-run noise of the long runs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch

from interp.context import nll as longctx
from interp.core.stages import peak_rss_gb
from interp.core.versions import versions
from interp.hooks.capture import capture
from interp.interventions.pairs import pair_tokens
from interp.interventions.patching import PatchConfig, Patcher
from interp.interventions.sublayers import run_patching
from interp.models.behaviour import greedy_continuations
from interp.models.loading import load_hf, load_model, model_info
from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic, make_pairs
from interp.tasks.long_context import LongContextConfig, load_documents, make_windows
from interp.tasks.reading import probe_texts, read_positions


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def alternate(fn: Callable[[bool], object], rounds: int) -> tuple[float, float]:
    """Fastest time with and without the check, the two run alternately so that drift hits both."""
    with_check, without = [], []
    for _ in range(rounds):
        with_check.append(timed(lambda: fn(True)))
        without.append(timed(lambda: fn(False)))
    return min(with_check), min(without)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--json")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--direct-only", action="store_true", help="only time each check on its own")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    model = load_model(a.model)
    problems = make_arithmetic(ArithmeticConfig(n=500), 0)
    pos = read_positions(model.tokenizer, problems, model_info(model).prepend_bos)
    texts = probe_texts(problems)
    pairs, _ = pair_tokens(model, make_pairs(ArithmeticConfig(n=50, digits=(2, 2)), 0))
    _, _, hf, tok = load_hf(a.model, attn_implementation="sdpa")
    docs = load_documents(("kjv",))
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
        "patching (50 pairs, sublayer grid)": lambda c: run_patching(
            model, **pairs, cfg=PatchConfig(per_position=False, ablations=False), progress=False, check=c
        ),
        "chunked NLL (8,192 tokens)": nll,
    }
    # Each check on its own: the same call on the smallest input that still runs the check, with and
    # without it (median of 5), so the difference is the check's cost without the noise of a long run.
    small = {
        "capture (500 prompts, 3 sites, every layer)": lambda c: capture(
            model, texts[:2], sites=sites, positions=pos[:2], progress=False, check=c
        ),
        "greedy decoding (64 problems)": lambda c: greedy_continuations(
            model, problems.prompts[:2], 6, progress=False, check=c
        ),
        "patching (50 pairs, sublayer grid)": lambda c: Patcher(model, **pairs, check=c),
        "chunked NLL (8,192 tokens)": lambda c: longctx.check_chunked(hf, window) if c else None,
    }
    direct = {}
    for name, fn in small.items():
        fn(True)  # warm up
        diffs = sorted(timed(lambda: fn(True)) - timed(lambda: fn(False)) for _ in range(5))  # noqa: B023
        direct[name] = diffs[2]
        print(name, f"check alone: {direct[name]:.3f} s", flush=True)
    rows = {}
    for name, fn in ({} if a.direct_only else cases).items():
        fn(True)  # warm up
        with_check, without_check = alternate(fn, a.rounds)
        rows[name] = {
            "with_check_s": with_check,
            "without_check_s": without_check,
            "overhead_pct": 100 * (with_check - without_check) / without_check,
        }
        print(name, json.dumps(rows[name]), flush=True)
    out = {
        "model": a.model,
        "threads": torch.get_num_threads(),
        "versions": versions(),
        "cases": rows,
        "check_alone_s": direct,
        "peak_rss_gb": peak_rss_gb(),  # the whole benchmark's, every case in one process
    }
    print(f"peak RSS {out['peak_rss_gb']:.2f} GB")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
