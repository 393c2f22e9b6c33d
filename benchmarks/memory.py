"""NTM and LSTM training throughput on copy, and time to converge from finished runs.

    python benchmarks/memory.py [--runs runs/memory/copy-ntm runs/memory/copy-lstm] [--json out.json]
    python benchmarks/memory.py --no-throughput --runs tasks/checkpoints/*   # convergence only

Throughput: training batches of copy (lengths 1-20) per setting, one torch thread, in this
process: the NTM's fast step (`NTM.forward`, eager and through `compile_step`, the training
default) against the paper's op-by-op step
(`NTM.forward_plain`, the step this toolkit trained with until 2026-11) on the same batches,
and batch 32 against one sequence per step (the plain alternative, as pytorch-ntm trains).
Convergence: for each finished run, the first held-out evaluation under 0.1 and 1 bit per
sequence, with batches, sequences and wall time from the run's own record.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from interp.core.stages import peak_rss_gb
from interp.tasks.train import checkpoint_cost


def throughput(
    model_name: str, batch: int, steps: int = 30, plain: bool = False, compiled: bool = False, repeats: int = 3
) -> float:
    """Sequences per second over `steps` training batches, best of `repeats` passes (the first compiles)."""
    from interp.tasks.memory import bits_per_sequence, sample
    from interp.tasks.setup import TrainConfig, build
    from interp.tasks.train import batch_seed

    torch.manual_seed(0)
    model = build(TrainConfig(model=model_name))
    if compiled:
        model.compile_step()
    fwd = model.forward_plain if plain else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    seqs = [sample("copy", batch_seed(0, step), n=batch) for step in range(steps)]
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        for seq in seqs:
            loss = bits_per_sequence(fwd(seq.inputs), seq)
            opt.zero_grad()
            loss.backward()
            opt.step()
        best = max(best, batch * steps / (time.perf_counter() - t))
    return best


def convergence(run: Path) -> dict:
    info = json.loads((run / "ckpt" / "run.json").read_text())
    cfg = info["config"]
    out = {
        "run": str(run),
        "model": cfg["model"],
        "task": cfg["task"],
        "batches": info["step"],
        "seconds": info["seconds"],
        # the cost of the weights the checkpoint holds (after a rollback at the last evaluation: the best's)
        "final_held_out": kept[1] if (kept := checkpoint_cost(info)) else None,
    }
    for thr in (1.0, 0.1):
        hit = next((h for h in info["held_out"] if h[1] < thr), None)
        out[f"under_{thr}"] = (
            None if hit is None else {"batches": hit[0], "sequences": hit[0] * cfg["batch"], "minutes": hit[2] / 60}
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="*", default=[])
    ap.add_argument("--json")
    ap.add_argument("--no-throughput", action="store_true", help="only read the runs' convergence")
    a = ap.parse_args()
    torch.set_num_threads(1)
    res = {}
    if not a.no_throughput:
        rows = {}
        settings = [
            ("ntm plain step, batch 32", "ntm", 32, True, False),
            ("ntm batch 32", "ntm", 32, False, False),
            ("ntm compiled step, batch 32", "ntm", 32, False, True),
            ("ntm batch 1", "ntm", 1, False, False),
            ("lstm batch 32", "lstm", 32, False, False),
            ("lstm batch 1", "lstm", 1, False, False),
        ]
        for label, m, b, plain, compiled in settings:
            rows[label] = throughput(m, b, steps=30 if b > 1 else 60, plain=plain, compiled=compiled)
            print(f"{label}: {rows[label]:.1f} sequences/s", flush=True)
        res = {
            "sequences_per_s": rows,
            "ntm_step_speedup": rows["ntm batch 32"] / rows["ntm plain step, batch 32"],
            "ntm_compiled_speedup": rows["ntm compiled step, batch 32"] / rows["ntm plain step, batch 32"],
            "ntm_batch_speedup": rows["ntm batch 32"] / rows["ntm batch 1"],
            "lstm_batch_speedup": rows["lstm batch 32"] / rows["lstm batch 1"],
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        }
    res["convergence"] = [convergence(Path(r)) for r in a.runs]
    res["peak_rss_gb"] = peak_rss_gb()  # the whole benchmark's, every setting in one process
    print(json.dumps(res, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
