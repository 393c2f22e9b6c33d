"""float32 against the fast number format on the same job: wall time, peak memory, and every number's change.

    python benchmarks/precision.py [--job probe|patch] [--fast bfloat16] [-- extra command arguments]

Runs the command twice, each in its own process (so each peak RSS is its own), first with `--dtype float32`
and then with the fast format, on the same seed and prompts, and compares the two results.json files:
for `probe` every probe cell (digit and control), the logit lens and the model's own answers; for `patch`
every sublayer effect. Prints a Markdown table for BENCHMARKS.md and writes the numbers to --json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULT = {"probe": "results.json", "patch": "patch.json"}


def run(job: str, dtype: str, out: Path, extra: list[str]) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", f"interp.{job}", "--dtype", dtype, "--out", str(out), "--quiet", *extra]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t
    return json.loads((out / RESULT[job]).read_text()), wall


def largest(a, b) -> tuple[float, int, int]:
    """(largest |a - b|, cells over 0.02, cells compared), NaN cells (not computed in either) left out."""
    d = np.abs(np.asarray(a, float) - np.asarray(b, float))
    d = d[~np.isnan(d)]
    return (float(d.max()) if d.size else 0.0), int((d > 0.02).sum()), int(d.size)


def fold_mean(a) -> np.ndarray:
    """[site, layer, target, fold] -> [site, layer, target]: the probe cell the run reports."""
    return np.asarray(a, float).mean(-1)


def compare(job: str, exact: dict, fast: dict) -> dict[str, tuple[float, int, int]]:
    if job == "probe":  # a cell is the mean over folds, as the table and heatmap show it; each fold's too
        out = {
            f"probe {k} ({what})": largest(reduce(exact["probes"][k]), reduce(fast["probes"][k]))
            for k in ("accuracy", "control")
            for what, reduce in (("cell: mean over folds", fold_mean), ("each fold", np.asarray))
        }
        out["logit lens"] = largest(exact["lens"], fast["lens"])
        if exact.get("behaviour"):
            out["exact match"] = largest([exact["behaviour"]["exact"]], [fast["behaviour"]["exact"]])
        return out
    return {"sublayer effect": largest(exact["effect"], fast["effect"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--job", default="probe", choices=["probe", "patch"])
    ap.add_argument("--fast", default="bfloat16", choices=["bfloat16", "float16"])
    ap.add_argument("--json", default=None, help="also write the numbers here")
    ap.add_argument("extra", nargs="*", help="arguments for the command (after --)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exact, t_exact = run(a.job, "float32", Path(tmp) / "float32", a.extra)
        fast, t_fast = run(a.job, a.fast, Path(tmp) / a.fast, a.extra)
    diffs = compare(a.job, exact, fast)
    peak = {k: r["timings"].get("peak_rss_gb", float("nan")) for k, r in (("float32", exact), (a.fast, fast))}
    print(f"| | float32 | {a.fast} |\n|---|---|---|")
    print(f"| wall (whole command) | {t_exact:.1f} s | {t_fast:.1f} s (ratio {t_exact / t_fast:.2f}x) |")
    for stage in sorted({k for r in (exact, fast) for k in r["timings"] if k.endswith("_s")}):
        row = [f"{r['timings'][stage]:.1f} s" if stage in r["timings"] else "-" for r in (exact, fast)]
        print(f"| {stage[:-2]} | {row[0]} | {row[1]} |")
    print(f"| peak RSS | {peak['float32']:.2f} GB | {peak[a.fast]:.2f} GB |")
    if "guard" in fast.get("precision", {}):
        g = fast["precision"]["guard"]
        print(f"\nfloat32 guard: {g['worst']:.1%} at {g['at']} ({g['tolerance']:.1%} allowed)")
    print("\n| numbers | largest change | cells over 0.02 | cells |\n|---|---|---|---|")
    for name, (big, over, n) in diffs.items():
        print(f"| {name} | {big:.4f} | {over} | {n} |")
    if a.json:
        Path(a.json).write_text(
            json.dumps({"wall": {"float32": t_exact, a.fast: t_fast}, "peak_rss_gb": peak, "diffs": diffs}, indent=1)
        )


if __name__ == "__main__":
    main()
