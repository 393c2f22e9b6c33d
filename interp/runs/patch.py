"""The patching run: clean/corrupted arithmetic pairs through `run_patching` on one model."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from interp.atp import agreement, attribution_patch
from interp.heads import run_head_patching
from interp.models import load_model
from interp.pairs import pair_tokens
from interp.patching import PatchConfig
from interp.sublayers import PatchResult, run_patching
from interp.tasks.arithmetic import ArithmeticConfig, make_pairs
from interp.versions import versions

LABEL = {"attn_out": "ATT", "mlp_out": "MLP"}


def sublayer_number(site: str, layer: int) -> int:
    """Execution-order number of a sublayer: ATT l = 2l + 1, MLP l = 2l + 2."""
    return 2 * layer + (1 if site == "attn_out" else 2)


def top_sites(effect: np.ndarray, sites: list[str], k: int = 8) -> list[dict]:
    """The k sublayers with the largest normalised effect, with their execution-order number."""
    rows = [
        {"site": s, "layer": layer, "sublayer": sublayer_number(s, layer), "effect": float(effect[i, layer])}
        for i, s in enumerate(sites)
        for layer in range(effect.shape[1])
    ]
    rows = [r for r in rows if np.isfinite(r["effect"])]
    return sorted(rows, key=lambda r: -r["effect"])[:k]


@dataclass(frozen=True)
class PatchRunConfig:
    model: str = "smollm2-135m"
    task: ArithmeticConfig = field(default_factory=lambda: ArithmeticConfig(n=200, digits=(2, 2)))
    seed: int = 0
    patch: PatchConfig = field(default_factory=PatchConfig)
    heads: bool = False  # also patch each attention head (its z), per layer
    atp: bool = False  # also estimate every patch by attribution patching, compared with the exact grids


@dataclass(frozen=True)
class PatchRun:
    config: PatchRunConfig
    result: PatchResult
    meta: dict  # what patch.json holds besides the effect grid: pairs, tokens, top sites, timings, versions
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # per-head and attribution-patching arrays

    def arrays(self) -> dict[str, np.ndarray]:
        """What patch.npz holds."""
        return self.result.arrays() | self.extra

    def to_json(self) -> dict:
        return self.meta | {"effect": self.result.effect.tolist()}

    def for_report(self) -> dict:
        """Plain data for `interp.reports.sections.patch_sections`."""
        return {
            "model": self.meta["model"],
            "n_pairs": self.meta["n_pairs"],
            "example": self.meta["example"],
            "suffix_tokens": self.meta["suffix_tokens"],
            "sites": self.result.sites,
            "ld_clean": self.result.ld_clean,
            "ld_corrupt": self.result.ld_corrupt,
            "heads": self.meta.get("heads"),
            "atp": self.meta.get("atp"),
        } | self.arrays()

    @classmethod
    def from_files(cls, meta: dict, arrays: dict) -> PatchRun:
        task = ArithmeticConfig(**(meta["task"] | {"digits": tuple(meta["task"]["digits"])}))
        patch = PatchConfig(**(meta["config"] | {"sites": tuple(meta["config"]["sites"])}))
        cfg = PatchRunConfig(meta["model"], task, meta["seed"], patch, "heads" in meta, "atp" in meta)
        extra = {k: v for k, v in arrays.items() if k.startswith(("head_", "atp_"))}
        return cls(cfg, PatchResult.from_arrays(meta, arrays), {k: v for k, v in meta.items() if k != "effect"}, extra)


def run(cfg: PatchRunConfig, command: str = "", progress: bool | None = None) -> PatchRun:
    t = time.perf_counter()
    model = load_model(cfg.model)
    load_s = time.perf_counter() - t
    pairs = make_pairs(cfg.task, cfg.seed)
    batch, kept = pair_tokens(model, pairs)
    t = time.perf_counter()
    res = run_patching(model, **batch, cfg=cfg.patch, progress=progress)
    patch_s = time.perf_counter() - t
    suffix = [model.tokenizer.decode([i]) for i in batch["clean"][0, res.prefix_tokens :].tolist()]
    extra, more = methods(model, batch, res, cfg, progress)
    meta = {
        "model": Path(cfg.model).name,
        "task": asdict(cfg.task) | {"digits": list(cfg.task.digits)},
        "seed": cfg.seed,
        "config": asdict(cfg.patch) | {"sites": list(cfg.patch.sites)},
        "n_pairs": len(kept),
        "dropped_pairs": len(pairs) - len(kept),
        "suffix_tokens": [f"{q}:{s!r}" for q, s in enumerate(suffix)],
        "example": [pairs.clean[kept[0]].rsplit("\n", 1)[-1], pairs.corrupt[kept[0]].rsplit("\n", 1)[-1]],
        "ld_clean": res.ld_clean,
        "ld_corrupt": res.ld_corrupt,
        "top": top_sites(res.effect, res.sites),
        "timings": {"load_s": load_s, "patch_s": patch_s} | more.pop("timings"),
        "versions": versions(),
        "command": command,
    } | more
    return PatchRun(cfg, res, meta, extra)


def methods(model, batch: dict, res: PatchResult, cfg: PatchRunConfig, progress) -> tuple[dict, dict]:
    """(arrays, meta) of the per-head grid and attribution patching, where the config asks for them."""
    arrays, meta, timings = {}, {}, {}
    heads = None
    if cfg.heads:
        t = time.perf_counter()
        heads = run_head_patching(model, **batch, rows_per_forward=cfg.patch.rows_per_forward, progress=progress)
        timings["heads_s"] = time.perf_counter() - t
        arrays |= heads.arrays()
        meta["heads"] = {"top": heads.top, "tokens": heads.tokens}
    if cfg.atp:
        t = time.perf_counter()
        atp = attribution_patch(model, **batch, progress=progress)
        timings["atp_s"] = time.perf_counter() - t
        arrays |= {f"atp_{k}": v for k, v in atp.estimate.items()}
        est = np.stack([atp.layer(s) for s in res.sites])  # [site, layer]
        meta["atp"] = {"sublayers": agreement(res.effect, est)}
        if res.effect_pos is not None:
            meta["atp"]["positions"] = agreement(res.effect_pos, np.stack([atp.estimate[s] for s in res.sites]))
        if heads is not None:
            meta["atp"]["heads"] = agreement(heads.effect, atp.layer("z"))
    return arrays, meta | {"timings": timings}
