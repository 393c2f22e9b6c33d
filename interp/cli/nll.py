"""`python -m interp.nll --model smollm2-135m --model gemma3-270m --tokens 8192`: NLL by token position."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

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
    stage_line,
    write_figures,
)
from interp.core.errors import InterpError
from interp.core.files import write_outputs
from interp.reports.html import assemble
from interp.reports.sections import nll_sections
from interp.runs.guard import precision_line
from interp.runs.nll import NLLRun, NLLRunConfig, paired_lines, run, stats_table
from interp.tasks.long_context import LongContextConfig, TextSourceError

OUTPUTS = ("nll.json", "nll.npz", "nll.html")


def page(res: NLLRun) -> str:
    return assemble(nll_sections(res.for_report()), "Long-context NLL", f"<pre>{html.escape(res.command)}</pre>")


def write(res: NLLRun, out: Path) -> None:
    write_outputs(
        out,
        {
            "nll.json": lambda p: p.write_text(json.dumps(res.to_json(), indent=1)),
            "nll.npz": lambda p: np.savez_compressed(p, **res.arrays()),
            "nll.html": lambda p: p.write_text(page(res)),
        },
    )


def parser() -> Parser:
    ap = Parser(prog="python -m interp.nll", description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", help="repeat for several models (default smollm2-135m)")
    ap.add_argument("--tokens", type=int, default=LongContextConfig.tokens)
    ap.add_argument("--documents", type=int, default=LongContextConfig.documents)
    ap.add_argument(
        "--text", action="append", help="text source: kjv, jargon or a local path (repeatable; default both built-ins)"
    )
    ap.add_argument("--seed", type=seed, default=0)
    ap.add_argument("--chunk", type=int, default=NLLRunConfig.chunk, help="positions per forward chunk")
    ap.add_argument("--out", default="runs/nll")
    ap.add_argument(
        "--stats",
        action="store_true",
        help="also activation norms and attention distance by position (eager attention: slower)",
    )
    add_device_args(ap)
    add_format_arg(ap)
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = parse(ap, argv)
    if isinstance(a, int):
        return a
    if a.tokens < 16 or a.documents < 1 or a.chunk < 1:
        return fail("--tokens must be at least 16, --documents and --chunk positive")
    out = Path(a.out)
    if (rc := refuse_existing(out, outputs(a.formats, OUTPUTS), a.overwrite)) is not None:
        return rc
    text = LongContextConfig(
        tokens=a.tokens,
        documents=a.documents,
        seed=a.seed,
        sources=tuple(a.text) if a.text else LongContextConfig.sources,
    )
    cfg = NLLRunConfig(tuple(a.model or NLLRunConfig.models), text, a.chunk, a.stats, a.device, a.dtype, a.n_devices)
    try:
        res = run(
            cfg,
            command_line("python -m interp.nll", argv),
            progress=False if a.quiet else None,
            on_stage=None if a.quiet else stage_line,
        )
    except (InterpError, TextSourceError) as e:
        return fail(str(e))
    print(res.table())
    if pairs := res.paired():
        print(paired_lines(pairs))
    for m in res.models:
        fit = m.summary["fit"]
        print(
            f"{m.model}: {m.tokens_per_s:.0f} tokens/s, peak memory {m.peak_rss_gb:.1f} GB"
            + (
                f"; fit L(t) = {fit['alpha']:.3f} t^{fit['beta']:.3f} + {fit['gamma']:.3f}, R^2 {fit['r2']:.3f}"
                if fit
                else ""
            )
        )
        if m.stats:
            print(stats_table(m.model, m.stats))
    write(res, out)
    print(f"wrote {', '.join(str(out / n) for n in OUTPUTS)}")
    for m in res.models:
        print(f"{m.model}: {precision_line(m.precision)}")
    write_figures(lambda: nll_sections(res.for_report()), out, a.formats)
    return 0
