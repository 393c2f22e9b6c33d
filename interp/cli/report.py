"""`python -m interp.report OUT_DIR`: every result under OUT_DIR in one self-contained report.html.

Finds probe (results.json), patch (patch.json + patch.npz), nll (nll.json + nll.npz) and memory-task
(memory.json + memory.npz) results in OUT_DIR and its subfolders. A result that cannot be read is
named in a warning, on the terminal and at the top of the page, and the rest still builds.
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Callable
from pathlib import Path

from interp.cli.common import Parser, add_format_arg, fail, outputs, parse, refuse_existing, write_figures
from interp.core.files import atomic_write_text
from interp.reports.html import assemble
from interp.reports.memory import memory_sections
from interp.reports.probe import probe_sections
from interp.reports.sections import nll_sections, patch_sections, table
from interp.runs.results import find_results, read_result

SECTIONS: dict[str, Callable] = {
    "probe": probe_sections,
    "patch": patch_sections,
    "nll": nll_sections,
    "memory": memory_sections,
}


def summary(kind: str, meta: dict, where: str) -> list[str]:
    """One header row: kind, folder, model(s), task/config, seed, timings, command."""
    if kind == "probe":
        model, task, seed = meta["model"]["name"], meta["config"]["task"], meta["config"]["seed"]
    elif kind == "nll":
        model = ", ".join(m["model"] for m in meta["models"])
        task = {k: meta["config"][k] for k in ("tokens", "documents", "sources")}
        seed = meta["config"]["seed"]
    elif kind == "memory":
        model = ", ".join(r["name"] for r in meta["runs"])
        task = sorted({r["task"] for r in meta["runs"]})
        seed = sorted({r["config"]["seed"] for r in meta["runs"]})
        meta = meta | {"timings": {r["name"]: f"{r['seconds']:.0f} s" for r in meta["runs"]}}
    else:
        model, task, seed = meta.get("model", "-"), meta.get("task", "-"), meta.get("seed", "-")
    timings = meta.get("timings") or {m["model"]: f"{m['seconds']:.0f} s" for m in meta.get("models", [])}
    return [
        kind,
        where,
        str(model),
        json.dumps(task),
        str(seed),
        ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in timings.items()),
        meta.get("command", "-"),
    ]


def build(root: Path) -> tuple[str, list[str], int]:
    """(page, warnings, number of results shown)."""
    page, warnings, n, _ = collect(root)
    return page, warnings, n


def collect(root: Path) -> tuple[str, list[str], int, list]:
    """(page, warnings, number of results shown, the page's sections)."""
    sections, warnings, versions = [], [], {}
    rows = [["result", "folder", "model", "task / config", "seed", "timings", "command"]]
    for kind, path in find_results(root):
        where = str(path.parent.relative_to(root)) or "."
        try:
            meta, data = read_result(kind, path)
            secs = SECTIONS[kind](data)
        except Exception as e:  # any unreadable result is reported, never fatal
            warnings.append(f"could not read {kind} result {path}: {type(e).__name__}: {e}".splitlines()[0])
            continue
        sections += secs
        rows.append(summary(kind, meta, where))
        versions.update(meta.get("versions") or {})
    header = "".join(
        f"<p class='warning' style='color:#b00;font-weight:bold'>warning: {html.escape(w)}</p>" for w in warnings
    )
    header += table(rows) if len(rows) > 1 else "<p>No results found.</p>"
    if versions:
        header += "<p>versions: " + html.escape(", ".join(f"{k} {v}" for k, v in versions.items())) + "</p>"
    return assemble(sections, f"interp report: {root.name}", header), warnings, len(rows) - 1, sections


def main(argv: list[str] | None = None) -> int:
    ap = Parser(prog="python -m interp.report", description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", help="folder holding probe, patch, nll or memory results")
    ap.add_argument("--output", default=None, help="page to write (default OUT_DIR/report.html)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing report")
    add_format_arg(ap)
    a = parse(ap, argv)
    if isinstance(a, int):
        return a
    root = Path(a.out_dir)
    if not root.is_dir():
        return fail(f"no such folder: {root}")
    dest = Path(a.output) if a.output else root / "report.html"
    if dest.exists() and not a.overwrite:
        return fail(f"{dest} exists; use --overwrite or --output")
    if (rc := refuse_existing(dest.parent, outputs(a.formats), a.overwrite)) is not None:
        return rc
    page, warnings, n, sections = collect(root)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if n == 0:
        return fail(f"no readable results under {root}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(dest, page)
    print(f"wrote {dest} ({n} results, {len(page) / 1e6:.1f} MB)")
    write_figures(lambda: sections, dest.parent, a.formats)
    return 0
