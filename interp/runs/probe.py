"""The digit-scale probe run: problems, activations, the model's own answers, and a probe sweep."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from jaxtyping import Float

from interp.core.errors import InterpError
from interp.core.selfcheck import SelfCheckError
from interp.core.stages import Stages, peak_rss_gb
from interp.core.versions import versions
from interp.hooks.names import n_layers, parse_layers
from interp.hooks.tokens import tokenize
from interp.interventions.causal import CausalConfig, CausalResult, causal_probe_tests
from interp.interventions.lens import digit_token_ids, logit_lens
from interp.models.behaviour import arithmetic_accuracy, greedy_continuations
from interp.models.builtins import DEFAULT_MODEL
from interp.models.devices import model_device
from interp.models.loading import ModelInfo, model_info
from interp.probes.sweep import NotConverged, ProbeResults, SweepConfig, difference_controls, split
from interp.reports.html import notebook
from interp.reports.probe import probe_sections
from interp.runs.guard import check_fast, guarded_load
from interp.runs.probe_fit import check_probe_solver, fit_probes
from interp.runs.probe_reads import by_layer, capture_reads, read_slice
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
    batch_size: int = 16  # inputs per forward; at 32 the default job peaks 0.3 GB higher, same numbers
    behaviour_n: int = 64  # decode the model's own answers (greedy) for this many problems
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "mps", "auto": the model and the batched probe solver
    dtype: str = "float32"  # the matmuls' format (`interp.models.precision`): float32 is exact; "bfloat16" or
    # "auto" (bfloat16 on hardware with bfloat16 matrix units) is checked against float32 on `guard_rows` problems
    guard_rows: int = 16
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
    # the number format that ran, why, and (for a fast format) the float32 guard's result
    precision: dict = field(default_factory=dict)

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
            "precision": self.precision,
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
    exact: dict = {}  # what a fast run computes on the float32 model, beside the guard's slice
    slice_ = guard_slice(problems, cfg, exact, times, progress)
    model, fmt, ref = guarded_load(cfg.model, cfg.device, cfg.dtype, slice_, cfg.n_devices, times)
    layers = parse_layers(cfg.layers, n_layers(model))
    info, lens_shape = model_info(model), (len(layers), labels.shape[1])
    reads = read_plan(model.tokenizer, problems, info.prepend_bos)
    check_causal(reads.digits_split, cfg)
    pos = reads.pos  # [n, scale]
    beh = own_answers(model, problems, cfg, exact, times, progress)  # first: the capture then hands back the
    with times("capture"):  # unembedding's pages (`interp.hooks.capture`), which the answers need
        acts = capture_reads(model, problems, pos, layers, cfg.sites, cfg.batch_size, progress)
    precision = format_record(fmt, ref, acts, layers, cfg, len(problems)) | ({"behaviour": "float32"} if exact else {})
    with times("lens"):  # a readout over the tokens 0-9 says nothing where the model writes digits in groups
        lens = lens_accuracy(model, acts["resid_post"], labels) if reads.digits_split else np.full(lens_shape, np.nan)
    device, depth = model_device(model), n_layers(model)
    if not cfg.causal_layers:  # nothing after the fit needs the weights: free them (the bridge holds cycles)
        del model
        gc.collect()
    probed = {s: acts[s] for s in cfg.sites}
    if cfg.sweep.method == "torch":
        with times("probe_check"):
            check_probe_solver(probed, labels, controls, cfg.sweep, strata, device)
    with times("probe_fit"):
        res = fit_probes(probed, labels, controls, layers, cfg.sweep, strata, progress, device)
    causal = None
    if cfg.causal_layers:
        with times("causal"):
            causal = causal_tests(model, problems, pos, labels, strata, acts["resid_post"], layers, cfg, progress)
    times["peak_rss_gb"] = peak_rss_gb()
    return ProbeRun(
        cfg,
        info,
        depth,
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
        precision,
    )


def format_record(fmt, ref: dict | None, acts: dict, layers: list[int], cfg: ProbeRunConfig, n: int) -> dict:
    """The number format that ran and why; for a fast format, its float32 guard on the first problems (which
    stops the run in one line when they disagree)."""
    precision = {"dtype": fmt.dtype, "reason": fmt.reason}
    if ref is not None:
        fast = by_layer({s: a[: cfg.guard_rows] for s, a in acts.items()}, layers)
        guard = check_fast(fmt, fast, ref, "the captured activations", min(cfg.guard_rows, n), "problems")
        precision["guard"] = guard.to_json()
    return precision


def own_answers(model, problems: Problems, cfg: ProbeRunConfig, exact: dict, times: Stages, progress) -> dict | None:
    """The model's greedy answers: those a fast run took from its float32 model, else decoded now (on a
    subset by default: greedy decoding is slow on CPU)."""
    if "behaviour" in exact or cfg.behaviour_n <= 0:
        return exact.get("behaviour")
    with times("behaviour"):
        return behaviour(model, problems, cfg, progress)


def check_causal(digits_split: bool, cfg: ProbeRunConfig) -> None:
    if not digits_split and cfg.causal_layers:
        raise InterpError(
            "this tokenizer writes several answer digits as one token, and the causal tests score the tokens "
            "0-9 one digit at a time, so --causal is refused here (the probes themselves run without it)"
        )


def guard_slice(problems: Problems, cfg: ProbeRunConfig, exact: dict, times: Stages, progress) -> Callable:
    """What the float32 model computes in a fast run: the guard's slice (the first `guard_rows` problems'
    activations, as the run reads them), and, into `exact`, the model's own answers. Greedy answers are
    discrete, so a format's rounding can flip one (bfloat16 turned 20 of 64 right into 21); in float32 the
    exact match is the float32 run's. The guard stage's time then includes the behaviour stage's."""

    def compute(model) -> dict:
        if cfg.behaviour_n > 0:
            with times("behaviour"):
                exact["behaviour"] = behaviour(model, problems, cfg, progress)
        return read_slice(model, problems, cfg.sites, cfg.layers, cfg.guard_rows)

    return compute


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
