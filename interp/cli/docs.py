"""`interp docs --out docs`: the API reference, built offline from the docstrings (pdoc), as OUT/api/index.html.

Every public name (`interp.EXPORTS`) gets a section on `api/interp.html`, and every library module a page.
The pages load nothing from the network. Needs pdoc: pip install -e ".[docs]".
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from interp.cli.common import Parser, fail, parse, refuse_existing
from interp.core.files import write_outputs

OUTPUTS = ("api",)
# The package's public face, then each library subpackage.
MODULES = (
    "interp", "interp.models", "interp.hooks", "interp.interventions", "interp.context", "interp.runs", "interp.core",
    "interp.probes", "interp.tasks", "interp.reports",
)  # fmt: skip
# Command shims are not documented: importing `interp.capture` (the command) would rebind the package's
# `capture` (the function) to that module, so pdoc must not walk into it.
SHIMS = ("interp.capture",)


def build(out: Path) -> None:
    """Write the reference into `out` (a new folder)."""
    pdoc = importlib.import_module("pdoc")
    interp = importlib.import_module("interp")
    for name in interp.__all__:  # put the lazily imported names in the package's namespace, where pdoc looks
        getattr(interp, name)
    pdoc.render.configure(docformat="markdown", footer_text="interp API reference")
    walk = pdoc.extract.iter_modules2
    pdoc.extract.iter_modules2 = lambda m: {k: v for k, v in walk(m).items() if v.name not in SHIMS}
    try:
        pdoc.pdoc(*MODULES, output_directory=out)
    finally:
        pdoc.extract.iter_modules2 = walk


def main(argv: list[str] | None = None) -> int:
    ap = Parser(prog="interp docs", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs", help="folder to write api/ into (default docs)")
    ap.add_argument("--overwrite", action="store_true", help="replace an api/ folder already there")
    a = parse(ap, argv)
    if isinstance(a, int):
        return a
    out_dir = Path(a.out)
    if (rc := refuse_existing(out_dir, OUTPUTS, a.overwrite)) is not None:
        return rc
    if importlib.util.find_spec("pdoc") is None:
        return fail('the API reference needs pdoc: pip install -e ".[docs]"')
    write_outputs(out_dir, {"api": build})
    print(f"wrote {out_dir / 'api' / 'index.html'}")
    return 0
