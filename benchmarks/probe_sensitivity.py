"""How far do probe cells move when the float32 activations move a little? Scale for the fast format's changes.

    python benchmarks/probe_sensitivity.py [--seed 0] [--json out.json]

Runs the default main job once in float32 (behaviour skipped), keeps its activations, and refits the
probes on perturbed copies: rounded to bfloat16 (what storing them in bfloat16 would do), and with
Gaussian noise of 0.1% and 1% of the activations' spread. Reports each cell's (mean over folds) largest
change and how many move by more than 0.02, beside the cells' own 95% Wilson intervals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from interp.core.stages import peak_rss_gb
from interp.runs.probe import ProbeRunConfig, probe_inputs, run
from interp.runs.probe_fit import fit_probes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    cfg = ProbeRunConfig(behaviour_n=0, seed=a.seed)
    res = run(cfg, keep_acts=True, progress=False)
    labels, controls, strata = probe_inputs(res.problems)
    base = {w: res.probes.mean(w) for w in ("accuracy", "control")}
    wilson = np.asarray(res.probes.intervals["accuracy_ci"])
    half = (wilson[..., 1] - wilson[..., 0]) / 2
    out = {"seed": a.seed, "wilson_half_width": {q: float(np.nanquantile(half, x)) for q, x in
                                                  (("min", 0), ("median", 0.5), ("max", 1))}}  # fmt: skip
    gen = torch.Generator().manual_seed(a.seed)
    perturb = {
        "round to bfloat16": lambda x: x.bfloat16().float(),
        "noise 0.1% of spread": lambda x: x + 0.001 * x.std() * torch.randn(x.shape, generator=gen),
        "noise 1% of spread": lambda x: x + 0.01 * x.std() * torch.randn(x.shape, generator=gen),
    }
    for name, f in perturb.items():
        moved = fit_probes({s: f(x) for s, x in res.acts.items()}, labels, controls, res.probes.layers,
                           cfg.sweep, strata, False, "cpu")  # fmt: skip
        for w in base:
            d = np.abs(moved.mean(w) - base[w])
            out[f"{name}, {w}"] = {"largest": float(np.nanmax(d)), "over_0.02": int((d > 0.02).sum()), "cells": d.size}
            print(f"{name}, {w}: {json.dumps(out[f'{name}, {w}'])}", flush=True)
    out["peak_rss_gb"] = peak_rss_gb()
    print(f"Wilson 95% half-widths: {json.dumps(out['wilson_half_width'])}; peak RSS {out['peak_rss_gb']:.2f} GB")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
