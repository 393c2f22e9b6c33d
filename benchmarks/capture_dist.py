"""Data-parallel capture: one process against torchrun's N processes writing one store, on the same prompts.

    python benchmarks/capture_dist.py [--model smollm2-135m] [--count 1024] [--nproc 2] [--rounds 2]

One process uses every core (torch threads = cores); each of the N processes gets cores / N threads, so
both sides have the same CPU. The two kinds alternate round by round, so machine noise hits both alike.
Checks that the stores are identical, and prints JSON with the wall times (each including its own model
loads: N processes load N copies) and the peak RSS of the largest process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def run(cmd: list[str], threads: int) -> float:
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--count", type=int, default=1024)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    args = ["--model", a.model, "--count", str(a.count), "--site", "attn_out,mlp_out,resid_post", "--quiet"]
    args += ["--shard-size", str(max(1, a.count // (4 * a.nproc)))]
    times: dict[str, list[float]] = {"one": [], "torchrun": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for kind in ("one", "torchrun") if r % 2 == 0 else ("torchrun", "one"):
                out = os.path.join(tmp, f"{kind}-{r}")
                if kind == "one":
                    cmd = [sys.executable, "-m", "interp", "capture", *args, "--out", out]
                    times[kind].append(run(cmd, cores))
                else:
                    torchrun = shutil.which("torchrun") or "torchrun"
                    cmd = [torchrun, f"--nproc-per-node={a.nproc}", "-m", "interp", "capture", *args, "--out", out]
                    times[kind].append(run(cmd, max(1, cores // a.nproc)))
        from interp import ActivationStore

        one, many = ActivationStore(os.path.join(tmp, "one-0")), ActivationStore(os.path.join(tmp, "torchrun-0"))
        same = all(bool((one[k] == many[k]).all()) for k in one.keys)
    import torch

    report = {
        "model": a.model,
        "prompts": a.count,
        "processes": a.nproc,
        "cores": cores,
        "one_process_s": times["one"],
        "torchrun_s": times["torchrun"],
        "ratio_one_over_torchrun": min(times["one"]) / min(times["torchrun"]),
        "stores_identical": same,
        "peak_rss_largest_process_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20,
        "torch": torch.__version__,
    }
    print(json.dumps(report, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
