"""`interp capture --model M --task add --count 2000 --out acts/`: activations to disk in shards, resumable.

Under torchrun each process captures its share of the shards into the same folder (gloo on CPU,
nccl on GPUs, each process on its own GPU):

    torchrun --nproc-per-node 2 -m interp capture --model smollm2-135m --task add --count 2000 --out acts/

Read it back as one dataset, in prompt order: `interp.ActivationStore("acts/")["resid_post"]`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from interp.cli.common import Parser, add_device_args, command_line, fail, parse, seed
from interp.core.errors import InterpError
from interp.hooks.capture import capture
from interp.hooks.names import SITES
from interp.hooks.prompts import read_prompts
from interp.hooks.store import capture_to_disk, process_group
from interp.hooks.tokens import TokenMatch
from interp.runs.guard import check_fast, guarded_load
from interp.runs.probe_reads import by_layer
from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic


def parser() -> Parser:
    ap = Parser(prog="interp capture", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--prompts", default=None, help="a .txt file (one prompt per line) or .jsonl with a text field")
    src.add_argument("--task", default="add", choices=["add", "sub", "mul"], help="arithmetic prompts (default)")
    ap.add_argument(
        "--count", type=int, default=1000, help="arithmetic prompts to make (not --n: torchrun would take it)"
    )
    ap.add_argument("--seed", type=seed, default=0)
    ap.add_argument("--site", default="resid_post", help=f"comma-separated: {', '.join(SITES)}")
    ap.add_argument("--layer", default="all")
    ap.add_argument("--match", default=None, metavar="TEXT", help="read at the last token matching TEXT (default last)")
    ap.add_argument("--shard-size", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    add_device_args(ap, split=False)
    ap.add_argument("--out", required=True, help="the store folder (re-running the same capture resumes)")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = parse(ap, argv)
    if isinstance(a, int):
        return a
    sites = [s.strip() for s in a.site.split(",") if s.strip()]
    if not sites or any(s not in SITES for s in sites):
        return fail(f"--site takes {', '.join(SITES)}, got {a.site!r}")
    if a.shard_size < 1 or a.batch_size < 1 or a.count < 1:
        return fail("--shard-size, --batch-size and --count must be positive")
    joined = _join_process_group(a.device)
    try:
        rank, world = process_group()
        prompts = read_prompts(Path(a.prompts)) if a.prompts else _arithmetic(a)
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if joined == "nccl" else a.device
        positions = TokenMatch(a.match) if a.match else "last"
        model = guarded_model(a, device, prompts, sites, positions)
        store = capture_to_disk(
            model,
            prompts,
            a.out,
            sites=sites,
            layers=a.layer,
            positions=positions,
            shard_size=a.shard_size,
            batch_size=a.batch_size,
            progress=False if a.quiet or rank else None,
        )
    except (InterpError, OSError) as e:
        return fail(str(e))
    finally:
        if joined:
            torch.distributed.destroy_process_group()
    if rank == 0:
        command = command_line("interp capture", argv)
        print(json.dumps({"store": str(store.path), "n": len(store), "keys": store.keys, "processes": world}))
        print(f"wrote {len(store.shards)} shards to {store.path} ({command})")
    return 0


GUARD_ROWS = 16  # prompts a fast format is checked on against float32


def guarded_model(a, device: str, prompts: list[str], sites: list[str], positions):
    """The model in its number format; a fast one must match float32 on the first prompts before any shard
    is written (`interp.runs.guard`)."""
    first = prompts[:GUARD_ROWS]

    def acts(model):
        out = capture(model, first, sites=sites, layers=a.layer, positions=positions, progress=False)
        return by_layer(out, out.layers)

    model, fmt, reference = guarded_load(a.model, device, a.dtype, acts)
    if reference is not None:
        check_fast(fmt, acts(model), reference, "the captured activations", len(first), "prompts")
    return model


def _join_process_group(device: str) -> str | None:
    """Under torchrun (WORLD_SIZE > 1), join its process group: nccl for CUDA, gloo otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or torch.distributed.is_initialized():
        return None
    backend = "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend)
    return backend


def _arithmetic(a) -> list[str]:
    return make_arithmetic(ArithmeticConfig(n=a.count, op=a.task), a.seed).prompts
