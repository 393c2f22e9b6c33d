"""Train and evaluate NTM and LSTM models on the memory tasks.

python -m interp.memory train --task copy --model ntm --out runs/memory/copy-ntm
python -m interp.memory eval runs/memory/copy-ntm runs/memory/copy-lstm --out runs/memory/copy
python -m interp.memory plot runs/memory/copy --output copy.html   # redraw from the saved data
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from interp.cli.common import (
    Parser,
    add_device_args,
    add_format_arg,
    command_line,
    fail,
    outputs,
    parse,
    refuse_existing,
    seed,
    write_figures,
)
from interp.core.files import atomic_write_text, write_outputs
from interp.models.devices import resolve_device, resolve_dtype
from interp.reports.html import assemble
from interp.reports.memory import memory_sections
from interp.runs.memory import MemoryEval, evaluate_runs
from interp.tasks.memory import TASKS
from interp.tasks.models.ntm import CompiledStepMismatch
from interp.tasks.setup import TrainConfig
from interp.tasks.train import NonFinite, checkpoint_cost, train

OUTPUTS = ("memory.json", "memory.npz", "memory.html")
PROG = "python -m interp.memory"


def page(ev: MemoryEval) -> str:
    return assemble(memory_sections(ev.for_report()), "Memory tasks")


def add_eval_parser(sub) -> None:
    """The `eval` subcommand and its options."""
    e = sub.add_parser("eval", help="held-out cost of trained runs, written as memory.json/npz with figures")
    e.add_argument("runs", nargs="+")
    e.add_argument("--out", required=True)
    e.add_argument(
        "--memory",
        type=int,
        default=None,
        metavar="N",
        help="NTM memory locations at evaluation (default: as trained; no weight depends on N)",
    )
    e.add_argument(
        "--batches",
        type=int,
        default=None,
        metavar="K",
        help="held-out batches of 32 per evaluation point (default 20 for repeat copy, 2 otherwise; more for a "
        "tighter figure, the first ones unchanged). N-grams always use their 1,000 fixed sequences",
    )
    add_device_args(e, split=False, formats=False)
    add_format_arg(e)
    e.add_argument("--overwrite", action="store_true")


def add_recipe_args(t) -> None:
    """The training-recipe options tried against the NTM's collapses and repeat copy's failures."""
    t.add_argument(
        "--rollback",
        type=float,
        default=None,
        metavar="BITS",
        help="a held-out cost this many bits above the best so far restores the best weights and a fresh optimizer",
    )
    t.add_argument(
        "--rollback-optimizer",
        default=TrainConfig.rollback_optimizer,
        choices=["fresh", "best"],
        help="with --rollback: start a fresh optimizer (default) or restore its state at the best weights",
    )
    t.add_argument(
        "--rollback-lr",
        type=float,
        default=None,
        metavar="FACTOR",
        help="with --rollback: multiply the learning rate by this (above 0, at most 1) at each rollback",
    )
    t.add_argument(
        "--grow-repeats",
        type=int,
        default=None,
        metavar="BATCHES",
        help="repeat copy: the most repeats per training batch rises from 1 to 10 over this many batches",
    )
    t.add_argument(
        "--end-weight",
        type=float,
        default=None,
        metavar="W",
        help="repeat copy: count the end marker's step W times in the training cost (held-out costs stay bits)",
    )
    t.add_argument(
        "--per-step",
        action="store_true",
        help="train on bits per scored step, not per sequence (held-out costs and the history stay per sequence)",
    )


def add_train_parser(sub) -> None:
    """The `train` subcommand and its options: one flag per `TrainConfig` field."""
    t = sub.add_parser("train", help="train a model on a task")
    t.add_argument("--task", default="copy", choices=sorted(TASKS))
    t.add_argument("--model", default="ntm", choices=["ntm", "lstm"])
    for f in ("steps", "batch", "seed", "ckpt_every", "eval_every", "n_layers", "N", "M"):
        t.add_argument(f"--{f.replace('_', '-')}", type=seed if f == "seed" else int, default=getattr(TrainConfig, f))
    t.add_argument("--d-hidden", type=int, default=None)
    t.add_argument("--max-len", type=int, default=None, help="train on lengths up to this (copy, repeat copy)")
    t.add_argument(
        "--init-from",
        default=None,
        metavar="RUN",
        help="start from a trained run's weights (e.g. repeat copy from a copy NTM)",
    )
    t.add_argument("--lr", type=float, default=TrainConfig.lr)
    t.add_argument("--clip", type=float, default=TrainConfig.clip)
    t.add_argument("--controller", default="lstm", choices=["lstm", "ff"], help="NTM controller")
    t.add_argument("--ctrl-clip", type=float, default=None, help="clip the NTM controller's outputs to +-this")
    t.add_argument(
        "--optimizer",
        default="adam",
        choices=["adam", "rmsprop", "rmsprop-graves"],
        help="rmsprop-graves: centred, decay 0.95, a 1e-2 floor on the divisor (Graves 2013, which the NTM paper cites)",
    )
    t.add_argument(
        "--memory-sizes",
        default=None,
        metavar="N,N,...",
        help="NTM: memory locations per batch, drawn from these (wrap round memory in training)",
    )
    t.add_argument(
        "--count",
        default=None,
        choices=["scalar", "unary"],
        help="repeat copy: the count as one scalar step (the paper's) or as that many pulses",
    )
    add_recipe_args(t)
    t.add_argument("--no-compile", action="store_true", help="train the NTM with the eager step (slower)")
    t.add_argument("--threads", type=int, default=1, help="torch threads (small recurrent models: 1 is fastest)")
    add_device_args(t, split=False, formats=False)
    t.add_argument("--out", required=True)
    g = t.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    g.add_argument("--overwrite", action="store_true", help="start again, replacing --out's checkpoint")
    t.add_argument("--quiet", action="store_true")


def parser() -> Parser:
    ap = Parser(prog=PROG, description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    add_train_parser(sub)
    add_eval_parser(sub)
    pl = sub.add_parser("plot", help="redraw memory.html from a saved evaluation")
    pl.add_argument("folder")
    pl.add_argument("--output", default=None, help="default: FOLDER/memory.html")
    add_format_arg(pl)
    pl.add_argument("--overwrite", action="store_true")
    return ap


def plot(folder: Path, output: Path | None = None, overwrite: bool = False, formats=("html",)) -> int:
    """Redraw the figures of a saved evaluation (memory.json + memory.npz) without the models."""
    output = output or folder / "memory.html"
    if not (folder / "memory.json").exists() or not (folder / "memory.npz").exists():
        return fail(f"{folder} holds no memory.json and memory.npz; run `{PROG} eval` first")
    if output.exists() and not overwrite:
        return fail(f"{output} exists; use --overwrite or another --output")
    if (rc := refuse_existing(output.parent, outputs(formats), overwrite)) is not None:
        return rc
    with np.load(folder / "memory.npz") as z:
        ev = MemoryEval(json.loads((folder / "memory.json").read_text()), {k: z[k] for k in z.files})
    atomic_write_text(output, page(ev))
    print(f"wrote {output}")
    write_figures(lambda: memory_sections(ev.for_report()), output.parent, formats)
    return 0


def evaluate(
    runs: list[Path],
    out: Path,
    overwrite: bool,
    command: str,
    memory: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    formats=("html",),
    batches: int | None = None,
) -> int:
    if batches is not None and batches < 1:
        return fail(f"--batches must be at least 1, got {batches}")
    if (rc := refuse_existing(out, outputs(formats, OUTPUTS), overwrite)) is not None:
        return rc
    try:
        ev = evaluate_runs(runs, command, memory=memory, device=device, dtype=dtype, batches=batches)
    except (FileNotFoundError, ValueError) as e:
        return fail(str(e))
    write_outputs(
        out,
        {
            "memory.json": lambda p: p.write_text(json.dumps(ev.to_json(), indent=1)),
            "memory.npz": lambda p: np.savez_compressed(p, **ev.arrays),
            "memory.html": lambda p: p.write_text(page(ev)),
        },
    )
    print(f"wrote {', '.join(str(out / n) for n in OUTPUTS)}")
    write_figures(lambda: memory_sections(ev.for_report()), out, formats)
    return 0


def train_command(a, command: str) -> int:
    try:
        sizes = tuple(int(v) for v in a.memory_sizes.split(",")) if a.memory_sizes else None
    except ValueError:
        return fail(f"--memory-sizes takes numbers separated by commas, got {a.memory_sizes!r}")
    if sizes and min(sizes) < 2:
        return fail("--memory-sizes must be at least 2")
    fields = [f for f in TrainConfig.__dataclass_fields__ if f != "memory_sizes"]  # flags of the same names
    cfg = TrainConfig(**{f: getattr(a, f) for f in fields}, memory_sizes=sizes)
    if (
        min(a.steps, a.batch, a.ckpt_every, a.eval_every, a.threads) < 1
        or a.lr <= 0
        or (a.rollback is not None and not a.rollback > 0)
    ):
        return fail("--steps, --batch, --ckpt-every, --eval-every, --threads, --lr and --rollback must be positive")
    if a.grow_repeats is not None and (a.task != "repeat_copy" or a.grow_repeats < 1):
        return fail("--grow-repeats takes a positive number of batches, for --task repeat_copy only")
    if a.end_weight is not None and (a.task != "repeat_copy" or not 0 < a.end_weight < math.inf):
        return fail("--end-weight takes a positive finite weight, for --task repeat_copy only")
    if a.rollback_optimizer != TrainConfig.rollback_optimizer and a.rollback is None:
        return fail("--rollback-optimizer needs --rollback")
    if a.rollback_lr is not None and (a.rollback is None or not 0 < a.rollback_lr <= 1):
        return fail("--rollback-lr needs --rollback and a factor above 0 and at most 1")
    out = Path(a.out)
    if (out / "ckpt").exists() and not (a.resume or a.overwrite):
        return fail(f"{out} already holds a checkpoint; use --resume, --overwrite or another --out")
    if a.init_from and not (Path(a.init_from) / "ckpt" / "run.json").exists():
        return fail(f"--init-from: no checkpoint in {a.init_from}")
    if a.resume and not (out / "ckpt").exists():
        return fail(f"--resume: no checkpoint in {out}")
    torch.set_num_threads(a.threads)
    try:
        info = train(
            cfg,
            out,
            resume=a.resume,
            progress=False if a.quiet else None,
            command=command,
            compile=not a.no_compile,
            device=resolve_device(a.device),
            dtype=resolve_dtype(a.dtype),
        )
    except (NonFinite, ValueError, CompiledStepMismatch) as ex:
        return fail(str(ex))
    kept = checkpoint_cost(info)
    rolled = kept is not None and kept[0] != info["held_out"][-1][0]
    print(
        f"{cfg.model} {cfg.task}: {info['step']} batches ({info['sequences']} sequences) in {info['seconds']:.0f} s"
        + (f"; held-out cost {kept[1]:.3f} bits/sequence" if kept else "")
        + (
            f" (batch {kept[0]}'s weights: the last evaluation, {info['held_out'][-1][1]:.3f}, rolled back)"
            if rolled
            else ""
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse(parser(), argv)
    if isinstance(a, int):
        return a
    command = command_line(PROG, argv)
    if a.cmd == "plot":
        return plot(Path(a.folder), Path(a.output) if a.output else None, a.overwrite, a.formats)
    if a.cmd == "eval":
        runs = [Path(r) for r in a.runs]
        return evaluate(runs, Path(a.out), a.overwrite, command, a.memory, a.device, a.dtype, a.formats, a.batches)
    return train_command(a, command)
