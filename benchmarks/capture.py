"""Capture overhead vs a plain transformers forward, and model load times.

    python benchmarks/capture.py [--model smollm2-135m] [--n 512] [--rounds 3]

Each measurement runs in its own process (so peak RSS is its own), and the two
kinds alternate round by round, so machine noise hits both alike. Prints a
markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

SITES = ["attn_out", "mlp_out", "resid_post"]


def prompts(n: int, seed: int = 0) -> list[str]:
    """Three-shot addition prompts of 1-4 digit operands, like the probe task's."""
    rng = random.Random(seed)

    def operand() -> int:
        digits = rng.randint(1, 4)
        return rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)

    def pair():
        return operand(), operand()

    out = []
    for _ in range(n):
        shots = "".join(f"{a}+{b}={a + b}\n" for a, b in (pair() for _ in range(3)))
        a, b = pair()
        out.append(f"{shots}{a}+{b}=")
    return out


def child(mode: str, model_name: str, n: int, batch_size: int) -> dict:
    import torch

    torch.set_grad_enabled(False)
    texts = prompts(n)
    if mode == "capture":
        from interp import capture, load_model

        model = load_model(model_name)
        t = time.perf_counter()
        acts = capture(model, texts, sites=SITES, layers="all", batch_size=batch_size, progress=False)
        secs = time.perf_counter() - t
        shape = list(acts["mlp_out"].shape)
        n_tokens = int(acts.lengths.sum())
    else:
        from interp.hooks.tokens import pad, tokenize
        from interp.models.loading import load_hf

        _, _, hf, tok = load_hf(model_name)
        # Same tokens and same length-sorted batches as capture, for a like-for-like forward.
        ids = tok(texts, add_special_tokens=False)["input_ids"]
        order = sorted(range(n), key=lambda i: len(ids[i]))
        t = time.perf_counter()
        for s in range(0, n, batch_size):
            rows = [ids[i] for i in order[s : s + batch_size]]
            x = pad(rows, tok.pad_token_id or 0)
            mask = (torch.arange(x.shape[1]) < torch.tensor([len(r) for r in rows])[:, None]).long()
            hf(input_ids=x, attention_mask=mask)
        secs = time.perf_counter() - t
        shape, n_tokens = None, sum(len(r) for r in ids)
        del tokenize
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"mode": mode, "secs": secs, "tokens": n_tokens, "rss_gb": rss_gb, "shape": shape}


def load_times(model_name: str) -> dict:
    """First load (GGUF -> cache) into an empty cache, then cached loads."""
    code = (
        "import time,sys; t=time.perf_counter(); from interp import load_model; "
        "load_model(sys.argv[1], fold_weights=sys.argv[2]=='1'); print(time.perf_counter()-t)"
    )
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, INTERP_CACHE=cache)
        for key, fold in [("first_load_s", "1"), ("cached_load_s", "1"), ("cached_load_nofold_s", "0")]:
            r = subprocess.run(
                [sys.executable, "-c", code, model_name, fold], env=env, capture_output=True, text=True, check=True
            )
            out[key] = float(r.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=["capture", "hf"])
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.n, args.batch_size)))
        return

    runs: dict[str, list[dict]] = {"capture": [], "hf": []}
    for r in range(args.rounds):
        for mode in ["hf", "capture"] if r % 2 else ["capture", "hf"]:
            res = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
                    "--model",
                    args.model,
                    "--n",
                    str(args.n),
                    "--batch-size",
                    str(args.batch_size),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[mode].append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(f"round {r} {mode}: {runs[mode][-1]['secs']:.2f} s", file=sys.stderr)
    med = {m: statistics.median(x["secs"] for x in v) for m, v in runs.items()}
    loads = load_times(args.model)
    tokens = runs["hf"][0]["tokens"]
    print(
        f"\n### capture vs plain forward: {args.model}, {args.n} prompts, {tokens} tokens, "
        f"batch {args.batch_size}, {args.rounds} rounds (median)\n"
    )
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch threads default.\n")
    print("| run | seconds | tokens/s | peak RSS (GB) |\n|---|---|---|---|")
    for m, label in [
        ("hf", "transformers forward, no hooks (full logits)"),
        ("capture", f"interp.capture {'+'.join(SITES)}, all layers, last position"),
    ]:
        rss = max(x["rss_gb"] for x in runs[m])
        print(f"| {label} | {med[m]:.2f} | {tokens / med[m]:.0f} | {rss:.2f} |")
    print(
        f"\nratio capture / plain forward: **{med['capture'] / med['hf']:.3f}** "
        f"(per round: {[round(c['secs'] / h['secs'], 3) for c, h in zip(runs['capture'], runs['hf'], strict=True)]})"
    )
    print(f"output shape per site: {runs['capture'][0]['shape']}")
    print(
        f"\nload: first (convert GGUF) {loads['first_load_s']:.1f} s, cached {loads['cached_load_s']:.1f} s, "
        f"cached without weight folding {loads['cached_load_nofold_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
