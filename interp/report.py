"""`python -m interp.report OUT_DIR`: every result under OUT_DIR in one self-contained report.html.

Finds probe (results.json), patch (patch.json + patch.npz), nll (nll.json + nll.npz) and memory-task
(memory.json + memory.npz) results in OUT_DIR and its subfolders. A result that cannot be read is
named in a warning, on the terminal and at the top of the page, and the rest still builds.
"""

from __future__ import annotations

import html as _html
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from interp.errors import InterpError

KINDS = {"results.json": "probe", "patch.json": "patch", "nll.json": "nll", "memory.json": "memory"}
ORDER = ("probe", "patch", "nll", "memory")


def _npz(path: Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _probe(path: Path):
    from reports.sections import probe_sections

    out = json.loads(path.read_text())
    return out, probe_sections(out)


def _patch(path: Path):
    from reports.sections import patch_sections

    meta = json.loads(path.read_text())
    res = _npz(path.with_name("patch.npz"))
    for k in ("ld_clean", "ld_corrupt"):
        res[k] = meta[k]
    res["sites"] = meta["config"]["sites"]
    return meta, patch_sections(res, meta)


def _nll(path: Path):
    from reports.sections import nll_sections

    meta = json.loads(path.read_text())
    return meta, nll_sections(meta, _npz(path.with_name("nll.npz")))


def _memory(path: Path):
    from reports.sections import memory_sections

    meta = json.loads(path.read_text())
    return meta, memory_sections(meta, _npz(path.with_name("memory.npz")))


LOADERS: dict[str, Callable] = {"probe": _probe, "patch": _patch, "nll": _nll, "memory": _memory}


def find_results(root: Path) -> list[tuple[str, Path]]:
    found = [(KINDS[p.name], p) for p in sorted(root.rglob("*.json")) if p.name in KINDS
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(found, key=lambda kp: (ORDER.index(kp[0]), str(kp[1])))


def _summary(kind: str, meta: dict, where: str) -> list[str]:
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
    return [kind, where, str(model), json.dumps(task), str(seed),
            ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in timings.items()),
            meta.get("command", "-")]


def build(root: Path) -> tuple[str, list[str], int]:
    """(page, warnings, number of results shown)."""
    from reports.html import assemble
    from reports.sections import _table

    sections, rows, warnings, versions = [], [["result", "folder", "model", "task / config", "seed", "timings",
                                               "command"]], [], {}
    for kind, path in find_results(root):
        where = str(path.parent.relative_to(root)) or "."
        try:
            meta, secs = LOADERS[kind](path)
        except Exception as e:  # any unreadable result is reported, never fatal
            warnings.append(f"could not read {kind} result {path}: {type(e).__name__}: {e}".splitlines()[0])
            continue
        sections += secs
        rows.append(_summary(kind, meta, where))
        versions.update(meta.get("versions") or {})
    header = ""
    if warnings:
        header += "".join(f"<p class='warning' style='color:#b00;font-weight:bold'>warning: {_html.escape(w)}</p>"
                          for w in warnings)
    header += _table(rows) if len(rows) > 1 else "<p>No results found.</p>"
    if versions:
        header += "<p>versions: " + _html.escape(", ".join(f"{k} {v}" for k, v in versions.items())) + "</p>"
    return assemble(sections, f"interp report: {root.name}", header), warnings, len(rows) - 1


def main(argv: list[str] | None = None) -> int:
    from interp.cli.common import Parser, fail

    ap = Parser(prog="python -m interp.report", description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", help="folder holding probe, patch, nll or memory results")
    ap.add_argument("--output", default=None, help="page to write (default OUT_DIR/report.html)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing report")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    root = Path(a.out_dir)
    if not root.is_dir():
        return fail(f"no such folder: {root}")
    dest = Path(a.output) if a.output else root / "report.html"
    if dest.exists() and not a.overwrite:
        return fail(f"{dest} exists; use --overwrite or --output")
    try:
        page, warnings, n = build(root)
    except InterpError as e:
        return fail(str(e))
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if n == 0:
        return fail(f"no readable results under {root}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=dest.parent, prefix=".report-", suffix=".html", delete=False) as f:
        f.write(page)
    os.replace(f.name, dest)
    print(f"wrote {dest} ({n} results, {len(page) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
