"""`python -m interp.patch --model smollm2-135m --task add --digits 2 --n 200`: which sublayers matter.

Thin CLI: argv -> PatchRunConfig -> `interp.runs.patch.run` -> patch.json, patch.npz, patch.html.
"""

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
    digit_range,
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
from interp.core.stages import timing_line
from interp.interventions.patching import PatchConfig
from interp.models.loading import task_defaults
from interp.reports.html import assemble
from interp.reports.sections import patch_sections
from interp.runs.guard import precision_line
from interp.runs.patch import LABEL, PatchRun, PatchRunConfig, run
from interp.tasks.arithmetic import ArithmeticConfig

OUTPUTS = ("patch.json", "patch.npz", "patch.html")


def page(res: PatchRun, threshold: float) -> str:
    head = f"<pre>{html.escape(res.meta['command'])}</pre>"
    return assemble(patch_sections(res.for_report(), threshold), f"Activation patching: {res.meta['model']}", head)


def write(res: PatchRun, out: Path, threshold: float) -> None:
    write_outputs(
        out,
        {
            "patch.json": lambda p: p.write_text(json.dumps(res.to_json(), indent=1)),
            "patch.npz": lambda p: np.savez_compressed(p, **res.arrays()),
            "patch.html": lambda p: p.write_text(page(res, threshold)),
        },
    )


def parser() -> Parser:
    ap = Parser(prog="python -m interp.patch", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=PatchRunConfig.model)
    ap.add_argument("--task", default="add", choices=["add", "sub", "mul"])
    ap.add_argument("--digits", type=digit_range, default=None, help="operand digits: 2 or 1-4 (default 2)")
    ap.add_argument("--pad", type=int, default=None, help="zero-pad operands (default the model's own)")
    ap.add_argument("--n", type=int, default=200, help="clean/corrupted pairs")
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--seed", type=seed, default=0)
    ap.add_argument("--threshold", type=float, default=0.1, help="outline sublayers with effect at least this")
    ap.add_argument("--no-positions", action="store_true", help="skip per-position patching")
    ap.add_argument("--heads", action="store_true", help="also patch every attention head (its z), per layer")
    ap.add_argument(
        "--atp", action="store_true", help="also estimate every patch by attribution patching, against the exact grids"
    )
    ap.add_argument(
        "--atp-checks",
        type=int,
        default=0,
        metavar="K",
        help="with --atp: check the K cells it misses most (per grid) for attention saturation and cancellation",
    )
    add_device_args(ap)
    add_format_arg(ap)
    ap.add_argument("--rows", type=int, default=PatchConfig.rows_per_forward, help="batch rows per forward")
    ap.add_argument("--out", default=None, help="output folder (default runs/patch-MODEL-TASK)")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = parse(ap, argv)
    if isinstance(a, int):
        return a
    try:
        if a.n < 1 or a.rows < 1 or a.shots < 0 or a.atp_checks < 0:
            return fail("--n and --rows must be positive, --shots and --atp-checks non-negative")
        if a.atp_checks and not a.atp:
            return fail("--atp-checks needs --atp")
        own = task_defaults(a.model)
        task = ArithmeticConfig(
            n=a.n,
            op=a.task,
            digits=a.digits or (2, 2),
            shots=a.shots,
            pad=a.pad if a.pad is not None else int(own.get("pad", 0)),
        )
    except (InterpError, ValueError) as e:
        return fail(str(e))
    out = Path(a.out or f"runs/patch-{Path(a.model).name}-{a.task}")
    if (rc := refuse_existing(out, outputs(a.formats, OUTPUTS), a.overwrite)) is not None:
        return rc
    patch = PatchConfig(per_position=not a.no_positions, rows_per_forward=a.rows)
    cfg = PatchRunConfig(
        a.model,
        task,
        a.seed,
        patch,
        heads=a.heads,
        atp=a.atp,
        device=a.device,
        dtype=a.dtype,
        n_devices=a.n_devices,
        atp_checks=a.atp_checks,
    )
    try:
        res = run(
            cfg,
            command_line("python -m interp.patch", argv),
            progress=False if a.quiet else None,
            on_stage=None if a.quiet else stage_line,
        )
    except (InterpError, ValueError) as e:
        return fail(str(e))
    summary(res.meta)
    write(res, out, a.threshold)
    print(f"wrote {', '.join(str(out / n) for n in OUTPUTS)}")
    write_figures(lambda: patch_sections(res.for_report(), a.threshold), out, a.formats)
    print(timing_line(res.meta["timings"]))
    print(precision_line(res.meta["precision"]))
    return 0


def summary(m: dict) -> None:
    """What the run found, printed: the top sublayers and heads, AtP's agreement and its checked misses."""
    print(
        f"{m['n_pairs']} pairs; mean logit difference clean {m['ld_clean']:.3f}, corrupted "
        f"{m['ld_corrupt']:.3f}; patching took {m['timings']['patch_s']:.1f} s"
    )
    print("top sublayers (normalised effect, 1 = restores the clean answer; 95% interval over pairs):")
    for r in m["top"]:
        ci = f" [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]" if "ci" in r else ""
        print(f"  {LABEL[r['site']]} layer {r['layer']:>2} (#{r['sublayer']}): {r['effect']:+.3f}{ci}")
    for r in (m.get("heads") or {}).get("top", []):
        ci = f" [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]" if "ci" in r else ""
        print(f"  head L{r['layer']}H{r['head']}: {r['effect']:+.3f}{ci}")
    for grid, ag in (m.get("atp") or {}).items():
        rho_ci, top_ci = (
            f" [{ag[k][0]:.2f}, {ag[k][1]:.2f}]" if k in ag else "" for k in ("spearman_ci", "top_k_overlap_ci")
        )
        print(f"attribution patching vs exact, {grid}: Spearman {ag['spearman']:.3f}{rho_ci}, top-{ag['top_k']} "
              f"overlap {ag['top_k_overlap']:.2f}{top_ci}")  # fmt: skip
    for c in (m.get("atp_checks") or {}).get("cells", []):
        print(f"  {c['site']}: exact {c['exact']:+.3f}, AtP {c['atp']:+.3f}, GradDrop {c['graddrop']:.3f}, "
              f"frozen attention {c['frozen'][-1]:+.3f}, and norms {c['frozen_norms'][-1]:+.3f}: {c['diagnosis']}")  # fmt: skip
