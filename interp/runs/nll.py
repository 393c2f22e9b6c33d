"""The long-context NLL run: several models' per-token NLL on the same seeded document windows."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from interp.context.compare import paired
from interp.context.nll import (
    BUCKETS,
    bucket_intervals,
    bucket_means,
    bucket_steps,
    check_chunked,
    cumulative,
    power_law_fit,
    token_nll,
)
from interp.context.stats import ContextStats
from interp.context.texts import Tokenized, tokenize_documents
from interp.core.stages import peak_rss_gb
from interp.core.versions import versions
from interp.models.devices import model_device
from interp.models.fast_attention import use_fast_attention
from interp.models.loading import load_hf, resolve
from interp.models.precision import choose_format, own_float32, to_mixed
from interp.reports.html import notebook
from interp.reports.sections import nll_sections
from interp.runs.guard import check_fast
from interp.tasks.long_context import LongContextConfig, Windows, load_documents, shared_windows, token_windows


@dataclass(frozen=True)
class NLLRunConfig:
    """The nll command's run: models, the text windows, chunk size and device.

    >>> NLLRunConfig().text.tokens, NLLRunConfig().text.sources
    (8192, ('kjv', 'jargon'))
    """

    models: tuple[str, ...] = ("smollm2-135m",)
    text: LongContextConfig = field(default_factory=LongContextConfig)
    chunk: int = 1024  # query positions per forward
    stats: bool = False  # also activation statistics along the context (eager attention: slower)
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "mps", "auto"
    dtype: str = "float32"  # the model's; NLL is taken in float32 from its logits
    n_devices: int | None = None  # split each model across this many CUDA devices (instead of `device`)


@dataclass(frozen=True)
class ModelNLL:
    """One model's NLL on its windows; `nll` is [window, tokens - 1] in nats."""

    model: str
    path: str
    n_ctx: int
    bos: bool
    documents: list[str]
    starts: list[int]
    seconds: float
    tokens_per_s: float
    attention: str
    nll: np.ndarray = field(repr=False)
    stats: dict | None = field(default=None, repr=False)  # `ContextStats.result()`
    precision: dict = field(default_factory=dict)  # the number format, and a fast one's float32 guard
    chars: list[int] = field(default_factory=list)  # where each window starts in its document (characters)
    spans: np.ndarray | None = field(default=None, repr=False)  # [window, tokens - 1, 2]: predicted tokens' text
    # this process's peak memory so far when the model's windows were done (GB of 10^9 bytes; None: not recorded)
    peak_rss_gb: float | None = None

    @property
    def summary(self) -> dict:
        mean_cum = cumulative(self.nll).mean(0)
        return {
            "buckets": bucket_means(self.nll),
            "bucket_ci": bucket_intervals(self.nll),
            "bucket_steps": bucket_steps(self.nll),
            "final_cumulative": float(mean_cum[-1]),
            "fit": power_law_fit(self.nll),
        }


STAT_ARRAYS = ("norm", "far", "first", "count")
GUARD_TOKENS = 512  # tokens of the first window a fast format is checked on against float32
STAT_META = ("sites", "far_k", "buckets")


@dataclass(frozen=True)
class NLLRun:
    """What the nll command found: each model's per-token NLL on its windows.

    >>> NLLRun.__name__   # made by interp.runs.nll.run: per-token NLL per model, to_json(), arrays(), _repr_html_()
    'NLLRun'
    """

    config: NLLRunConfig
    models: tuple[ModelNLL, ...]
    versions: dict
    command: str = ""

    def _repr_html_(self) -> str:
        return notebook(nll_sections(self.for_report()))

    def to_json(self) -> dict:
        out = []
        for m in self.models:
            d = {k: v for k, v in asdict(m).items() if k not in ("nll", "stats", "spans")} | {"summary": m.summary}
            if m.stats:
                d["stats"] = {k: m.stats[k] for k in STAT_META}
            out.append(d)
        return {
            "config": asdict(self.config.text),
            "command": self.command,
            "versions": self.versions,
            "models": out,
            "paired": self.paired(),
        }

    def paired(self) -> list[dict]:
        """The first model against each other one, window by window (`interp.context.compare.paired`); only
        models read on the same passages are paired."""
        first = self.models[0]
        return [
            paired(first.nll, m.nll, first.spans, m.spans, (first.model, m.model))
            for m in self.models[1:]
            if m.documents == first.documents and m.chars == first.chars and len(m.chars) > 0
        ]

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {m.model: m.nll.astype(np.float32) for m in self.models}
        arrays.update({f"{m.model}/spans": m.spans.astype(np.int32) for m in self.models if m.spans is not None})
        for m in self.models:
            if m.stats:
                arrays.update({f"{m.model}/{k}": m.stats[k] for k in STAT_ARRAYS})
        return arrays

    @classmethod
    def from_files(cls, meta: dict, arrays: dict) -> NLLRun:
        models = []
        for d in meta["models"]:
            stats = None
            if d.get("stats") and f"{d['model']}/norm" in arrays:
                stats = d["stats"] | {k: arrays[f"{d['model']}/{k}"] for k in STAT_ARRAYS}
            models.append(
                ModelNLL(
                    **{k: d[k] for k in ModelNLL.__dataclass_fields__ if k not in ("nll", "stats", "spans") and k in d},
                    nll=arrays[d["model"]],
                    stats=stats,
                    spans=arrays.get(f"{d['model']}/spans"),
                )
            )
        text = LongContextConfig(**(meta["config"] | {"sources": tuple(meta["config"]["sources"])}))
        return cls(
            NLLRunConfig(tuple(m.model for m in models), text),
            tuple(models),
            meta.get("versions", {}),
            meta.get("command", ""),
        )

    def for_report(self) -> dict:
        """Plain data for `interp.reports.sections.nll_sections`."""
        return {
            "models": [
                {"model": m.model, "summary": m.summary, "cumulative": cumulative(m.nll), "stats": m.stats}
                for m in self.models
            ],
            "paired": self.paired(),
        }

    def table(self) -> str:
        """Mean NLL by bucket, each with its 95% interval over windows."""
        names = [f"{lo}-{hi}" for lo, hi in BUCKETS]
        rows = [["model", *names]] + [[m.model] + [_cell(m.summary, k) for k in names] for m in self.models]
        w = max(len(c) for r in rows for c in r)
        return "\n".join(" ".join(c.rjust(w) for c in r) for r in rows) + "\n(95% interval over windows)"


def paired_lines(pairs: list[dict]) -> str:
    """The paired comparisons, one line per reading."""
    lines = []
    for p in pairs:
        lines.append(f"{p['models'][0]} minus {p['models'][1]}, paired on the same {p['windows']} windows:")
        cells = [(f"per token {k}", c) for k, c in p["buckets"].items()]
        if p.get("per_char"):
            cells.append((f"per character ({p['per_char']['chars']:,.0f} shared)", p["per_char"]))
        lines += [f"  {w}: {c['diff']:+.4f} [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}] {c['verdict']}" for w, c in cells]
    return "\n".join(lines)


def _cell(summary: dict, k: str) -> str:
    if k not in summary["buckets"]:
        return "-"
    lo, hi = summary.get("bucket_ci", {}).get(k, (np.nan, np.nan))
    return f"{summary['buckets'][k]:.3f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else f"{summary['buckets'][k]:.3f}"


def stats_table(model: str, st: dict) -> str:
    """Layer-averaged stats per position bucket, one row each."""
    rows = [[model] + st["buckets"]]
    rows += [[f"{site} norm"] + [f"{v:.2f}" for v in st["norm"][i].mean(0)] for i, site in enumerate(st["sites"])]
    rows += [[f"attn >{k} back"] + [f"{v:.3f}" for v in st["far"][i].mean(0)] for i, k in enumerate(st["far_k"])]
    rows += [["attn to first"] + [f"{v:.3f}" for v in st["first"].mean(0)]]
    w = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    return "\n".join(" ".join(c.rjust(w[j]) for j, c in enumerate(r)) for r in rows)


def run_model(
    text: Tokenized, win: Windows, cfg: NLLRunConfig, progress: bool | None, on_stage: Callable | None = None
) -> ModelNLL:
    """NLL per window; with `cfg.stats`, also activation statistics along the context.
    `on_stage(name, seconds)` is called when the model has loaded and when its windows are done."""
    t = time.perf_counter()
    name, path, hf, _ = load_hf(
        text.source, attn_implementation="eager" if cfg.stats else "sdpa", device=cfg.device, n_devices=cfg.n_devices
    )
    if on_stage:
        on_stage(f"load {name}", time.perf_counter() - t)
    if text.bos is not None:  # every window starts with BOS, as the model saw text in training
        win_ids = np.concatenate([np.full((len(win.ids), 1), text.bos), win.ids[:, :-1]], 1)
        spans = win.spans[:, :-1]  # the predicted tokens: all but the last, which BOS pushed out
    else:
        win_ids, spans = win.ids, win.spans[:, 1:]
    acc = ContextStats(hf.config.num_hidden_layers) if cfg.stats else None
    t0 = time.perf_counter()
    precision = to_format(hf, cfg, torch.as_tensor(win_ids[0][:GUARD_TOKENS], device="cpu")[None])
    check_chunked(hf, torch.as_tensor(win_ids[0], device="cpu")[None])
    rows = []
    with acc.attach(hf) if acc else nullcontext():
        for row in tqdm(win_ids, desc=f"nll {name}", disable=None if progress is None else not progress):
            rows.append(token_nll(hf, torch.as_tensor(row, device="cpu")[None], cfg.chunk)[0].numpy())
    secs = time.perf_counter() - t0
    if on_stage:
        on_stage(f"nll {name} ({len(rows)} windows of {win_ids.shape[1]} tokens)", secs)
    nll = np.stack(rows)
    return ModelNLL(
        name,
        str(path),
        text.n_ctx,
        text.bos is not None,
        win.names,
        win.starts.tolist(),
        secs,
        float(nll.size / secs),
        "eager" if cfg.stats else "sdpa",
        nll,
        acc.result() if acc else None,
        precision,
        [int(c) for c in win.chars],
        spans,
        peak_rss_gb(),
    )


def to_format(hf, cfg: NLLRunConfig, first: torch.Tensor) -> dict:
    """Put `hf` (float32) in the run's number format; a fast one is checked against float32 first, on the
    NLL of the first window's first tokens, computed by the same model before and after. The fast format
    here also runs SDPA attention in it (`interp.models.fast_attention`): at 32K, attention is the cost."""
    fmt = choose_format(cfg.dtype, model_device(hf))
    out = {"dtype": fmt.dtype, "reason": fmt.reason}
    if fmt.fast:
        reference = {"nll": token_nll(hf, first, cfg.chunk)}
        to_mixed(hf, fmt.torch_dtype, hf.config.get_text_config().hidden_size)
        own_float32(hf)  # the float32 weights' file pages can go (Qwen: 1 GB lower peak)
        out["attention"] = fmt.dtype if use_fast_attention(hf, fmt.torch_dtype) else "float32"  # eager: float32
        fast = {"nll": token_nll(hf, first, cfg.chunk)}
        out["guard"] = check_fast(fmt, fast, reference, "the NLL", first.shape[1], "tokens").to_json()
    return out


def run(cfg: NLLRunConfig, command: str = "", progress: bool | None = None, on_stage: Callable | None = None) -> NLLRun:
    for m in cfg.models:  # fail fast, before any work
        resolve(m)
    docs = load_documents(cfg.text.sources)
    texts = [tokenize_documents(m, docs, cfg.text.tokens) for m in cfg.models]  # every refusal before a load
    windows = shared_windows(docs, [t.starts for t in texts], cfg.text)
    models = tuple(
        run_model(t, token_windows(t.ids, t.spans, windows, cfg.text.tokens), cfg, progress, on_stage) for t in texts
    )
    return NLLRun(cfg, models, versions(), command)
