"""`python -m interp.reproduce`: every published figure the toolkit stands on, rebuilt, on one offline page.

Runs five existing commands (`interp.memory eval` on the committed checkpoints, `interp.nll`,
`interp.patch`, `interp.probe`), each into its own folder under --out, and draws
`reproduce.html`: a section per reference figure in its own layout, with what the published figure
shows, what ours shows, the command, the seed and the versions. A folder already holding a result
made by the same command is reused.
"""

from __future__ import annotations

import sys
from pathlib import Path

from interp.cli.common import Parser, add_device_args, add_format_arg, fail, parse, write_figures
from interp.core.files import atomic_write_text
from interp.runs.reproduce import plan, run_step, state
from interp.runs.reproduced import page

PAGE = "reproduce.html"


def main(argv: list[str] | None = None) -> int:
    ap = Parser(prog="python -m interp.reproduce", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/reproduce", help="folder for the five runs and the page")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--full", action="store_true", help="the sizes the README quotes (NLL to 32K: over an hour)")
    g.add_argument("--smoke", action="store_true", help="the smallest size that draws every figure (tests)")
    ap.add_argument("--overwrite", action="store_true", help="replace the page and runs made by other commands")
    add_device_args(ap, split=False)
    add_format_arg(ap)
    a = parse(ap, argv)
    if isinstance(a, int):
        return a
    device = () if (a.device, a.dtype) == ("cpu", "float32") else ("--device", a.device, "--dtype", a.dtype)
    size = "full" if a.full else "smoke" if a.smoke else "default"
    root = Path(a.out)
    if root.exists() and not root.is_dir():
        return fail(f"{root} is a file, not a folder; choose another --out")
    steps = plan(size, device)
    # Refuse before any work: nothing is overwritten unasked.
    clash = [s.folder for s in steps if state(s, root) == "different"]
    if (root / "figures").exists() and any(f != "html" for f in a.formats) and not a.overwrite:
        return fail(f"{root / 'figures'} exists; use --overwrite or another --out")
    if (root / PAGE).exists() and not a.overwrite:
        return fail(
            f"{root / PAGE} exists; use --overwrite (runs made by the same commands are reused) or another --out"
        )
    if clash and not a.overwrite:
        return fail(
            f"{', '.join(clash)} under {root} hold results of other commands (or of other checkpoints); "
            "use --overwrite or another --out"
        )
    root.mkdir(parents=True, exist_ok=True)
    runs = {}
    for i, step in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {step.key} {step.title}: {step.command(root)}", flush=True)
        runs[step.key] = done = run_step(step, root, a.overwrite)
        if done.returncode != 0:
            return fail(
                f"{step.key} ({step.title}) failed with exit code {done.returncode}; its folder: {root / step.folder}"
            )
        print(f"[{i}/{len(steps)}] {step.key}: " + ("reused" if done.reused else f"{done.seconds:.0f} s"), flush=True)
    html_page, warnings, sections = page(steps, root, runs, size)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    atomic_write_text(root / PAGE, html_page)
    print(f"wrote {root / PAGE} ({len(steps) - len(warnings)} of {len(steps)} figures drawn)")
    write_figures(lambda: sections, root, a.formats)
    return 0 if not warnings else 1
