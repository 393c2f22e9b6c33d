"""`python -m interp.probe --layer all`: digit-scale probe accuracy by layer.

Thin CLI: argv -> ProbeRunConfig -> run() -> files. Writes results.json,
results.csv, heatmap.html and the exact problems (a `datasets` folder).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from interp.cli.common import Parser, digit_range, fail, refuse_existing, versions
from interp.config import ProbeRunConfig
from interp.errors import InterpError
from probes.sweep import ProbeResults, SweepConfig, control_labels, sweep
from tasks.arithmetic import ArithmeticConfig, make_arithmetic, to_dataset, token_positions

OUTPUTS = ("results.json", "results.csv", "heatmap.html", "problems")


def probe_inputs(problems, cfg: ProbeRunConfig) -> tuple[dict, dict, np.ndarray]:
    """(labels, control labels, strata) for the digit-scale targets."""
    targets = [f"digit_{k}" for k in range(1, cfg.task.scales + 1)]
    labels = {k: problems.labels[k] for k in targets}
    controls = {
        f"digit_{k}": control_labels(problems.labels[f"digit_{k}"], problems.labels[f"a_digit_{k}"],
                                     problems.labels[f"b_digit_{k}"], cfg.seed + k)
        for k in range(1, cfg.task.scales + 1)
    }
    return labels, controls, problems.labels["n_digits"]


def run(cfg: ProbeRunConfig, progress: bool | None = None, keep_acts: bool = False) -> dict:
    """Everything but file writing: returns results as plain data."""
    from interp import capture, load_model
    from interp.behaviour import arithmetic_accuracy, greedy_continuations
    from interp.models import model_info
    from interp.names import n_layers, parse_layers

    times: dict[str, float] = {}
    t = time.perf_counter()
    problems = make_arithmetic(cfg.task, cfg.seed)
    times["prompts_s"] = time.perf_counter() - t

    t = time.perf_counter()
    model = load_model(cfg.model)
    times["load_s"] = time.perf_counter() - t
    layers = parse_layers(cfg.layers, n_layers(model))
    info = model_info(model)

    t = time.perf_counter()
    pos = token_positions(model.tokenizer, problems, info.prepend_bos)[cfg.task.read_at]
    acts = capture(model, problems.prompts, sites=list(cfg.sites), layers=layers, positions=pos,
                   batch_size=cfg.batch_size, progress=progress)
    times["capture_s"] = time.perf_counter() - t

    behaviour = None
    if cfg.behaviour_n > 0:  # greedy decoding is slow on CPU: a subset by default
        t = time.perf_counter()
        k = min(cfg.behaviour_n, len(problems))
        f = cfg.task.format
        max_len = max(len(f(int(x), int(y), int(z))) - len(f(int(x), int(y)))
                      for x, y, z in zip(problems.a[:k], problems.b[:k], problems.answer[:k], strict=True))
        said = greedy_continuations(model, problems.prompts[:k], max_len, cfg.batch_size, progress)
        behaviour = arithmetic_accuracy(problems.answer[:k], said, problems.a[:k], problems.b[:k],
                                        cfg.task.scales)
        behaviour["examples"] = [[p.rsplit("\n", 1)[-1], s] for p, s in zip(problems.prompts[:min(5, k)], said[:5], strict=True)]
        times["behaviour_s"] = time.perf_counter() - t

    t = time.perf_counter()
    labels, controls, strata = probe_inputs(problems, cfg)
    res = sweep(dict(acts), labels, controls, layers, cfg.sweep, strata=strata, progress=progress)
    times["probe_fit_s"] = time.perf_counter() - t
    out = {"config": asdict(cfg), "model": asdict(info), "n_layers_model": n_layers(model),
           "probes": res.to_json(), "behaviour": behaviour, "timings": times,
           "versions": versions(), "_problems": problems}
    if keep_acts:
        out["_acts"] = dict(acts)
    return out


def table(res: ProbeResults) -> str:
    """Plain-text accuracy table: a row per layer, a column per (site, scale)."""
    acc, sel = res.mean(), res.selectivity()
    scales = [t.split("_")[-1] for t in res.targets]
    head = ["layer"] + [f"{s[:8]}:{k}" for s in res.sites for k in scales]
    rows = [head]
    for li, layer in enumerate(res.layers):
        rows.append([str(layer)] + [f"{acc[si, li, ti]:.2f}" for si in range(len(res.sites))
                                    for ti in range(len(scales))])
    rows.append(["major."] + [f"{m:.2f}" for _ in res.sites for m in res.majority])
    best = ["best selectivity (acc - control): " + ", ".join(
        f"{s} scale {k}: {sel[si, :, ti].max():+.2f} @ layer {res.layers[int(sel[si, :, ti].argmax())]}"
        for si, s in enumerate(res.sites) for ti, k in enumerate(scales))]
    w = max(len(c) for r in rows for c in r)
    return "\n".join(" ".join(c.rjust(w) for c in r) for r in rows) + "\n" + best[0]


def csv_text(res: ProbeResults) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["site", "layer", "target", "accuracy", "ci95", "control", "selectivity", "majority", "chance"])
    acc, ci, ctl, sel = res.mean(), res.ci95(), res.mean("control"), res.selectivity()
    for si, s in enumerate(res.sites):
        for li, layer in enumerate(res.layers):
            for ti, t in enumerate(res.targets):
                w.writerow([s, layer, t, f"{acc[si, li, ti]:.4f}", f"{ci[si, li, ti]:.4f}",
                            f"{ctl[si, li, ti]:.4f}", f"{sel[si, li, ti]:.4f}",
                            f"{res.majority[ti]:.4f}", f"{res.chance[ti]:.4f}"])
    return buf.getvalue()


def html_report(out: dict, command: str) -> str:
    import html as _html

    from reports.html import assemble
    from reports.sections import probe_sections

    header = (f"<p>model <b>{_html.escape(out['model']['name'])}</b>, task {out['config']['task']}, "
              f"seed {out['config']['seed']}</p><pre>{_html.escape(command)}</pre>")
    return assemble(probe_sections(out), f"Digit-scale probes: {out['model']['name']}", header)


def write_outputs(out: dict, out_dir: Path, overwrite: bool, command: str) -> None:
    """Write every file to a scratch folder first, then move each into place."""
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = out.pop("_problems")
    out["command"] = command
    res = ProbeResults.from_json(out["probes"])
    with tempfile.TemporaryDirectory(prefix=".probe-", dir=out_dir) as tmp:
        tmp = Path(tmp)
        (tmp / "results.json").write_text(json.dumps(out, indent=1, default=_json_default))
        (tmp / "results.csv").write_text(csv_text(res))
        (tmp / "heatmap.html").write_text(html_report(out, command))
        import datasets

        datasets.disable_progress_bars()
        to_dataset(problems).save_to_disk(str(tmp / "problems"))
        for name in OUTPUTS:
            dest = out_dir / name
            if dest.is_dir() and overwrite:
                shutil.rmtree(dest)
            os.replace(tmp / name, dest)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def parse(argv: list[str] | None) -> tuple[ProbeRunConfig, argparse.Namespace]:
    ap = Parser(prog="python -m interp.probe", description=__doc__)
    ap.add_argument("--model", default=ProbeRunConfig.model, help="built-in name, HF folder, or cached hub name")
    ap.add_argument("--layer", default="all", help="'all', '0,4,8' or '10-20'")
    ap.add_argument("--task", default="add", choices=["add", "sub", "mul"])
    ap.add_argument("--digits", type=digit_range, default=None,
                    help="operand digits: 2 or 1-4 (mixed); default 1-4 or the model's own")
    ap.add_argument("--pad", type=int, default=None,
                    help="zero-pad operands to this width (0 = none); default the model's own")
    ap.add_argument("--site", default="attn_out,mlp_out,resid_post")
    ap.add_argument("--n", type=int, default=ArithmeticConfig.n, help="number of problems")
    ap.add_argument("--shots", type=int, default=ArithmeticConfig.shots)
    ap.add_argument("--read-at", default="equals", choices=["equals", "last_operand", "last"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=SweepConfig.folds)
    ap.add_argument("--C", type=float, default=SweepConfig.C, help="inverse L2 strength")
    ap.add_argument("--probe", default="torch", choices=["torch", "sklearn"],
                    help="batched torch L-BFGS (fast) or one scikit-learn fit per probe (reference)")
    ap.add_argument("--behaviour-n", type=int, default=ProbeRunConfig.behaviour_n,
                    help="problems on which to decode the model's own answers (0 = skip)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", default=None, help="output folder (default runs/probe-MODEL-TASK)")
    ap.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    a = ap.parse_args(argv)
    from interp.names import SITES

    sites = tuple(s.strip() for s in a.site.split(",") if s.strip())
    bad = [s for s in sites if s not in SITES or s == "z"]
    if bad or not sites:
        ap.error(f"unknown site {bad[0] if bad else ''!r}; choose from attn_out, mlp_out, resid_pre, resid_mid, resid_post")
    if a.n < 2 * a.folds:
        ap.error(f"--n must be at least {2 * a.folds} for {a.folds}-fold probes, got {a.n}")
    if a.folds < 2:
        ap.error("--folds must be at least 2")
    if a.C <= 0 or a.batch_size < 1 or a.shots < 0:
        ap.error("--C and --batch-size must be positive and --shots non-negative")
    from interp.models import config_layers, task_defaults
    from interp.names import parse_layers

    try:  # a model folder may name its own prompt format (arith-toy: zero-padded operands)
        own = task_defaults(a.model)
        parse_layers(a.layer, config_layers(a.model))
    except InterpError as e:
        ap.error(str(e))
    digits = a.digits or tuple(own.get("digits", (1, 4)))
    pad = a.pad if a.pad is not None else int(own.get("pad", 0))
    try:
        task = ArithmeticConfig(n=a.n, op=a.task, digits=digits, shots=a.shots, read_at=a.read_at, pad=pad)
    except ValueError as e:
        ap.error(str(e))
    cfg = ProbeRunConfig(model=a.model, task=task, sites=sites, layers=a.layer, seed=a.seed,
                         batch_size=a.batch_size, behaviour_n=max(a.behaviour_n, 0),
                         sweep=SweepConfig(C=a.C, folds=a.folds, method=a.probe, seed=a.seed))
    return cfg, a


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, a = parse(argv)
    except SystemExit as e:
        return int(e.code or 0)
    out_dir = Path(a.out or f"runs/probe-{Path(cfg.model).name}-{cfg.task.op}")
    if (rc := refuse_existing(out_dir, OUTPUTS, a.overwrite)) is not None:
        return rc
    command = "python -m interp.probe " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        out = run(cfg, progress=False if a.quiet else None)
        if not a.quiet:
            print(table(ProbeResults.from_json(out["probes"])))
            if out["behaviour"]:
                b = out["behaviour"]
                print(f"model's own greedy exact match: {b['exact']:.3f} by operand digits "
                      f"{b['by_operand_digits']}, by answer digit scale {b['by_scale']}")
        write_outputs(out, out_dir, a.overwrite, command)
    except InterpError as e:
        return fail(str(e))
    print(f"wrote {', '.join(str(out_dir / n) for n in OUTPUTS)}")
    print("timings: " + ", ".join(f"{k} {v:.1f}" for k, v in out["timings"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

