"""Train and evaluate NTM and LSTM models on the memory tasks.

    python -m tasks.memory train --task copy --model ntm --out runs/memory/copy-ntm
    python -m tasks.memory eval runs/memory/copy-ntm runs/memory/copy-lstm --out runs/memory/copy
    python -m tasks.memory plot runs/memory/copy --output copy.html   # redraw from the saved data

Batch i of a run is drawn with seed (seed, i), so a resumed run sees exactly the batches it
would have seen. A checkpoint (model.safetensors, optim.pt, run.json) is written to a scratch
folder and swapped in whole; a non-finite loss stops training with the last good checkpoint kept.
`RUN/best` holds the weights with the lowest held-out cost so far, itself a run folder for `eval`.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tasks.memory import TASKS, dims

HELD_OUT = 10**9  # evaluation batches use seeds from here, never seen in training


@dataclass(frozen=True)
class TrainConfig:
    task: str = "copy"
    model: str = "ntm"
    steps: int = 4000  # batches
    batch: int = 32
    lr: float = 1e-3  # Adam, as Collier & Beel
    clip: float = 10.0  # gradient norm
    seed: int = 0
    ckpt_every: int = 250
    eval_every: int = 250
    d_hidden: int | None = None  # default: 100 (NTM controller), 256 (LSTM)
    n_layers: int = 3  # LSTM only
    N: int = 128
    M: int = 20
    max_len: int | None = None  # shorter training sequences than the paper's (copy, repeat copy)
    init_from: str | None = None  # warm start from another run's checkpoint (see `warm_start`)


def build(cfg: TrainConfig):
    d_in, d_out = dims(cfg.task)
    if cfg.model == "ntm":
        from tasks.models.ntm import NTM, NTMConfig

        return NTM(NTMConfig(d_in, d_out, d_hidden=cfg.d_hidden or 100, N=cfg.N, M=cfg.M))
    if cfg.model == "lstm":
        from tasks.models.lstm import HookedLSTM, LSTMConfig

        return HookedLSTM(LSTMConfig(d_in, d_out, d_hidden=cfg.d_hidden or 256, n_layers=cfg.n_layers))
    raise ValueError(f"unknown model {cfg.model!r}: choose ntm or lstm")


def warm_start(model, run: Path, sizes: dict) -> list[str]:
    """Copy a trained run's weights into `model` (same model kind, possibly another task).

    Where the tasks' channel counts differ, the shared leading input and output channels are copied
    and the task's extra channels keep their fresh initialisation. The NTM controller sees
    [input | read vectors], so its read columns are realigned after the input block.
    Returns the names of the parameters that were only partly copied."""
    src_model, src_info, _ = load(run)
    if src_info["config"]["model"] != _kind(model):
        raise ValueError(f"--init-from {run}: a {src_info['config']['model']} run cannot start a {_kind(model)}")
    for key in ("d_hidden", "n_layers", "N", "M"):
        if src_info["config"].get(key) != sizes.get(key):
            raise ValueError(f"--init-from {run}: its {key} is {src_info['config'].get(key)}, this run's {sizes.get(key)}")
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
    return "ntm" if hasattr(model, "hook_read_w") else "lstm"


def batch_seed(seed: int, step: int) -> int:
    return seed * 1_000_003 + step


def sample(task: str, seed: int, **overrides):
    make, Config = TASKS[task]
    return make(Config(**overrides), seed)


def cost(model, seq) -> torch.Tensor:
    from tasks.memory import bits_per_sequence

    return bits_per_sequence(model(seq.inputs), seq)


def _train_range(cfg: TrainConfig) -> dict:
    return {"max_len": cfg.max_len} if cfg.max_len else {}


class NonFinite(RuntimeError):
    pass


def save(model, opt, info: dict, out: Path) -> None:
    """Write a complete checkpoint beside `out/ckpt`, then swap it in (`opt` None: weights only)."""
    from safetensors.torch import save_file

    tmp, final, old = out / ".ckpt-tmp", out / "ckpt", out / ".ckpt-old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    if opt is not None:
        torch.save(opt.state_dict(), tmp / "optim.pt")
    (tmp / "run.json").write_text(json.dumps(info, indent=1))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def load(run: Path):
    """(model, run info, optimizer state or None) from a run folder's checkpoint.

    Committed checkpoints (`tasks/checkpoints/`) ship without the optimizer state: they evaluate
    and warm-start, but cannot `--resume`."""
    from safetensors.torch import load_file

    ck = run / "ckpt" if (run / "ckpt").exists() else run / ".ckpt-old"
    if not (ck / "run.json").exists():
        raise FileNotFoundError(f"no checkpoint in {run}")
    info = json.loads((ck / "run.json").read_text())
    model = build(TrainConfig(**info["config"]))
    model.load_state_dict(load_file(ck / "model.safetensors"))
    return model, info, torch.load(ck / "optim.pt") if (ck / "optim.pt").exists() else None


def evaluate(model, task: str, n: int = 32, batches: int = 4, **overrides) -> float:
    """Mean cost over `batches` fixed held-out batches (each draws its own length where not fixed)."""
    key = zlib.crc32(repr(sorted(overrides.items())).encode())
    with torch.no_grad():
        return sum(float(cost(model, sample(task, HELD_OUT + key + i, n=n, **overrides)))
                   for i in range(batches)) / batches


def train(cfg: TrainConfig, out: Path, resume: bool = False, progress: bool | None = None,
          command: str | None = None) -> dict:
    """Train to `cfg.steps` batches; returns the run info (history of training and held-out cost)."""
    from tqdm.auto import tqdm

    if resume:
        model, info, opt_state = load(out)
        if opt_state is None:
            raise ValueError(f"--resume: {out} has no optimizer state (a committed checkpoint?); use --init-from")
        if asdict(TrainConfig(**info["config"])) | {"steps": cfg.steps} != asdict(cfg) | {"steps": cfg.steps}:
            raise ValueError("--resume with a different config than the checkpoint's (only --steps may change)")
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        opt.load_state_dict(opt_state)
        info["config"] = asdict(cfg)
        info.setdefault("commands", []).append(command)
    else:
        torch.manual_seed(cfg.seed)  # parameter init; data uses its own generators
        model = build(cfg)
        if cfg.init_from:
            warm_start(model, Path(cfg.init_from), asdict(cfg))
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        info = {"config": asdict(cfg), "step": 0, "seconds": 0.0, "sequences": 0, "history": [], "held_out": [],
                "commands": [command]}
    start, t0, base_secs = info["step"], time.perf_counter(), info["seconds"]
    ema = None
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"{cfg.model} {cfg.task}",
               disable=None if progress is None else not progress)
    for step in bar:
        seq = sample(cfg.task, batch_seed(cfg.seed, step), n=cfg.batch, **_train_range(cfg))
        loss = cost(model, seq)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        if not (math.isfinite(loss.item()) and math.isfinite(float(gnorm))):
            raise NonFinite(f"non-finite loss or gradient at step {step}; the last good checkpoint "
                            f"(step {info['step']}) is kept in {out / 'ckpt'}")
        opt.step()
        loss = loss.item()
        ema = loss if ema is None else 0.98 * ema + 0.02 * loss
        bar.set_postfix(bits=f"{ema:.3f}")
        done = step + 1
        info["history"].append([done, loss])
        if done % cfg.eval_every == 0 or done == cfg.steps:
            model.eval()
            secs = base_secs + time.perf_counter() - t0
            held = evaluate(model, cfg.task, **_train_range(cfg))
            if all(held < h[1] for h in info["held_out"]):  # the NTM's cost spikes now and then: keep the best too
                save(model, None, info | {"step": done, "seconds": secs, "sequences": done * cfg.batch,
                                          "held_out": [*info["held_out"], [done, held, secs]]}, out / "best")
            info["held_out"].append([done, held, secs])  # step, bits/seq, seconds
            model.train()
        if done % cfg.ckpt_every == 0 or done == cfg.steps:
            info.update(step=done, seconds=base_secs + time.perf_counter() - t0, sequences=done * cfg.batch)
            save(model, opt, info, out)
    return info


def main(argv: list[str] | None = None) -> int:

    from interp.cli.common import Parser, fail

    ap = Parser(prog="python -m tasks.memory", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a model on a task")
    t.add_argument("--task", default="copy", choices=sorted(TASKS))
    t.add_argument("--model", default="ntm", choices=["ntm", "lstm"])
    for f in ("steps", "batch", "seed", "ckpt_every", "eval_every", "n_layers", "N", "M"):
        t.add_argument(f"--{f.replace('_', '-')}", type=int, default=getattr(TrainConfig, f))
    t.add_argument("--d-hidden", type=int, default=None)
    t.add_argument("--max-len", type=int, default=None, help="train on lengths up to this (copy, repeat copy)")
    t.add_argument("--init-from", default=None, metavar="RUN",
                   help="start from a trained run's weights (e.g. repeat copy from a copy NTM)")
    t.add_argument("--lr", type=float, default=TrainConfig.lr)
    t.add_argument("--clip", type=float, default=TrainConfig.clip)
    t.add_argument("--threads", type=int, default=1, help="torch threads (small recurrent models: 1 is fastest)")
    t.add_argument("--out", required=True)
    g = t.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    g.add_argument("--overwrite", action="store_true", help="start again, replacing --out's checkpoint")
    t.add_argument("--quiet", action="store_true")
    e = sub.add_parser("eval", help="held-out cost of trained runs, written as memory.json/npz with figures")
    e.add_argument("runs", nargs="+")
    e.add_argument("--out", required=True)
    e.add_argument("--overwrite", action="store_true")
    pl = sub.add_parser("plot", help="redraw memory.html from a saved evaluation")
    pl.add_argument("folder")
    pl.add_argument("--output", default=None, help="default: FOLDER/memory.html")
    pl.add_argument("--overwrite", action="store_true")
    try:
        a = ap.parse_args(argv)
    except SystemExit as ex:
        return int(ex.code or 0)
    if a.cmd == "plot":
        from tasks.evaluate import replot

        return replot(Path(a.folder), Path(a.output) if a.output else None, a.overwrite)
    if a.cmd == "eval":
        from tasks.evaluate import run_eval

        try:
            return run_eval([Path(r) for r in a.runs], Path(a.out), a.overwrite,
                            "python -m tasks.memory " + shlex.join(sys.argv[1:] if argv is None else argv))
        except (FileNotFoundError, ValueError) as ex:
            return fail(str(ex))
    cfg = TrainConfig(task=a.task, model=a.model, steps=a.steps, batch=a.batch, lr=a.lr, clip=a.clip, seed=a.seed,
                      ckpt_every=a.ckpt_every, eval_every=a.eval_every, d_hidden=a.d_hidden, n_layers=a.n_layers,
                      N=a.N, M=a.M, max_len=a.max_len, init_from=a.init_from)
    if min(a.steps, a.batch, a.ckpt_every, a.eval_every, a.threads) < 1 or a.lr <= 0:
        return fail("--steps, --batch, --ckpt-every, --eval-every, --threads and --lr must be positive")
    out = Path(a.out)
    if (out / "ckpt").exists() and not (a.resume or a.overwrite):
        return fail(f"{out} already holds a checkpoint; use --resume, --overwrite or another --out")
    if a.init_from and not (Path(a.init_from) / "ckpt" / "run.json").exists():
        return fail(f"--init-from: no checkpoint in {a.init_from}")
    if a.resume and not (out / "ckpt").exists():
        return fail(f"--resume: no checkpoint in {out}")
    torch.set_num_threads(a.threads)
    try:
        info = train(cfg, out, resume=a.resume, progress=False if a.quiet else None,
                     command="python -m tasks.memory " + shlex.join(sys.argv[1:] if argv is None else argv))
    except (NonFinite, ValueError) as ex:
        return fail(str(ex))
    last = info["held_out"][-1] if info["held_out"] else None
    print(f"{cfg.model} {cfg.task}: {info['step']} batches ({info['sequences']} sequences) in "
          f"{info['seconds']:.0f} s" + (f"; held-out cost {last[1]:.3f} bits/sequence" if last else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

