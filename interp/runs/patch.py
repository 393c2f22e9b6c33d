"""The patching run: clean/corrupted arithmetic pairs through `run_patching` on one model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from interp.core.stages import Stages, peak_rss_gb
from interp.core.versions import versions
from interp.interventions.atp import AtPResult, agreement, attribution_patch
from interp.interventions.atp_checks import diagnose, graddrop, patch_path, site_label
from interp.interventions.heads import HeadPatchConfig, run_head_patching
from interp.interventions.pairs import pair_tokens
from interp.interventions.patching import PatchConfig, Site
from interp.interventions.sublayers import PatchResult, run_patching
from interp.interventions.uncertainty import agreement_interval
from interp.reports.html import notebook
from interp.reports.sections import patch_sections
from interp.runs.guard import check_fast, guarded_load
from interp.tasks.arithmetic import ArithmeticConfig, make_pairs

LABEL = {"attn_out": "ATT", "mlp_out": "MLP"}
GUARD_PAIRS = 8  # pairs the float32 guard patches in both formats


def sublayer_number(site: str, layer: int) -> int:
    """Execution-order number of a sublayer: ATT l = 2l + 1, MLP l = 2l + 2."""
    return 2 * layer + (1 if site == "attn_out" else 2)


def top_sites(effect: np.ndarray, sites: list[str], k: int = 8, ci: np.ndarray | None = None) -> list[dict]:
    """The k sublayers with the largest normalised effect, with their execution-order number (and 95% interval)."""
    rows = [
        {"site": s, "layer": layer, "sublayer": sublayer_number(s, layer), "effect": float(effect[i, layer])}
        | ({"ci": [float(v) for v in ci[i, layer]]} if ci is not None else {})
        for i, s in enumerate(sites)
        for layer in range(effect.shape[1])
    ]
    rows = [r for r in rows if np.isfinite(r["effect"])]
    return sorted(rows, key=lambda r: -r["effect"])[:k]


@dataclass(frozen=True)
class PatchRunConfig:
    """The patch command's run: model, pairs, the grid's config, and which extra methods (heads, AtP) run.

    >>> PatchRunConfig().patch.sites
    ('attn_out', 'mlp_out')
    """

    model: str = "smollm2-135m"
    task: ArithmeticConfig = field(default_factory=lambda: ArithmeticConfig(n=200, digits=(2, 2)))
    seed: int = 0
    patch: PatchConfig = field(default_factory=PatchConfig)
    heads: bool = False  # also patch each attention head (its z), per layer
    atp: bool = False  # also estimate every patch by attribution patching, compared with the exact grids
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "mps", "auto"
    dtype: str = "float32"
    n_devices: int | None = None  # split the model across this many CUDA devices (instead of `device`)
    atp_checks: int = 0  # with atp: the cells AtP misses most (this many per grid), checked for saturation/cancellation


@dataclass(frozen=True)
class PatchRun:
    """What the patch command found: the sublayer grid, its metadata and any head and AtP arrays.

    >>> PatchRun.__name__   # made by interp.runs.patch.run, read back by interp.runs.results
    'PatchRun'
    """

    config: PatchRunConfig
    result: PatchResult
    meta: dict  # what patch.json holds besides the effect grid: pairs, tokens, top sites, timings, versions
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # per-head and attribution-patching arrays

    def _repr_html_(self) -> str:
        return notebook(patch_sections(self.for_report()))

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
            "atp_checks": self.meta.get("atp_checks"),
        } | self.arrays()

    @classmethod
    def from_files(cls, meta: dict, arrays: dict) -> PatchRun:
        task = ArithmeticConfig(**(meta["task"] | {"digits": tuple(meta["task"]["digits"])}))
        patch = PatchConfig(**(meta["config"] | {"sites": tuple(meta["config"]["sites"])}))
        checks = len(meta.get("atp_checks", {}).get("cells", [])) // (2 if "heads" in meta else 1)
        cfg = PatchRunConfig(
            meta["model"], task, meta["seed"], patch, heads="heads" in meta, atp="atp" in meta, atp_checks=checks
        )
        extra = {k: v for k, v in arrays.items() if k.startswith(("head_", "atp_"))}
        return cls(cfg, PatchResult.from_arrays(meta, arrays), {k: v for k, v in meta.items() if k != "effect"}, extra)


def run(
    cfg: PatchRunConfig,
    command: str = "",
    progress: bool | None = None,
    on_stage: Callable[[str, float], None] | None = None,
) -> PatchRun:
    """The whole run; `on_stage(name, seconds)` is called as each stage ends."""
    times = Stages(on_stage)
    pairs = make_pairs(cfg.task, cfg.seed)
    first = lambda m: first_effects(m, pairs, cfg)  # noqa: E731
    model, fmt, reference = guarded_load(cfg.model, cfg.device, cfg.dtype, first, cfg.n_devices, times)
    batch, kept = pair_tokens(model, pairs)
    with times("patch"):
        res = run_patching(model, **batch, cfg=cfg.patch, progress=progress)
    precision = {"dtype": fmt.dtype, "reason": fmt.reason}
    if reference is not None:
        fast = first_effects(model, pairs, cfg)
        guard = check_fast(
            fmt, fast, reference, "the first pairs' patched logit differences", min(GUARD_PAIRS, len(kept)), "pairs"
        )
        precision["guard"] = guard.to_json()
    suffix = [model.tokenizer.decode([i]) for i in batch["clean"][0, res.prefix_tokens :].tolist()]
    extra, more = methods(model, batch, res, cfg, progress, times)
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
        "top": top_sites(res.effect, res.sites, ci=res.effect_ci),
        "timings": dict(times) | {"peak_rss_gb": peak_rss_gb()},
        "precision": precision,
        "versions": versions(),
        "command": command,
    } | more
    return PatchRun(cfg, res, meta, extra)


def first_effects(model, pairs, cfg: PatchRunConfig) -> dict[str, torch.Tensor]:
    """What the float32 guard compares: the first `GUARD_PAIRS` pairs' logit differences, clean, corrupted
    and with each sublayer patched (raw, not normalised: a small clean-corrupted gap would magnify noise);
    with AtP, also its per-pair contributions."""
    batch, _ = pair_tokens(model, pairs)
    batch = {k: v[:GUARD_PAIRS] for k, v in batch.items()}
    quick = dataclasses.replace(cfg.patch, per_position=False, ablations=False, n_boot=10)
    res = run_patching(model, **batch, cfg=quick, progress=False)
    lds = {"clean LD": res.ld_clean_per_pair, "corrupted LD": res.ld_corrupt_per_pair}
    out = {"patched LD": torch.as_tensor(res.patched_per_pair)} | {k: torch.as_tensor(v) for k, v in lds.items()}
    if cfg.atp:  # gradients in the fast format are checked too: AtP's raw per-pair contributions
        atp = attribution_patch(model, **batch, progress=False)
        out |= {f"AtP {k}": torch.as_tensor(v) for k, v in (atp.per_pair or {}).items()}
    return out


def agreement_ci(exact, clean, corrupt, contrib, atp: AtPResult, seed: int) -> dict:
    """95% intervals over pairs of AtP's Spearman and top-k overlap with an exact grid, from each one's
    per-pair array ([n, ...] patched LDs and AtP contributions; {} where either is missing)."""
    if exact is None or contrib is None:
        return {}
    n = len(exact)
    pairs = (exact.reshape(n, -1), clean, corrupt), (contrib.reshape(n, -1), *atp.ld_per_pair)
    return agreement_interval(*pairs, seed=seed)


def methods(model, batch: dict, res: PatchResult, cfg: PatchRunConfig, progress, times: Stages) -> tuple[dict, dict]:
    """(arrays, meta) of the per-head grid and attribution patching, where the config asks for them."""
    arrays, meta = {}, {}
    heads = None
    if cfg.heads:
        with times("heads"):
            heads = run_head_patching(
                model, **batch, cfg=HeadPatchConfig(rows_per_forward=cfg.patch.rows_per_forward), progress=progress
            )
        arrays |= heads.arrays()
        meta["heads"] = {"top": heads.top, "tokens": heads.tokens}
    if cfg.atp:
        with times("atp"):
            atp = attribution_patch(model, **batch, progress=progress)
        arrays |= {f"atp_{k}": v for k, v in atp.estimate.items()}
        est = np.stack([atp.layer(s) for s in res.sites])  # [site, layer]
        lds, seed, per = (res.ld_clean_per_pair, res.ld_corrupt_per_pair), cfg.patch.seed, atp.per_pair or {}
        contrib = np.stack([per[s] for s in res.sites], 1) if all(s in per for s in res.sites) else None
        summed = None if contrib is None else contrib.sum(-1)  # [n, site, layer]: positions summed
        meta["atp"] = {
            "sublayers": agreement(res.effect, est) | agreement_ci(res.patched_per_pair, *lds, summed, atp, seed)
        }
        if res.effect_pos is not None:
            est_pos = np.stack([atp.estimate[s] for s in res.sites])
            ci = agreement_ci(res.patched_pos_per_pair, *lds, contrib, atp, seed)
            meta["atp"]["positions"] = agreement(res.effect_pos, est_pos) | ci
        if heads is not None:
            clean, corrupt, patched = heads.per_pair or (None, None, None)
            ci = agreement_ci(patched, clean, corrupt, per.get("z"), atp, seed)
            meta["atp"]["heads"] = agreement(heads.effect, atp.layer("z")) | ci
        if cfg.atp_checks:
            with times("atp_checks"):
                meta["atp_checks"] = atp_checks(model, batch, res, heads, atp, cfg.atp_checks)
    return arrays, meta


def atp_checks(model, batch: dict, res: PatchResult, heads, atp: AtPResult, k: int) -> dict:
    """The k sublayers (and k heads) whose AtP estimate misses the exact effect most, each with its exact
    effect along the patching path (and with attention patterns frozen), GradDrop and a diagnosis."""
    est = np.stack([atp.layer(s) for s in res.sites])
    miss = np.abs(est - res.effect)
    cells = [
        (Site(res.sites[int(i // res.n_layers)], int(i % res.n_layers)), res.effect.flat[i], est.flat[i])
        for i in np.argsort(-np.nan_to_num(miss, nan=-1), axis=None)[:k]
    ]
    if heads is not None:
        H = heads.effect.shape[1]
        miss = np.abs(atp.layer("z") - heads.effect)
        for i in np.argsort(-np.nan_to_num(miss, nan=-1), axis=None)[:k]:
            cells.append((Site("z", int(i // H), None, int(i % H)), heads.effect.flat[i], atp.layer("z").flat[i]))
    sites = [c[0] for c in cells]
    ts = [float(v) for v in np.linspace(0, 1, 11)]
    curve = patch_path(model, **batch, sites=sites, ts=ts)
    frozen = patch_path(model, **batch, sites=sites, ts=ts, freeze=("patterns",))
    frozen_norms = patch_path(model, **batch, sites=sites, ts=ts, freeze=("patterns", "norms"))
    gd = graddrop(model, **batch, sites=sites)
    rows = [
        {
            "site": site_label(s),
            "exact": float(e),
            "atp": float(a),
            "graddrop": float(g),
            "curve": c.tolist(),
            "frozen": f.tolist(),
            "frozen_norms": fn.tolist(),
            "diagnosis": diagnose(float(e), float(a), c, f, float(g), ts, fn),
        }
        for (s, e, a), c, f, fn, g in zip(cells, curve, frozen, frozen_norms, gd, strict=True)
    ]
    return {"t": ts, "cells": rows}
