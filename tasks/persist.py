"""Run folders on disk: checkpoints written to a scratch folder and swapped in whole, loaded back, and warm starts.

Committed checkpoints (`tasks/checkpoints/`) ship without the optimizer state: they evaluate and warm-start,
but cannot `--resume`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from interp.tasks.memory import dims
from interp.tasks.models.ntm import NTM
from interp.tasks.setup import build, train_config


def save(model, opt, info: dict, out: Path) -> None:
    """Write a complete checkpoint beside `out/ckpt`, then swap it in (`opt` None: weights only)."""
    tmp, final, old = out / ".ckpt-tmp", out / "ckpt", out / ".ckpt-old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    if opt is not None:
        torch.save(opt.state_dict(), tmp / "optim.pt")
    (tmp / "run.json").write_text(json.dumps(info, indent=1))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def checkpoint_dir(run: Path) -> Path:
    """The run's checkpoint folder; `.ckpt-old` where a swap was cut short between its two renames."""
    return run / "ckpt" if (run / "ckpt").exists() else run / ".ckpt-old"


def load(run: Path, memory: int | None = None):
    """(model, run info, optimizer state or None) from a run folder's checkpoint.

    Committed checkpoints (`tasks/checkpoints/`) ship without the optimizer state: they evaluate
    and warm-start, but cannot `--resume`. `memory` sets an NTM's number of memory locations N
    (no weight depends on it), e.g. the paper's 128 for a model trained with fewer."""
    ck = checkpoint_dir(run)
    if not (ck / "run.json").exists():
        raise FileNotFoundError(f"no checkpoint in {run}")
    info = json.loads((ck / "run.json").read_text())
    cfg = train_config(info["config"])
    with torch.device("cpu"):
        model = build(replace(cfg, N=memory) if memory and cfg.model == "ntm" else cfg)
    model.load_state_dict(load_file(ck / "model.safetensors", device="cpu"))
    opt = torch.load(ck / "optim.pt", map_location="cpu") if (ck / "optim.pt").exists() else None
    return model, info, opt


def weights_digest(run: Path) -> str:
    """SHA-256 of the run's weights file: what an evaluation records, so that a saved result can tell
    whether it was made from the checkpoint that is there now."""
    ck = checkpoint_dir(run)
    return hashlib.sha256((ck / "model.safetensors").read_bytes()).hexdigest()


def sequences_so_far(run: Path) -> int:
    """Training sequences behind a run's checkpoint: its own, plus those of the runs it was warm-started from
    (as each recorded them)."""
    ck = checkpoint_dir(run)
    info = json.loads((ck / "run.json").read_text())
    return int(info.get("sequences_before", 0)) + int(info["sequences"])


def warm_start(model, run: Path, sizes: dict) -> list[str]:
    """Copy a trained run's weights into `model` (same model kind, possibly another task).

    Where the tasks' channel counts differ, the shared leading input and output channels are copied
    and the task's extra channels keep their fresh initialisation. The NTM controller sees
    [input | read vectors], so its read columns are realigned after the input block.
    Returns the names of the parameters that were only partly copied."""
    src_model, src_info, _ = load(run)
    if src_info["config"]["model"] != _kind(model):
        raise ValueError(f"--init-from {run}: a {src_info['config']['model']} run cannot start a {_kind(model)}")
    src_cfg = asdict(train_config(src_info["config"]))  # older runs lack newer fields: their defaults
    for key in ("d_hidden", "n_layers", "M", "controller"):  # N is free: no weight depends on it
        if src_cfg[key] != sizes.get(key):
            raise ValueError(f"--init-from {run}: its {key} is {src_cfg[key]}, this run's {sizes.get(key)}")
    src = src_model.state_dict()
    d_src = dims(src_info["config"]["task"])[0]
    d_in = model.cfg.d_in
    partial = []
    with torch.no_grad():
        for name, p in model.state_dict().items():
            q = src[name]
            if q.shape == p.shape:
                p.copy_(q)
                continue
            if q.ndim != p.ndim:
                raise ValueError(f"--init-from {run}: {name} is {tuple(q.shape)} there, {tuple(p.shape)} here")
            partial.append(name)
            if name == "controller.weight_ih":  # [4H, d_in + R*M]
                p[:, : min(d_src, d_in)] = q[:, : min(d_src, d_in)]
                p[:, d_in:] = q[:, d_src:]
            else:
                shared = tuple(slice(0, min(a, b)) for a, b in zip(q.shape, p.shape, strict=True))
                p[shared] = q[shared]
    return partial


def _kind(model) -> str:
    return "ntm" if isinstance(model, NTM) else "lstm"
