"""`python -m interp.probe --layer all`: digit-scale probe accuracy by layer.

Thin CLI: argv -> ProbeRunConfig -> run() -> files. Writes results.json,
results.csv, heatmap.html and the exact problems (a `datasets` folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import json
import math
from pathlib import Path

import datasets
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
    positive,
    refuse_existing,
    seed,
    stage_line,
    write_figures,
)
from interp.core.errors import InterpError
from interp.core.files import write_outputs
from interp.core.stages import timing_line
from interp.hooks.names import SITES, parse_layers
from interp.interventions.causal import CausalConfig
from interp.models.loading import config_layers, task_defaults
from interp.probes.sweep import SweepConfig
from interp.reports.html import assemble
from interp.reports.probe import probe_sections
from interp.runs.guard import precision_line
from interp.runs.probe import ProbeRun, ProbeRunConfig, for_report, run
from interp.runs.probe_tables import csv_text, table
from interp.tasks.arithmetic import ArithmeticConfig, to_dataset

OUTPUTS = ("results.json", "results.csv", "heatmap.html", "problems")


def page(out: dict) -> str:
    return assemble(probe_sections(for_report(out)), "interp probe", f"<pre>{html.escape(out['command'])}</pre>")


def figures(res: ProbeRun, out_dir: Path, formats, order: str = "place") -> None:
    write_figures(lambda: probe_sections(for_report(res.to_json() | {"order": order})), out_dir, formats)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write(res: ProbeRun, out_dir: Path, order: str = "place") -> None:
    """Every file to a scratch folder first, then each moved into place."""
    out = res.to_json() | {"order": order}
    datasets.disable_progress_bars()
    write_outputs(
        out_dir,
        {
            "results.json": lambda p: p.write_text(json.dumps(out, indent=1, default=_json_default)),
            "results.csv": lambda p: p.write_text(csv_text(res)),
            "heatmap.html": lambda p: p.write_text(page(out)),
            "problems": lambda p: to_dataset(res.problems).save_to_disk(str(p)),
        },
    )


def behaviour_line(b: dict) -> str:
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    return (
        f"model's own greedy exact match: {pct(b['exact'])} on {b['n']} problems; by operand length "
        + ", ".join(f"{k}-digit {pct(v)}" for k, v in b["by_operand_digits"].items())
        + "; digit right by answer scale "
        + ", ".join(f"{k}: {pct(v)}" for k, v in b["by_scale"].items())
    )


def reads_line(reads: dict) -> str:
    shared = ", ".join(f"scales {k}: {v} problems" for k, v in reads["shared"].items()) or "none"
    return (
        "note: this tokenizer writes several answer digits as one token; each scale is read at the last token "
        f"before the one that writes it, so some scales share a read position ({shared}); no logit lens"
    )


def causal_lines(c) -> str:
    """Per digit scale, the layer where ablating the probe subspace costs the model most beyond a random edit of
    the same norm, and where steering flips its answer most often, each with its 95% interval paired by
    problem."""
    drop, lines = c.ablation_drop(), ["causal tests (held-out problems; the control is a random edit of equal norm):"]
    for k, t in enumerate(c.targets):
        a, f = int(drop[:, k].argmax()), int(c.flip[:, k].argmax())
        lost, gain = (
            f", beyond random {v[0]:+.2f} [{v[1][0]:+.2f}, {v[1][1]:+.2f}]" if v[1] is not None else ""
            for v in (
                (drop[a, k], None if c.ablation_drop_ci is None else c.ablation_drop_ci[a, k]),
                (c.flip[f, k] - c.flip_random[f, k], None if c.flip_gain_ci is None else c.flip_gain_ci[f, k]),
            )
        )
        lines.append(
            f"  {t}: model {c.model[k]:.2f} unedited; ablating the probe at layer {c.layers[a]}: "
            f"{c.model_ablate[a, k]:.2f} (random {c.model_ablate_random[a, k]:.2f}{lost}); steering at layer "
            f"{c.layers[f]} flips {c.flip[f, k]:.2f} to the target (random {c.flip_random[f, k]:.2f}{gain})"
        )
    return "\n".join(lines)


def add_causal_args(ap: Parser) -> None:
    """--causal and --steer: the causal tests of the probe directions (`interp.interventions.causal`)."""
    ap.add_argument(
        "--causal",
        default=None,
        metavar="LAYERS",
        help="also ablate and steer along the resid_post probe directions at these layers ('all', '0,4,8', '10-20')",
    )
    ap.add_argument(
        "--steer",
        type=float,
        default=CausalConfig.steer,
        help="with --causal: how far toward the target digit's mean, within the probe subspace (1 = all the way)",
    )


def parser() -> Parser:
    ap = Parser(prog="python -m interp.probe", description=__doc__)
    ap.add_argument("--model", default=ProbeRunConfig.model, help="built-in name, HF folder, or cached hub name")
    ap.add_argument("--layer", default="all", help="'all', '0,4,8' or '10-20'")
    ap.add_argument("--task", default="add", choices=["add", "sub", "mul"])
    ap.add_argument(
        "--digits",
        type=digit_range,
        default=None,
        help="operand digits: 2 or 1-4 (mixed); default 1-4 or the model's own",
    )
    ap.add_argument(
        "--pad", type=int, default=None, help="zero-pad operands to this width (0 = none); default the model's own"
    )
    ap.add_argument("--site", default="attn_out,mlp_out,resid_post")
    ap.add_argument("--n", type=int, default=ArithmeticConfig.n, help="number of problems")
    ap.add_argument("--shots", type=int, default=ArithmeticConfig.shots)
    ap.add_argument(
        "--read-at",
        default="emit",
        choices=["emit", "equals", "last_operand", "last"],
        help="emit: each answer digit where the model writes it (the default); or the final '=', ...",
    )
    ap.add_argument(
        "--order",
        default="place",
        choices=["place", "writing"],
        help="digit-scale axis of the heatmaps: place value (ones first) or order of writing",
    )
    ap.add_argument("--seed", type=seed, default=0)
    ap.add_argument("--folds", type=int, default=SweepConfig.folds)
    ap.add_argument("--C", type=positive, default=SweepConfig.C, help="inverse L2 strength")
    ap.add_argument(
        "--probe",
        default="torch",
        choices=["torch", "sklearn"],
        help="batched torch solver (fast) or one scikit-learn fit per probe (reference)",
    )
    ap.add_argument(
        "--behaviour-n",
        type=int,
        default=ProbeRunConfig.behaviour_n,
        help="problems on which to decode the model's own answers (0 = skip)",
    )
    add_causal_args(ap)
    add_device_args(ap)
    add_format_arg(ap)
    ap.add_argument("--batch-size", type=int, default=ProbeRunConfig.batch_size)
    ap.add_argument("--out", default=None, help="output folder (default runs/probe-MODEL-TASK)")
    ap.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def config(ap: Parser, a: argparse.Namespace) -> ProbeRunConfig:
    """The run config from parsed arguments; a bad value ends in `ap.error` (one line, exit 2)."""
    sites = tuple(s.strip() for s in a.site.split(",") if s.strip())
    bad = [s for s in sites if s not in SITES or s == "z"]
    if bad or not sites:
        ap.error(
            f"unknown site {bad[0] if bad else ''!r}; choose from attn_out, mlp_out, resid_pre, resid_mid, resid_post"
        )
    if a.n < 2 * a.folds:
        ap.error(f"--n must be at least {2 * a.folds} for {a.folds}-fold probes, got {a.n}")
    if a.folds < 2:
        ap.error("--folds must be at least 2")
    if a.batch_size < 1 or a.shots < 0:
        ap.error("--batch-size must be positive and --shots non-negative")
    if not 0 < a.steer < math.inf:
        ap.error("--steer must be positive")
    try:  # a model folder may name its own prompt format (arith-toy: zero-padded operands)
        own = task_defaults(a.model)
        probed = parse_layers(a.layer, config_layers(a.model))
        causal = parse_layers(a.causal, config_layers(a.model)) if a.causal else []
    except InterpError as e:
        ap.error(str(e))
    if set(causal) - set(probed):
        ap.error(f"--causal layer {sorted(set(causal) - set(probed))[0]} is not among the probed layers (--layer)")
    digits = a.digits or tuple(own.get("digits", (1, 4)))
    pad = a.pad if a.pad is not None else int(own.get("pad", 0))
    try:
        task = ArithmeticConfig(n=a.n, op=a.task, digits=digits, shots=a.shots, read_at=a.read_at, pad=pad)
        # scales no problem writes are not probed (--digits 1: ones and tens only)
        task = dataclasses.replace(task, scales=min(task.scales, task.max_written()))
    except ValueError as e:
        ap.error(str(e))
    return ProbeRunConfig(
        model=a.model,
        task=task,
        sites=sites,
        layers=a.layer,
        seed=a.seed,
        batch_size=a.batch_size,
        behaviour_n=max(a.behaviour_n, 0),
        sweep=SweepConfig(C=a.C, folds=a.folds, method=a.probe, seed=a.seed),
        device=a.device,
        dtype=a.dtype,
        n_devices=a.n_devices,
        causal_layers=a.causal,
        causal=CausalConfig(steer=a.steer, C=a.C, seed=a.seed),
    )


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = parse(ap, argv)
    if isinstance(a, int):
        return a
    try:
        cfg = config(ap, a)
    except SystemExit as e:
        return int(e.code or 0)
    if cfg.task.scales < ArithmeticConfig.scales:
        print(f"note: these problems write at most {cfg.task.scales} answer digits: probing scales 1-{cfg.task.scales}")
    out_dir = Path(a.out or f"runs/probe-{Path(cfg.model).name}-{cfg.task.op}")
    if (rc := refuse_existing(out_dir, outputs(a.formats, OUTPUTS), a.overwrite)) is not None:
        return rc
    try:
        res = run(
            cfg,
            command_line("python -m interp.probe", argv),
            progress=False if a.quiet else None,
            on_stage=None if a.quiet else stage_line,
        )
        if not a.quiet:
            print(table(res))
            if not res.reads["digits_split"]:
                print(reads_line(res.reads))
            if res.behaviour:
                print(behaviour_line(res.behaviour))
            if res.causal is not None:
                print(causal_lines(res.causal))
        write(res, out_dir, a.order)
    except InterpError as e:
        return fail(str(e))
    figures(res, out_dir, a.formats, a.order)
    print(f"wrote {', '.join(str(out_dir / n) for n in OUTPUTS)}")
    print(timing_line(res.timings))
    print(precision_line(res.precision))
    return 0
