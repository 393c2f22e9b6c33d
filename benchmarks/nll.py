"""Chunked long-context NLL vs a plain transformers forward with full logits, and float32 vs the fast format.

    python benchmarks/nll.py [--runs smollm2-135m:8192 gemma3-270m:8192 gemma3-270m:32768] [--fast]

Each measurement is its own process, so its peak RSS is its own. "chunked" is
`interp.context.nll.token_nll` (SDPA, 1024-position query chunks with a KV cache,
log-softmax per chunk); "plain" is `model(ids).logits.log_softmax(-1)` on the
whole sequence, run only where its logits fit in RAM (limit --plain-max-gb);
"bfloat16" (with --fast) is the chunked path in the NLL run's fast format
(`to_mixed` matmuls and `use_fast_attention`). Each is compared with chunked
float32: the largest change of one token's NLL and of a position bucket's mean.
One window of the KJV from a seeded offset.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(model: str, tokens: int, mode: str) -> dict:
    import numpy as np
    import torch

    from interp.context.nll import token_nll
    from interp.models.fast_attention import use_fast_attention
    from interp.models.loading import load_hf
    from interp.models.precision import to_mixed
    from interp.tasks.long_context import load_documents

    torch.set_grad_enabled(False)
    name, _, hf, tok = load_hf(model, attn_implementation="sdpa")
    doc = load_documents(("kjv",))[0]
    ids = tok(doc.text, add_special_tokens=False)["input_ids"]
    start = int(np.random.default_rng(0).integers(0, len(ids) - tokens))
    x = torch.as_tensor(ids[start : start + tokens])[None]
    if mode == "bfloat16":
        to_mixed(hf, torch.bfloat16, hf.config.get_text_config().hidden_size)
        use_fast_attention(hf, torch.bfloat16)
    t = time.perf_counter()
    if mode in ("chunked", "bfloat16"):
        nll = token_nll(hf, x)
    else:
        lp = hf(x).logits.float().log_softmax(-1)
        nll = -lp[:, :-1].gather(-1, x[:, 1:, None])[..., 0]
    secs = time.perf_counter() - t
    np.save(f"/tmp/nll-bench-{name}-{tokens}-{mode}.npy", nll.numpy())
    return {
        "model": name,
        "tokens": tokens,
        "mode": mode,
        "seconds": secs,
        "tokens_per_s": tokens / secs,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "mean_nll": float(nll.mean()),
        "document": doc.name,
        "start": start,
    }


def compare(model: str, tokens: int, mode: str, chunked: dict, other: dict) -> dict:
    """`mode` against chunked float32 on the same window: per token, per position bucket, and the time."""
    import numpy as np

    from interp.context.nll import bucket_means

    c = np.load(f"/tmp/nll-bench-{model}-{tokens}-chunked.npy")
    o = np.load(f"/tmp/nll-bench-{model}-{tokens}-{mode}.npy")
    bc, bo = bucket_means(c), bucket_means(o)
    return {
        "model": model,
        "tokens": tokens,
        "against_float32_chunked": mode,
        "max_abs_nll_diff": float(np.abs(c - o).max()),
        "max_bucket_mean_diff": max(abs(bc[k] - bo[k]) for k in bc),
        "speed_ratio": chunked["seconds"] / other["seconds"],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", default=["smollm2-135m:8192", "gemma3-270m:8192", "gemma3-270m:32768"])
    ap.add_argument("--plain-max-gb", type=float, default=12.0)
    ap.add_argument("--fast", action="store_true", help="also the chunked path in bfloat16")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), a.child[2])))
        return 0

    vocab = {"smollm2-135m": 49152, "gemma3-270m": 262144, "qwen2.5-coder-0.5b": 151936}
    rows = []
    for spec in a.runs:
        model, tokens = spec.split(":")
        modes = ["chunked"] + (["bfloat16"] if a.fast else [])
        if model in vocab and int(tokens) * vocab[model] * 4 * 2 / 2**30 <= a.plain_max_gb:  # logits + log-softmax
            modes.append("plain")
        for mode in modes:
            out = subprocess.run(
                [sys.executable, __file__, "--child", model, tokens, mode], capture_output=True, text=True
            )
            if out.returncode:
                rows.append({"model": model, "tokens": int(tokens), "mode": mode, "error": out.stderr[-300:]})
            else:
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
            if mode != "chunked" and "error" not in rows[-1] and "error" not in rows[-1 - modes.index(mode)]:
                print(json.dumps(compare(model, int(tokens), mode, rows[-1 - modes.index(mode)], rows[-1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
