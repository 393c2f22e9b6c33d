"""The default probe run, stage by stage, and batched torch probes vs one sklearn fit per probe.

    python benchmarks/probe_sweep.py [--model smollm2-135m] [--n 500] [--json out.json]

Runs exactly what `python -m interp.probe --layer all` runs (same config,
seed, folds and control tasks) and times each stage; then fits the same
sweep again with `LinearProbe` (scikit-learn) one probe at a time on the
same activations and folds. Reports the ratio, the largest per-cell accuracy
disagreement per cell (site x layer x digit scale, accuracy averaged over
the compared folds, as in the heatmap), and peak RSS. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from dataclasses import replace

import numpy as np
import torch


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument(
        "--compare-folds",
        type=int,
        default=1,
        help="folds on which to fit both ways (sklearn takes ~1 s a probe)",
    )
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    from interp.probes.sweep import sweep
    from interp.runs.probe import ProbeRunConfig, probe_inputs, run
    from interp.tasks.arithmetic import ArithmeticConfig

    cfg = ProbeRunConfig(model=a.model, task=ArithmeticConfig(n=a.n))
    t0 = time.perf_counter()
    out = run(cfg, progress=False, keep_acts=True)
    wall = time.perf_counter() - t0
    rss_torch = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    fast = out.probes
    report = {
        "model": a.model,
        "n": a.n,
        "timings": out.timings,
        "run_wall_s": wall,
        "peak_rss_gb": rss_torch,
        "probes": int(np.prod(fast.accuracy.shape[:3]) * 2),
        "folds": fast.accuracy.shape[3],
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
    }
    if not a.skip_sklearn:
        # Both ways on the same folds, alternating, so machine noise hits both alike.
        labels, controls, strata = probe_inputs(out.problems, cfg)
        folds = list(range(a.compare_folds))
        fits = {}
        for method in ("torch", "sklearn"):
            t = time.perf_counter()
            fits[method] = sweep(
                out.acts,
                labels,
                controls,
                fast.layers,
                replace(cfg.sweep, method=method),
                strata=strata,
                progress=None,
                only_folds=folds,
            )
            report[f"{method}_fit_s"] = time.perf_counter() - t
        fast, ref = fits["torch"], fits["sklearn"]
        report["compare_folds"] = a.compare_folds
        report["cells"] = {m: {"accuracy": r.accuracy.tolist(), "control": r.control.tolist()} for m, r in fits.items()}
        report["ratio_sklearn_over_torch"] = report["sklearn_fit_s"] / report["torch_fit_s"]
        for which in ("accuracy", "control"):
            cell = np.abs(fast.mean(which) - ref.mean(which))  # [site, layer, target]
            fold = np.abs(getattr(fast, which) - getattr(ref, which))
            worst = np.unravel_index(cell.argmax(), cell.shape)
            report[f"{which}_max_cell_diff"] = float(cell.max())
            report[f"{which}_mean_cell_diff"] = float(cell.mean())
            report[f"{which}_max_fold_diff"] = float(fold.max())
            report[f"{which}_worst_cell"] = [
                fast.sites[worst[0]],
                fast.layers[worst[1]],
                fast.targets[worst[2]],
            ]
    print(json.dumps(report, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
