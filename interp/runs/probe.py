"""The digit-scale probe run: problems, activations, the model's own answers, and a probe sweep."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from interp.behaviour import arithmetic_accuracy, greedy_continuations
from interp.capture import capture
from interp.models import DEFAULT_MODEL, ModelInfo, load_model, model_info
from interp.names import n_layers, parse_layers
from interp.probes.sweep import ProbeResults, SweepConfig, control_labels, sweep
from interp.tasks.arithmetic import ArithmeticConfig, Problems, make_arithmetic, token_positions
from interp.versions import versions


@dataclass(frozen=True)
class ProbeRunConfig:
    model: str = DEFAULT_MODEL
    task: ArithmeticConfig = field(default_factory=ArithmeticConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    sites: tuple[str, ...] = ("attn_out", "mlp_out", "resid_post")
    layers: str = "all"  # "all", "0,4,8" or "10-20"
    seed: int = 0  # problems, folds and control tasks all derive from it
    batch_size: int = 32
    behaviour_n: int = 64  # decode the model's own answers (greedy) for this many problems


@dataclass(frozen=True)
class ProbeRun:
    """What `run` found; `problems` and `acts` stay in memory (the CLI saves the problems as a dataset)."""

    config: ProbeRunConfig
    model: ModelInfo
    n_layers_model: int
    probes: ProbeResults
    behaviour: dict | None
    timings: dict[str, float]
    versions: dict
    problems: Problems = field(repr=False)
    acts: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    command: str = ""

    def to_json(self) -> dict:
        return {
            "config": asdict(self.config),
            "model": asdict(self.model),
            "n_layers_model": self.n_layers_model,
            "probes": self.probes.to_json(),
            "behaviour": self.behaviour,
            "timings": self.timings,
            "versions": self.versions,
            "command": self.command,
        }


def probe_inputs(problems: Problems, cfg: ProbeRunConfig) -> tuple[dict, dict, np.ndarray]:
    """(labels, control labels, strata) for the digit-scale targets."""
    targets = [f"digit_{k}" for k in range(1, cfg.task.scales + 1)]
    labels = {k: problems.labels[k] for k in targets}
    controls = {
        f"digit_{k}": control_labels(
            problems.labels[f"digit_{k}"],
            problems.labels[f"a_digit_{k}"],
            problems.labels[f"b_digit_{k}"],
            cfg.seed + k,
        )
        for k in range(1, cfg.task.scales + 1)
    }
    return labels, controls, problems.labels["n_digits"]


def behaviour(model, problems: Problems, cfg: ProbeRunConfig, progress: bool | None) -> dict:
    """The model's own greedy answers on the first `behaviour_n` problems, scored."""
    k = min(cfg.behaviour_n, len(problems))
    f = cfg.task.format
    max_len = max(
        len(f(int(x), int(y), int(z))) - len(f(int(x), int(y)))
        for x, y, z in zip(problems.a[:k], problems.b[:k], problems.answer[:k], strict=True)
    )
    said = greedy_continuations(model, problems.prompts[:k], max_len, cfg.batch_size, progress)
    out = arithmetic_accuracy(problems.answer[:k], said, problems.a[:k], problems.b[:k], cfg.task.scales)
    out["examples"] = [[p.rsplit("\n", 1)[-1], s] for p, s in zip(problems.prompts[: min(5, k)], said[:5], strict=True)]
    return out


def run(cfg: ProbeRunConfig, command: str = "", progress: bool | None = None, keep_acts: bool = False) -> ProbeRun:
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
    acts = capture(
        model,
        problems.prompts,
        sites=list(cfg.sites),
        layers=layers,
        positions=pos,
        batch_size=cfg.batch_size,
        progress=progress,
    )
    times["capture_s"] = time.perf_counter() - t

    beh = None
    if cfg.behaviour_n > 0:  # greedy decoding is slow on CPU: a subset by default
        t = time.perf_counter()
        beh = behaviour(model, problems, cfg, progress)
        times["behaviour_s"] = time.perf_counter() - t

    t = time.perf_counter()
    labels, controls, strata = probe_inputs(problems, cfg)
    res = sweep(dict(acts), labels, controls, layers, cfg.sweep, strata=strata, progress=progress)
    times["probe_fit_s"] = time.perf_counter() - t
    return ProbeRun(
        cfg,
        info,
        n_layers(model),
        res,
        beh,
        times,
        versions(),
        problems,
        dict(acts) if keep_acts else None,
        command,
    )


def table(res: ProbeResults) -> str:
    """Plain-text accuracy table: a row per layer, a column per (site, scale)."""
    acc, sel = res.mean(), res.selectivity()
    scales = [t.split("_")[-1] for t in res.targets]
    head = ["layer"] + [f"{s[:8]}:{k}" for s in res.sites for k in scales]
    rows = [head]
    for li, layer in enumerate(res.layers):
        rows.append(
            [str(layer)] + [f"{acc[si, li, ti]:.2f}" for si in range(len(res.sites)) for ti in range(len(scales))]
        )
    rows.append(["major."] + [f"{m:.2f}" for _ in res.sites for m in res.majority])
    best = [
        "best selectivity (acc - control): "
        + ", ".join(
            f"{s} scale {k}: {sel[si, :, ti].max():+.2f} @ layer {res.layers[int(sel[si, :, ti].argmax())]}"
            for si, s in enumerate(res.sites)
            for ti, k in enumerate(scales)
        )
    ]
    w = max(len(c) for r in rows for c in r)
    return "\n".join(" ".join(c.rjust(w) for c in r) for r in rows) + "\n" + best[0]


def csv_text(res: ProbeResults) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "site",
            "layer",
            "target",
            "accuracy",
            "ci95",
            "control",
            "selectivity",
            "majority",
            "chance",
        ]
    )
    acc, ci, ctl, sel = res.mean(), res.ci95(), res.mean("control"), res.selectivity()
    for si, s in enumerate(res.sites):
        for li, layer in enumerate(res.layers):
            for ti, t in enumerate(res.targets):
                w.writerow(
                    [
                        s,
                        layer,
                        t,
                        f"{acc[si, li, ti]:.4f}",
                        f"{ci[si, li, ti]:.4f}",
                        f"{ctl[si, li, ti]:.4f}",
                        f"{sel[si, li, ti]:.4f}",
                        f"{res.majority[ti]:.4f}",
                        f"{res.chance[ti]:.4f}",
                    ]
                )
    return buf.getvalue()


def for_report(out: dict) -> dict:
    """Plain data for `interp.reports.sections.probe_sections`, from `ProbeRun.to_json()` or results.json."""
    res = ProbeResults.from_json(out["probes"])
    return {
        "name": out["model"]["name"],
        "sites": res.sites,
        "layers": res.layers,
        "accuracy": res.mean(),
        "ci95": res.ci95(),
        "selectivity": res.selectivity(),
        "majority": res.majority,
        "behaviour": out.get("behaviour"),
    }
