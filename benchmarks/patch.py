"""Batched activation patching vs the plain one-site-per-forward loop, same pairs, same run.

    python benchmarks/patch.py [--model smollm2-135m] [--n 200] [--json out.json]

The all-layers sublayer grid (attn_out and mlp_out at every layer, all positions): `run_patching`
(shared-prefix KV cache, two-logit readout, several sites per forward) against `naive_patch`
(one full forward of the whole corrupted prompts per site, full logits). Both give raw logit
differences; the largest disagreement is printed with the ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch


def main() -> int:
    from interp import load_model
    from interp.interventions.pairs import pair_tokens
    from interp.interventions.patching import PatchConfig, Site, naive_patch
    from interp.interventions.sublayers import run_patching
    from interp.tasks.arithmetic import ArithmeticConfig, make_pairs

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    model = load_model(a.model)
    batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=a.n, digits=(2, 2)), seed=0))
    L = model.cfg.n_layers
    sites = [Site(k, layer) for k in ("attn_out", "mlp_out") for layer in range(L)]

    t = time.perf_counter()
    fast = run_patching(model, **batch, cfg=PatchConfig(per_position=False, ablations=False), progress=False)
    fast_s = time.perf_counter() - t
    t = time.perf_counter()
    naive = naive_patch(model, batch["clean"], batch["corrupt"], batch["good"], batch["bad"], sites)
    naive_s = time.perf_counter() - t
    row = {
        "model": a.model,
        "pairs": len(kept),
        "sites": len(sites),
        "prompt_tokens": int(batch["clean"].shape[1]),
        "prefix_tokens": fast.prefix_tokens,
        "batched_s": fast_s,
        "naive_s": naive_s,
        "speedup": naive_s / fast_s,
        "max_abs_ld_diff": float(np.abs(fast.raw.ravel() - naive).max()),
        "threads": torch.get_num_threads(),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    print(json.dumps(row))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(row, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
