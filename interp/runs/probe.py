"""The digit-scale probe run: problems, activations, the model's own answers, and a probe sweep."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from jaxtyping import Float

from interp.behaviour import arithmetic_accuracy, greedy_continuations
from interp.builtins import DEFAULT_MODEL
from interp.capture import capture
from interp.lens import digit_token_ids, logit_lens
from interp.models import ModelInfo, load_model, model_info
from interp.names import n_layers, parse_layers
from interp.probes.sweep import ProbeResults, SweepConfig, difference_controls, sweep
from interp.stages import Stages
from interp.tasks.arithmetic import ArithmeticConfig, Problems, make_arithmetic, probe_texts, read_positions
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
    lens: Float[np.ndarray, "layer scale"]  # the model's own readout (logit lens) of each digit, top-1 accuracy
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
            "lens": self.lens.tolist(),
            "behaviour": self.behaviour,
            "timings": self.timings,
            "versions": self.versions,
            "command": self.command,
        }


def probe_inputs(problems: Problems) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, controls, strata): answer digits and control labels [n, scale], -1 where the answer does
    not write that digit; strata for the folds."""
    scales, written = problems.cfg.scales, problems.labels["written_digits"]
    digits = np.stack([problems.labels[f"digit_{k}"] for k in range(1, scales + 1)], 1)
    labels = np.where(np.arange(1, scales + 1)[None] <= written[:, None], digits, -1)
    return labels, difference_controls(problems.a, problems.b, written, scales), problems.labels["n_digits"]


def lens_accuracy(model, resid: torch.Tensor, labels: np.ndarray) -> np.ndarray:
    """Top-1 accuracy [layer, scale] of the logit lens over the ten digits, on rows that have the digit."""
    lens = logit_lens(model, resid, digit_token_ids(model.tokenizer)).argmax(-1).numpy()  # [n, layer, scale]
    has = labels >= 0
    return ((lens == labels[:, None]) & has[:, None]).sum(0) / np.maximum(has.sum(0), 1)[None]


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


def run(
    cfg: ProbeRunConfig,
    command: str = "",
    progress: bool | None = None,
    keep_acts: bool = False,
    on_stage: Callable[[str, float], None] | None = None,
) -> ProbeRun:
    """The whole run; `on_stage(name, seconds)` is called as each stage ends."""
    times = Stages(on_stage)
    with times("prompts"):
        problems = make_arithmetic(cfg.task, cfg.seed)
    with times("load"):
        model = load_model(cfg.model)
    layers = parse_layers(cfg.layers, n_layers(model))
    info = model_info(model)
    with times("capture"):
        pos = read_positions(model.tokenizer, problems, info.prepend_bos)  # [n, scale]
        sites = list(dict.fromkeys([*cfg.sites, "resid_post"]))  # the logit lens reads resid_post
        acts = capture(
            model,
            probe_texts(problems),
            sites=sites,
            layers=layers,
            positions=pos,
            batch_size=cfg.batch_size,
            progress=progress,
        )
    labels, controls, strata = probe_inputs(problems)
    with times("lens"):
        lens = lens_accuracy(model, acts["resid_post"], labels)
    beh = None
    if cfg.behaviour_n > 0:  # greedy decoding is slow on CPU: a subset by default
        with times("behaviour"):
            beh = behaviour(model, problems, cfg, progress)
    probed = {s: acts[s] for s in cfg.sites}
    with times("probe_fit"):
        res = sweep(probed, labels, controls, layers, cfg.sweep, strata=strata, progress=progress)
    return ProbeRun(
        cfg,
        info,
        n_layers(model),
        res,
        lens,
        beh,
        dict(times),
        versions(),
        problems,
        probed if keep_acts else None,
        command,
    )


def table(run: ProbeRun) -> str:
    """Plain text: held-out probe accuracy per layer for each (site, digit scale), the logit lens beside
    them, and the baselines every cell is read against."""
    res = run.probes
    acc, T = res.mean(), len(res.targets)
    head = ["layer"] + [f"{s[:8]}:{k + 1}" for s in res.sites for k in range(T)] + [f"lens:{k + 1}" for k in range(T)]
    rows = [head]
    for li, layer in enumerate(res.layers):
        rows.append(
            [str(layer)]
            + [f"{acc[si, li, k]:.2f}" for si in range(len(res.sites)) for k in range(T)]
            + [f"{run.lens[li, k]:.2f}" for k in range(T)]
        )
    for name, values in (("majority", res.majority), ("control", res.control_majority), ("chance", res.chance)):
        rows.append([name] + [f"{v:.2f}" for _ in res.sites for v in values] + ["" for _ in range(T)])
    w = max(len(c) for r in rows for c in r)
    text = "\n".join(" ".join(c.rjust(w) for c in r) for r in rows)
    best = res.above_majority()
    peaks = ", ".join(
        f"{k + 1}: {best[:, :, k].max():+.2f} ({res.sites[int(best[:, :, k].max(1).argmax())]} "
        f"layer {res.layers[int(best[:, :, k].max(0).argmax())]})"
        for k in range(T)
    )
    return (
        f"{text}\ncolumns SITE:k = digit scale k (1 = ones), read at {run.config.task.read_at}; rows: layers, "
        f"then each scale's majority baseline, control-task majority and chance\n"
        f"best accuracy above majority by scale: {peaks}"
    )


def csv_text(run: ProbeRun) -> str:
    res = run.probes
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "site",
            "layer",
            "target",
            "n",
            "accuracy",
            "ci95",
            "majority",
            "chance",
            "above_majority",
            "control",
            "control_majority",
            "selectivity",
            "lens",
        ]
    )
    acc, ci, ctl, above, sel = res.mean(), res.ci95(), res.mean("control"), res.above_majority(), res.selectivity()
    for si, s in enumerate(res.sites):
        for li, layer in enumerate(res.layers):
            for k, t in enumerate(res.targets):
                w.writerow(
                    [
                        s,
                        layer,
                        t,
                        int(res.n[k]),
                        f"{acc[si, li, k]:.4f}",
                        f"{ci[si, li, k]:.4f}",
                        f"{res.majority[k]:.4f}",
                        f"{res.chance[k]:.4f}",
                        f"{above[si, li, k]:.4f}",
                        f"{ctl[si, li, k]:.4f}",
                        f"{res.control_majority[k]:.4f}",
                        f"{sel[si, li, k]:.4f}",
                        f"{run.lens[li, k]:.4f}",
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
        "above_majority": res.above_majority(),
        "selectivity": res.selectivity(),
        "majority": res.majority,
        "control_majority": res.control_majority,
        "chance": res.chance,
        "lens": np.asarray(out["lens"]),
        "read_at": out["config"]["task"]["read_at"],
        "order": out.get("order", "place"),
        "config": out["config"],
        "behaviour": out.get("behaviour"),
    }
