"""Chunked long-context NLL vs a plain transformers forward with full logits.

    python benchmarks/nll.py [--runs smollm2-135m:8192 gemma3-270m:8192 gemma3-270m:32768]

Each measurement is its own process, so its peak RSS is its own. "chunked" is
`interp.context.nll.token_nll` (SDPA, 1024-position query chunks with a KV cache,
log-softmax per chunk); "plain" is `model(ids).logits.log_softmax(-1)` on the
whole sequence, run only where its logits fit in RAM (limit --plain-max-gb).
The two NLLs are compared where both ran. One document window (KJV, seed 0).
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
    from interp.models.loading import load_hf
    from interp.tasks.long_context import LongContextConfig, load_documents, make_windows

    torch.set_grad_enabled(False)
    name, _, hf, tok = load_hf(model, attn_implementation="sdpa")
    docs = load_documents(("kjv",))
    ids = [tok(d.text, add_special_tokens=False)["input_ids"] for d in docs]
    win = make_windows(ids, [d.name for d in docs], LongContextConfig(tokens=tokens, documents=1, seed=0))
    x = torch.as_tensor(win.ids)
    t = time.perf_counter()
    if mode == "chunked":
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
        "document": win.names[0],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", default=["smollm2-135m:8192", "gemma3-270m:8192", "gemma3-270m:32768"])
    ap.add_argument("--plain-max-gb", type=float, default=12.0)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), a.child[2])))
        return 0
    import numpy as np

    vocab = {"smollm2-135m": 49152, "gemma3-270m": 262144, "qwen2.5-coder-0.5b": 151936}
    rows = []
    for spec in a.runs:
        model, tokens = spec.split(":")
        modes = ["chunked"]
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
        if len(modes) == 2 and all("error" not in r for r in rows[-2:]):
            c = np.load(f"/tmp/nll-bench-{model}-{tokens}-chunked.npy")
            p = np.load(f"/tmp/nll-bench-{model}-{tokens}-plain.npy")
            print(
                json.dumps(
                    {
                        "model": model,
                        "tokens": int(tokens),
                        "max_abs_nll_diff": float(np.abs(c - p).max()),
                        "speed_ratio_plain_over_chunked": rows[-1]["seconds"] / rows[-2]["seconds"],
                    }
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
