"""Held-out evaluation of trained memory-task runs, saved as data for the report (memory.json/npz/html).

Per task: cost against sequence length beyond the training range (copy), the two repeat-copy
settings of the paper's figure, the N-gram rows against the optimal Bayesian estimator, and the
NTM's read and write weightings on one sequence. Evaluation batches come from held-out seeds.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from tasks.train import HELD_OUT, evaluate, load, sample

COPY_LENGTHS = (10, 20, 30, 50, 80, 120)
REPEAT_SETTINGS = ((10, 20), (20, 10))  # (length, repeats), both beyond training (1-10 each)
RECALL_ITEMS = (2, 4, 6, 8, 10, 12)
OUTPUTS = ("memory.json", "memory.npz", "memory.html")


def _example(model, task: str, **overrides) -> dict[str, np.ndarray]:
    """Targets, outputs (sigmoid) and, for an NTM, weightings of one held-out sequence."""
    seq = sample(task, HELD_OUT - 1, n=1, **overrides)
    with torch.no_grad():
        if hasattr(model, "hook_read_w"):
            logits, tr = model(seq.inputs, trace=True)
            extra = {"read_w": tr["read_w"][0, :, 0].numpy(), "write_w": tr["write_w"][0].numpy()}
        else:
            logits, extra = model(seq.inputs), {}
    scored = seq.mask[0].bool()
    return {"inputs": seq.inputs[0].numpy(), "targets": seq.targets[0, scored].numpy(),
            "outputs": torch.sigmoid(logits[0, scored]).numpy(), **extra}


def eval_run(model, task: str) -> tuple[dict, dict[str, np.ndarray]]:
    res, arrays = {}, {}
    model.eval()
    if task == "copy":
        res["x"], res["xlabel"] = list(COPY_LENGTHS), "sequence length (trained on 1-20)"
        res["cost"] = [evaluate(model, task, batches=2, length=L) for L in COPY_LENGTHS]
        arrays.update({f"example/{k}": v for k, v in _example(model, task, length=20).items()})
    elif task == "repeat_copy":
        res["x"], res["xlabel"] = [f"length {L}, repeat {R}" for L, R in REPEAT_SETTINGS], "setting"
        res["cost"] = [evaluate(model, task, batches=2, length=L, repeats=R) for L, R in REPEAT_SETTINGS]
        for L, R in REPEAT_SETTINGS:
            arrays.update({f"example_{L}x{R}/{k}": v for k, v in _example(model, task, length=L, repeats=R).items()})
    elif task == "recall":
        res["x"], res["xlabel"] = list(RECALL_ITEMS), "items (trained on 2-6)"
        res["cost"] = [evaluate(model, task, batches=2, items=k) for k in RECALL_ITEMS]
        arrays.update({f"example/{k}": v for k, v in _example(model, task, items=6).items()})
    elif task == "ngrams":
        from tasks.memory import NGramConfig, make_ngrams, ngram_optimal, prob_bits_per_sequence

        seq, _ = make_ngrams(NGramConfig(n=200), HELD_OUT)
        with torch.no_grad():
            p_model = torch.sigmoid(model(seq.inputs)[..., 0])
        p_opt = ngram_optimal(seq.inputs)
        c_model = float(prob_bits_per_sequence(p_model, seq.targets[..., 0]))
        c_opt = float(prob_bits_per_sequence(p_opt, seq.targets[..., 0]))
        res.update(x=["cost"], xlabel="", cost=[c_model], optimal=c_opt, above_optimal=c_model - c_opt)
        arrays.update({"example/inputs": seq.inputs[0, :, 0].numpy(), "example/optimal": p_opt[0].numpy(),
                       "example/pred": p_model[0].numpy()})
    else:
        raise ValueError(f"unknown task {task!r}")
    return res, arrays


def replot(folder: Path, output: Path | None = None, overwrite: bool = False) -> int:
    """Redraw the figures of a saved evaluation (memory.json + memory.npz) without the models."""
    from interp.cli.common import fail
    from interp.files import atomic_write_text
    from reports.html import assemble
    from reports.sections import memory_sections

    output = output or folder / "memory.html"
    if not (folder / "memory.json").exists() or not (folder / "memory.npz").exists():
        return fail(f"{folder} holds no memory.json and memory.npz; run `python -m tasks.memory eval` first")
    if output.exists() and not overwrite:
        return fail(f"{output} exists; use --overwrite or another --output")
    meta = json.loads((folder / "memory.json").read_text())
    with np.load(folder / "memory.npz") as z:
        arrays = {k: z[k] for k in z.files}
    atomic_write_text(output, assemble(memory_sections(meta, arrays), "Memory tasks"))
    print(f"wrote {output}")
    return 0


def run_eval(runs: list[Path], out: Path, overwrite: bool = False, command: str = "") -> int:
    from interp.cli.common import refuse_existing

    if (rc := refuse_existing(out, OUTPUTS, overwrite)) is not None:
        return rc
    meta, arrays = {"runs": [], "command": command}, {}
    for run in runs:
        model, info, _ = load(run)
        cfg = info["config"]
        name = f"{cfg['model'].upper()} {cfg['task']}"
        res, arr = eval_run(model, cfg["task"])
        meta["runs"].append({"name": name, "folder": str(run), "task": cfg["task"], "model": cfg["model"],
                             "config": cfg, "step": info["step"], "sequences": info["sequences"],
                             "seconds": info["seconds"], "held_out": info["held_out"],
                             "train_commands": info.get("commands", []),
                             "parameters": sum(p.numel() for p in model.parameters()), **res})
        arrays[f"{name}/history"] = np.asarray(info["history"], dtype=np.float32)
        arrays.update({f"{name}/{k}": v for k, v in arr.items()})
        print(f"{name}: {info['step']} batches, {info['seconds']:.0f} s; "
              + ", ".join(f"{x}: {c:.3f}" for x, c in zip(res["x"], res["cost"], strict=True))
              + (f"; optimal {res['optimal']:.3f} (+{res['above_optimal']:.3f})" if "optimal" in res else ""))
    from reports.html import assemble
    from reports.sections import memory_sections

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".memory-", dir=out) as tmp:
        tmp = Path(tmp)
        (tmp / "memory.json").write_text(json.dumps(meta, indent=1))
        np.savez_compressed(tmp / "memory.npz", **arrays)
        (tmp / "memory.html").write_text(assemble(memory_sections(meta, arrays), "Memory tasks"))
        for n in OUTPUTS:
            os.replace(tmp / n, out / n)
    print(f"wrote {', '.join(str(out / n) for n in OUTPUTS)}")
    return 0
