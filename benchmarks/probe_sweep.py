"""The default probe run stage by stage, and the batched probe fit against scikit-learn one probe at a time.

    python benchmarks/probe_sweep.py [--model qwen2.5-coder-0.5b] [--n 500] [--compare-folds 3] [--json out.json]

Runs exactly what `python -m interp.probe --layer all` runs (same config, seed, folds, read
position and control task) and times each stage. Then it fits the same sweep again on the same
activations and folds, both ways, alternating: the batched torch solver (the default) and
`LinearProbe` (scikit-learn, converged at tol 1e-6) one probe at a time, the reference, with
one BLAS thread by default: its fastest setting on these small problems. It reports the ratio, the
largest disagreement in held-out problems on any cell (site x layer x digit scale x fold, digit
and control), and the peak RSS. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from interp.core.versions import versions
from interp.probes.sweep import split, sweep
from interp.runs.probe import ProbeRunConfig, probe_inputs, run
from interp.tasks.arithmetic import ArithmeticConfig


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=ProbeRunConfig.model)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument(
        "--compare-folds",
        type=int,
        default=3,
        help="folds fitted both ways (3: the whole default sweep; sklearn is slow)",
    )
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--sklearn-threads",
        type=int,
        default=1,
        help="BLAS threads for scikit-learn: its fastest setting here is 1 (small matrices lose to thread overhead)",
    )
    a = ap.parse_args()

    cfg = ProbeRunConfig(model=a.model, task=ArithmeticConfig(n=a.n))
    t0 = time.perf_counter()
    out = run(cfg, progress=False, keep_acts=True)
    wall = time.perf_counter() - t0
    res = out.probes
    report = {
        "model": a.model,
        "n": a.n,
        "timings": out.timings,
        "run_wall_s": wall,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "probes_per_fold": int(np.prod(res.accuracy.shape[:3]) * 2),
        "folds": res.accuracy.shape[3],
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "versions": versions(),
    }
    if not a.skip_sklearn:
        labels, controls, strata = probe_inputs(out.problems)
        folds = list(range(a.compare_folds))
        fits = {}
        for method in ("torch", "sklearn"):
            t = time.perf_counter()
            with threadpool_limits(a.sklearn_threads) if method == "sklearn" else nullcontext():
                fits[method] = sweep(
                    out.acts,
                    labels,
                    controls,
                    res.layers,
                    replace(cfg.sweep, method=method),
                    strata=strata,
                    progress=None,
                    only_folds=folds,
                )
            report[f"{method}_fit_s"] = time.perf_counter() - t
        report["compare_folds"] = a.compare_folds
        report["sklearn_threads"] = a.sklearn_threads
        report["ratio_sklearn_over_torch"] = report["sklearn_fit_s"] / report["torch_fit_s"]
        tests = [len(te) for te in (split(strata, cfg.sweep.folds, cfg.sweep.seed)[f][1] for f in folds)]
        for which, y in (("accuracy", labels), ("control", controls)):
            # Held-out problems per cell and fold: accuracy times the rows that have that label.
            rows = np.array(
                [
                    [
                        np.mean(y[split(strata, cfg.sweep.folds, cfg.sweep.seed)[f][1], k] >= 0) * n
                        for f, n in zip(folds, tests, strict=True)
                    ]
                    for k in range(y.shape[1])
                ]
            )
            diff = np.abs(getattr(fits["torch"], which) - getattr(fits["sklearn"], which)) * rows[None, None]
            worst = np.unravel_index(diff.argmax(), diff.shape)
            report[f"{which}_max_problems_diff"] = float(np.round(diff.max(), 3))
            report[f"{which}_cells_differing"] = int((np.round(diff, 3) > 0).sum())
            report[f"{which}_worst_cell"] = [res.sites[worst[0]], res.layers[worst[1]], res.targets[worst[2]]]
        report["cells"] = int(np.prod(diff.shape))
    print(json.dumps(report, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
