"""What every command shares: one-line errors with exit 2, the output-folder guard, the command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from interp.devices import DEVICE_HELP, DTYPES, resolve_device, resolve_dtype
from interp.errors import InterpError
from interp.files import existing_outputs
from interp.offline import go_offline


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit code 2, with no usage dump."""

    def error(self, message):
        raise SystemExit(fail(f"{self.prog}: {message}"))


def fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def refuse_existing(out_dir: Path, outputs: Iterable[str], overwrite: bool) -> int | None:
    """Exit code 2 with one line if `out_dir` is a file, or already holds any of `outputs` without `overwrite`."""
    if out_dir.exists() and not out_dir.is_dir():
        return fail(f"{out_dir} is a file, not a folder; choose another --out")
    existing = existing_outputs(out_dir, outputs)
    if existing and not overwrite:
        return fail(f"{out_dir} already holds results ({', '.join(existing)}); use --overwrite or another --out")
    return None


def add_device_args(ap: argparse.ArgumentParser, split: bool = True) -> None:
    """--device and --dtype (and, for language models, --n-devices): where and in what precision to run."""
    ap.add_argument("--device", default="cpu", help=f"where to run: {DEVICE_HELP}")
    ap.add_argument("--dtype", default="float32", choices=list(DTYPES), help="the model's weights and activations")
    if split:
        ap.add_argument(
            "--n-devices", type=int, default=None, metavar="N", help="split the model's layers across N CUDA devices"
        )


def check_device_args(ap: Parser, a: argparse.Namespace) -> None:
    """Refuse a device or dtype this machine cannot use, in one line, before any work."""
    try:
        if (getattr(a, "n_devices", None) or 1) > 1:
            if a.device not in ("cpu", "auto"):
                raise InterpError("give --device or --n-devices, not both")
            if not torch.cuda.is_available():
                raise InterpError(f"--n-devices {a.n_devices}: this machine has no CUDA device")
        else:
            resolve_device(a.device)
        resolve_dtype(a.dtype)
    except InterpError as e:
        ap.error(str(e))


def digit_range(text: str) -> tuple[int, int]:
    """`--digits 2` or `--digits 1-4`."""
    parts = text.split("-")
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None:
        raise argparse.ArgumentTypeError(f"--digits takes N or N-M, got {text!r}")
    return lo, hi


def parse(ap: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """Parsed arguments, or the exit code argparse asked for (2 on a bad argument, 0 after --help)."""
    go_offline()  # every command is offline from its first step
    try:
        return ap.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)


def command_line(prog: str, argv: Sequence[str] | None) -> str:
    """The exact command, as recorded in every result file."""
    return f"{prog} " + shlex.join(sys.argv[1:] if argv is None else list(argv))


def stage_line(name: str, seconds: float) -> None:
    """On a terminal the progress bars say it all; in a log, one line as each stage ends."""
    if not sys.stderr.isatty():
        print(f"{name}: {seconds:.1f} s", file=sys.stderr, flush=True)
