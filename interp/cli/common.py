"""What every command shares: one-line errors with exit 2, the output-folder guard, the command line."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch

from interp.core.errors import InterpError
from interp.core.files import existing_outputs
from interp.models.devices import DEVICE_HELP, DTYPES, resolve_device, resolve_dtype
from interp.models.offline import go_offline
from interp.models.precision import FORMATS, slow_format
from interp.reports.static import STATIC, StaticExportUnavailable, page_figures, parse_formats, write_static


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


def add_device_args(ap: argparse.ArgumentParser, split: bool = True, formats: bool = True) -> None:
    """--device and --dtype (and, for language models, --n-devices): where and in what precision to run.

    `formats`: a language model's choice of number format (`interp.models.precision`); otherwise the
    model's own dtype. Both are float32 by default."""
    ap.add_argument("--device", default="cpu", help=f"where to run: {DEVICE_HELP}")
    if formats:
        ap.add_argument(
            "--dtype",
            default="float32",
            choices=list(FORMATS),
            help="the matmuls' number format around a float32 residual stream: float32 (default) is exact; "
            "bfloat16 is about 3x faster on CPUs with bfloat16 matrix units and checked against float32 at run "
            "time, but moves probe cells by up to 0.022 (BENCHMARKS.md); auto is bfloat16 only on such hardware",
        )
    else:
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
        if a.dtype in DTYPES:
            resolve_dtype(a.dtype)
        slow = slow_format(a.dtype, resolve_device(a.device)) if (getattr(a, "n_devices", None) or 1) <= 1 else None
    except InterpError as e:
        ap.error(str(e))
    if slow:  # before any work: the run is valid, but far slower than the float32 default on this machine
        print(f"note: {slow}; --dtype float32 (the default) or auto is faster", file=sys.stderr, flush=True)


def outputs(formats: Sequence[str], names: Sequence[str] = ()) -> tuple[str, ...]:
    """A command's outputs, with figures/ when static formats are asked for (so it is never replaced unasked)."""
    return (*names, "figures") if any(f in STATIC for f in formats) else tuple(names)


def add_format_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--format",
        default="html",
        help="html, png, svg, pdf, comma-separated: the HTML page always, static figures in OUT/figures/",
    )


def check_formats(ap: Parser, a: argparse.Namespace) -> tuple[str, ...]:
    try:
        return parse_formats(a.format)
    except ValueError as e:
        ap.error(f"--format: {e}")


def write_figures(sections: Callable[[], Sequence], out_dir: Path, formats: Sequence[str]) -> None:
    """Static copies of a page's figures in OUT/figures/, written to a scratch folder and renamed into place.
    `sections` builds the page's sections, only when a static format is asked for (HTML alone needs nothing
    more). Where kaleido or Chromium is missing, one line says how to get them; the HTML page stands either way."""
    if not any(f in STATIC for f in formats):
        return
    tmp = out_dir / ".figures.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        written = write_static(page_figures(sections()), tmp, formats)
    except StaticExportUnavailable as e:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"note: the HTML page is written; {e}", file=sys.stderr)
        return
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    dest = out_dir / "figures"
    if dest.is_dir():
        shutil.rmtree(dest)
    if tmp.exists():
        os.replace(tmp, dest)
    print(f"wrote {len(written)} static figures to {dest} ({', '.join(f for f in formats if f in STATIC)})")


def seed(text: str) -> int:
    """`--seed`: a non-negative integer (numpy's generators take no negative seed)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed takes a non-negative integer, got {text!r}")
    return value


def positive(text: str) -> float:
    """A positive, finite float (`nan` and `inf` refused here, not after minutes of work)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"takes a positive finite number, got {text!r}")
    return value


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
    """Parsed arguments, or the exit code argparse asked for (2 on a bad argument, 0 after --help).

    A command with --device / --dtype has them checked here, and one with --format gets `a.formats`: a choice
    this machine cannot honour is one line before any work."""
    go_offline()  # every command is offline from its first step
    try:
        a = ap.parse_args(argv)
        if getattr(a, "device", None) is not None:
            check_device_args(ap, a)
        if getattr(a, "format", None) is not None:
            a.formats = check_formats(ap, a)
        return a
    except SystemExit as e:
        return int(e.code or 0)


def command_line(prog: str, argv: Sequence[str] | None) -> str:
    """The exact command, as recorded in every result file."""
    return f"{prog} " + shlex.join(sys.argv[1:] if argv is None else list(argv))


def stage_line(name: str, seconds: float) -> None:
    """On a terminal the progress bars say it all; in a log, one line as each stage ends."""
    if not sys.stderr.isatty():
        print(f"{name}: {seconds:.1f} s", file=sys.stderr, flush=True)
