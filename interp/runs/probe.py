"""The digit-scale probe run: problems, activations, the model's own answers, and a probe sweep."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from jaxtyping import Float

from interp.core.errors import InterpError
from interp.core.selfcheck import SelfCheckError
from interp.core.stages import Stages
from interp.core.versions import describe, versions
from interp.hooks.capture import capture
from interp.hooks.names import n_layers, parse_layers
from interp.hooks.tokens import tokenize
from interp.interventions.causal import CausalConfig, CausalResult, causal_probe_tests
from interp.interventions.lens import digit_token_ids, logit_lens
from interp.models.behaviour import arithmetic_accuracy, greedy_continuations
from interp.models.builtins import DEFAULT_MODEL
from interp.models.devices import model_device
from interp.models.loading import ModelInfo, load_model, model_info
from interp.probes.sweep import (
    NotConverged,
    ProbeResults,
    SweepConfig,
    difference_controls,
    reference_check,
    split,
    sweep,
)
from interp.reports.html import notebook
from interp.reports.probe import probe_sections
from interp.tasks.arithmetic import ArithmeticConfig, Problems, make_arithmetic
from interp.tasks.reading import probe_texts, read_plan


@dataclass(frozen=True)
class ProbeRunConfig:
    """The main job: model, problems, the probe sweep, sites and layers, seed and device.

    >>> ProbeRunConfig().model, ProbeRunConfig().task.n
    ('qwen2.5-coder-0.5b', 500)
    """

    model: str = DEFAULT_MODEL
    task: ArithmeticConfig = field(default_factory=ArithmeticConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    sites: tuple[str, ...] = ("attn_out", "mlp_out", "resid_post")
    layers: str = "all"  # "all", "0,4,8" or "10-20"
    seed: int = 0  # problems, folds and control tasks all derive from it
    batch_size: int = 32
    behaviour_n: int = 64  # decode the model's own answers (greedy) for this many problems
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "mps", "auto": the model and the batched probe solver
    dtype: str = "float32"  # the model's; activations are captured and probed in float32
    n_devices: int | None = None  # split the model across this many CUDA devices (instead of `device`)
    causal_layers: str | None = None  # ablate and steer along resid_post probe directions at these layers
    causal: CausalConfig = field(default_factory=CausalConfig)


@dataclass(frozen=True)
class ProbeRun:
    """What `run` found; `problems` and `acts` stay in memory (the CLI saves the problems as a dataset).

    >>> from interp.runs.probe import run
    >>> res = run(ProbeRunConfig(model="arith-toy", behaviour_n=0, task=ArithmeticConfig(n=60, pad=4)))
    >>> res.lens.shape, sorted(res.to_json())[:3]
    ((3, 4), ['behaviour', 'command', 'config'])
    """

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
    causal: CausalResult | None = None
    # how the tokenizer wrote the answers: {"digits_split": one token per digit, "shared": {"1-2": problems
    # whose ones and tens digits are read at one position, ...}}
    reads: dict = field(default_factory=lambda: {"digits_split": True, "shared": {}})

    def _repr_html_(self) -> str:
        """Jupyter shows the run as its page: the probe heatmaps, the logit lens and any causal tests."""
        return notebook(probe_sections(for_report(self.to_json())))

    def arrays(self) -> dict[str, np.ndarray]:
        """The probes' arrays and the logit lens [layer, scale]."""
        return self.probes.arrays() | {"lens": self.lens}

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
            "reads": self.reads,
        } | ({"causal": self.causal.to_json()} if self.causal is not None else {})


def probe_inputs(problems: Problems) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, controls, strata): answer digits and control labels [n, scale], -1 where the answer does
    not write that digit; strata for the folds."""
    scales, written = problems.cfg.scales, problems.labels["written_digits"]
    digits = np.stack([problems.labels[f"digit_{k}"] for k in range(1, scales + 1)], 1)
    labels = np.where(np.arange(1, scales + 1)[None] <= written[:, None], digits, -1)
    return labels, difference_controls(problems.a, problems.b, written, scales), problems.labels["n_digits"]


def check_scales(labels: np.ndarray, folds: int) -> None:
    """Refuse, before any model work, a digit scale too few problems write for `folds`-fold probes."""
    written = (labels >= 0).sum(0)
    for k, n in enumerate(written):
        if n < 2 * folds:
            raise InterpError(
                f"only {n} of {len(labels)} problems write an answer digit at scale {k + 1}; "
                f"{folds}-fold probes need at least {2 * folds}: ask for more --n, longer --digits or fewer scales"
            )


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


def check_probe_solver(acts, labels, controls, cfg: SweepConfig, strata, device) -> None:
    """The batched solver against scikit-learn on one cell before the sweep trusts it (`interp.core.selfcheck`):
    its contract is to agree within one held-out problem on every cell."""
    (digit, control), total = reference_check(acts, labels, controls, cfg, strata, device)
    if max(digit, control) > 1:
        raise SelfCheckError(
            f"batched probe fit: {digit} (digit) and {control} (control) of {total} held-out predictions differ "
            f"from scikit-learn's on the first site's last layer, where at most 1 may; refusing to go on "
            f"({describe()})"
        )


def fit_probes(acts, labels, controls, layers, cfg: SweepConfig, strata, progress, device) -> ProbeResults:
    """The sweep; a batched fit that stops at its iteration cap stops the run like a failed self-check."""
    try:
        return sweep(acts, labels, controls, layers, cfg, strata=strata, progress=progress, device=device)
    except NotConverged as e:
        raise SelfCheckError(str(e)) from e


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
        labels, controls, strata = probe_inputs(problems)
        check_scales(labels, cfg.sweep.folds)
    with times("load"):
        model = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype, n_devices=cfg.n_devices)
    layers = parse_layers(cfg.layers, n_layers(model))
    info, lens_shape = model_info(model), (len(layers), labels.shape[1])
    reads = read_plan(model.tokenizer, problems, info.prepend_bos)
    if not reads.digits_split and cfg.causal_layers:
        raise InterpError(
            "this tokenizer writes several answer digits as one token, and the causal tests score the tokens "
            "0-9 one digit at a time, so --causal is refused here (the probes themselves run without it)"
        )
    pos = reads.pos  # [n, scale]
    with times("capture"):
        acts = capture_reads(model, problems, pos, layers, cfg, progress)
    with times("lens"):  # a readout over the tokens 0-9 says nothing where the model writes digits in groups
        lens = lens_accuracy(model, acts["resid_post"], labels) if reads.digits_split else np.full(lens_shape, np.nan)
    beh = None
    if cfg.behaviour_n > 0:  # greedy decoding is slow on CPU: a subset by default
        with times("behaviour"):
            beh = behaviour(model, problems, cfg, progress)
    probed = {s: acts[s] for s in cfg.sites}
    if cfg.sweep.method == "torch":
        with times("probe_check"):
            check_probe_solver(probed, labels, controls, cfg.sweep, strata, model_device(model))
    with times("probe_fit"):
        res = fit_probes(probed, labels, controls, layers, cfg.sweep, strata, progress, model_device(model))
    causal = None
    if cfg.causal_layers:
        with times("causal"):
            causal = causal_tests(model, problems, pos, labels, strata, acts["resid_post"], layers, cfg, progress)
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
        causal,
        {"digits_split": reads.digits_split, "shared": reads.sharing()},
    )


def capture_reads(model, problems: Problems, pos: np.ndarray, layers: list[int], cfg: ProbeRunConfig, progress):
    """Every probed site, plus resid_post for the logit lens, at each digit's read position [n, layer, scale, d]."""
    return capture(
        model,
        probe_texts(problems),
        sites=list(dict.fromkeys([*cfg.sites, "resid_post"])),
        layers=layers,
        positions=pos,
        batch_size=cfg.batch_size,
        progress=progress,
    )


def causal_tests(model, problems, pos, labels, strata, resid, layers, cfg: ProbeRunConfig, progress) -> CausalResult:
    """Ablate and steer along the resid_post probes of `cfg.causal_layers` (which the run must have captured);
    probes fitted on fold 0's training problems, measured on its held-out ones."""
    wanted = parse_layers(cfg.causal_layers, n_layers(model))
    missing = [layer for layer in wanted if layer not in layers]
    if missing:
        raise InterpError(f"--causal layer {missing[0]} is not among the probed layers ({cfg.layers})")
    train, test = split(strata, cfg.sweep.folds, cfg.sweep.seed)[0]
    ids = tokenize(model, probe_texts(problems)).ids
    edits = resid[:, [layers.index(layer) for layer in wanted]]
    try:
        return causal_probe_tests(
            model, ids, np.asarray(pos), labels, edits, wanted, train, test, digit_token_ids(model.tokenizer),
            cfg.causal, progress,
        )  # fmt: skip
    except NotConverged as e:  # as the sweep's: stops the run like a failed self-check
        raise SelfCheckError(str(e)) from e


def for_report(out: dict) -> dict:
    """Plain data for `interp.reports.probe.probe_sections`, from `ProbeRun.to_json()` or results.json."""
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
        "causal": out.get("causal"),
        "reads": out.get("reads"),
        "intervals": res.intervals,
    }
