"""Attribution patching against the exact batched grid on the same sites, same pairs, same run.

    python benchmarks/atp.py [--model smollm2-135m] [--n 20] [--head-positions] [--json out.json]

Sites: attn_out and mlp_out at every layer and suffix position, and every head's z at every
layer (and suffix position, with --head-positions: 30 x 9 x 7 more exact patches on SmolLM2). Exact: `run_patching` (per position) plus `run_head_patching` (per
position), the fastest exact engine the toolkit has. Estimate: `attribution_patch`, one forward
and one backward per batch of pairs plus a clean forward. Prints the ratio and the agreement.
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
    from interp.interventions.atp import agreement, attribution_patch
    from interp.interventions.heads import HeadPatchConfig, run_head_patching
    from interp.interventions.pairs import pair_tokens
    from interp.interventions.patching import PatchConfig
    from interp.interventions.sublayers import run_patching
    from interp.tasks.arithmetic import ArithmeticConfig, make_pairs

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--head-positions", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    model = load_model(a.model)
    batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=a.n, digits=(2, 2)), seed=0))
    t = time.perf_counter()
    grid = run_patching(model, **batch, cfg=PatchConfig(per_position=True, ablations=False), progress=False)
    heads = run_head_patching(model, **batch, cfg=HeadPatchConfig(per_position=a.head_positions), progress=False)
    exact_s = time.perf_counter() - t
    t = time.perf_counter()
    atp = attribution_patch(model, **batch, progress=False)
    atp_s = time.perf_counter() - t
    est_pos = np.stack([atp.estimate[s] for s in grid.sites])
    row = {
        "model": a.model,
        "pairs": len(kept),
        "sites": int(grid.effect_pos.size + (heads.effect_pos if a.head_positions else heads.effect).size),
        "suffix_positions": int(grid.effect_pos.shape[-1]),
        "exact_s": exact_s,
        "atp_s": atp_s,
        "speedup": exact_s / atp_s,
        "sublayers_by_position": agreement(grid.effect_pos, est_pos),
        "sublayers_by_layer": agreement(grid.effect, est_pos.sum(-1)),
        "heads_by_layer": agreement(heads.effect, atp.layer("z")),
        **({"heads_by_position": agreement(heads.effect_pos, atp.estimate["z"])} if a.head_positions else {}),
        "top_heads": heads.top,
        "threads": torch.get_num_threads(),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    print(json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}))
    for k, v in row.items():
        if isinstance(v, dict):
            print(f"{k}: Spearman {v['spearman']:.3f}, top-{v['top_k']} overlap {v['top_k_overlap']:.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(row, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
