"""The sublayer grid: every attention and MLP sublayer patched, per layer and per position, with ablations.

`run_patching` drives the batched engine in `interp.interventions.patching` and returns one `PatchResult`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.results import JsonResult
from interp.hooks.names import HookedModel
from interp.interventions.patching import PatchConfig, Patcher, Site
from interp.interventions.readout import normalised_effect
from interp.interventions.uncertainty import effect_interval
from interp.reports.grids import sublayer_grid
from interp.reports.html import notebook


@dataclass(frozen=True)
class PatchResult(JsonResult):
    """Raw mean logit differences and normalised effects (1 = restores the clean answer) per site.

    Arrays are [site, layer] or [site, layer, pos] over `sites` x layers x suffix positions; the
    per-position and ablation arrays are None when the config skipped them.

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> res = run_patching(model, **batch, cfg=PatchConfig(per_position=False), progress=False)
    >>> sorted(res.arrays())[:3], res.to_json()["n_pairs"]
    (['act_mean_abs', 'act_norm', 'effect'], 8)
    """

    sites: list[str]
    n_layers: int
    n_pairs: int
    prefix_tokens: int
    suffix_tokens: int
    ld_clean: float
    ld_corrupt: float
    ld_clean_per_pair: Float[np.ndarray, " n"]
    ld_corrupt_per_pair: Float[np.ndarray, " n"]
    raw: Float[np.ndarray, "site layer"]
    effect: Float[np.ndarray, "site layer"]
    act_norm: Float[np.ndarray, "site layer pos"]  # mean L2 norm on the clean prompts
    act_mean_abs: Float[np.ndarray, "site layer pos"]
    raw_pos: Float[np.ndarray, "site layer pos"] | None = None
    effect_pos: Float[np.ndarray, "site layer pos"] | None = None
    zero_ablation: Float[np.ndarray, "site layer"] | None = None
    mean_ablation: Float[np.ndarray, "site layer"] | None = None
    effect_ci: Float[np.ndarray, "site layer 2"] | None = None  # 95% interval over pairs (bootstrap)
    patched_per_pair: Float[np.ndarray, "n site layer"] | None = None  # each pair's LD with the site patched
    patched_pos_per_pair: Float[np.ndarray, "n site layer pos"] | None = None  # ... at one suffix position

    ARRAYS = (
        "ld_clean_per_pair",
        "ld_corrupt_per_pair",
        "raw",
        "effect",
        "raw_pos",
        "effect_pos",
        "zero_ablation",
        "mean_ablation",
        "act_norm",
        "act_mean_abs",
        "effect_ci",
        "patched_per_pair",
        "patched_pos_per_pair",
    )

    def _repr_html_(self) -> str:
        """Jupyter draws the grid: MLP above ATT in execution order, cells whose interval clears 0.1 outlined."""
        title = f"Activation patching, normalised effect ({self.n_pairs} pairs)"
        grid = sublayer_grid(self.effect, self.sites, threshold=0.1, title=title, ci=self.effect_ci)
        return notebook([(title, [grid])])

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays that were computed, by name (what patch.npz holds)."""
        return {k: np.asarray(getattr(self, k)) for k in self.ARRAYS if getattr(self, k) is not None}

    @classmethod
    def from_arrays(cls, meta: dict, arrays: dict) -> PatchResult:
        return cls(
            sites=list(meta["config"]["sites"]),
            n_layers=int(np.shape(arrays["raw"])[1]),
            n_pairs=meta["n_pairs"],
            prefix_tokens=meta.get("prefix_tokens", 0),
            suffix_tokens=len(meta["suffix_tokens"]),
            ld_clean=meta["ld_clean"],
            ld_corrupt=meta["ld_corrupt"],
            **{k: arrays.get(k) for k in cls.ARRAYS},
        )


@torch.no_grad()
def run_patching(
    model: HookedModel,
    clean: Int[Tensor, "n pos"],
    corrupt: Int[Tensor, "n pos"],
    good: Int[Tensor, " n"],
    bad: Int[Tensor, " n"],
    cfg: PatchConfig | None = None,
    progress: bool | None = None,
    check: bool = True,
) -> PatchResult:
    """The sublayer grid, per-position effects, ablations and activation statistics.

    `clean`, `corrupt`: token ids of one length whose rows share a prefix (run once, from its KV cache);
    `good`, `bad`: the two answers' first tokens. `interp.pair_tokens` builds them from strings. Patching
    replaces a site after the shared prefix; ablations act on the whole prompt.

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> res = run_patching(model, **batch, cfg=PatchConfig(per_position=False), progress=False)
    >>> res.effect.shape                  # [site, layer]: attn_out, mlp_out
    (2, ...)
    """
    cfg = cfg or PatchConfig()
    L = model.cfg.n_layers
    p = Patcher(model, clean, corrupt, good, bad, check)
    names = [Site(k, layer).hook for k in cfg.sites for layer in range(L)]
    clean_acts = p.activations(p.clean, names)
    ld_clean, ld_corrupt = (p.forward(x).numpy() for x in (p.clean, p.corrupt))  # Patcher.forward: CPU tensors
    lc, lk = float(ld_clean.mean()), float(ld_corrupt.mean())
    norm = lambda v: normalised_effect(v, lc, lk)  # noqa: E731
    K, layer_sites = len(cfg.sites), [Site(k, layer) for k in cfg.sites for layer in range(L)]
    pos_sites = [Site(k, layer, q) for k in cfg.sites for layer in range(L) for q in range(p.S)] * cfg.per_position
    pairs: list = []  # per-pair LDs, for the intervals over pairs
    ld = p.sweep(
        p.corrupt, layer_sites + pos_sites, lambda s: clean_acts[s.hook], cfg.rows_per_forward, progress, pairs
    )
    per_pair = np.concatenate(pairs).T  # [n, site x layer, then site x layer x position]
    ci = effect_interval(per_pair[:, : K * L], ld_clean, ld_corrupt, cfg.n_boot, cfg.seed).reshape(K, L, 2)
    extra = {"effect_ci": ci, "patched_per_pair": per_pair[:, : K * L].reshape(-1, K, L)}
    if cfg.per_position:
        raw_pos, pos_pairs = ld[K * L :].reshape(K, L, p.S), per_pair[:, K * L :].reshape(-1, K, L, p.S)
        extra |= {"raw_pos": raw_pos, "effect_pos": norm(raw_pos), "patched_pos_per_pair": pos_pairs}
    if cfg.ablations:
        extra |= {k: norm(v).reshape(K, L) for k, v in ablations(p, layer_sites, clean_acts, cfg, progress).items()}
    stack = torch.stack([clean_acts[n] for n in names]).view(K, L, p.n, p.S, -1)
    return PatchResult(
        sites=list(cfg.sites),
        n_layers=L,
        n_pairs=p.n,
        prefix_tokens=p.P,
        suffix_tokens=p.S,
        ld_clean=lc,
        ld_corrupt=lk,
        ld_clean_per_pair=ld_clean,
        ld_corrupt_per_pair=ld_corrupt,
        raw=ld[: K * L].reshape(K, L),
        effect=norm(ld[: K * L].reshape(K, L)),
        act_norm=stack.norm(dim=-1).mean(2).float().cpu().numpy(),
        act_mean_abs=stack.abs().mean((2, 4)).float().cpu().numpy(),
        **extra,
    )


def ablations(p: Patcher, sites: list[Site], clean_acts: dict, cfg: PatchConfig, progress) -> dict[str, np.ndarray]:
    """Mean LD with each site zero- or mean-ablated over the whole prompt, few-shot prefix included.

    Zero ablation runs whole prompts (the prefix's cache would keep its unablated values). Mean ablation puts
    each position's mean over the prompts everywhere; in the shared prefix every prompt's value is its own
    mean, so the suffix, continued from the cache, is all there is to replace.
    """
    zero = lambda s: torch.zeros(1, 1, 1, device=p.device)  # noqa: E731
    mean = lambda s: clean_acts[s.hook].mean(0, keepdim=True)  # noqa: E731  [1, S, d]
    return {
        "zero_ablation": p.sweep(p.whole_clean, sites, zero, cfg.rows_per_forward, progress, whole=True),
        "mean_ablation": p.sweep(p.clean, sites, mean, cfg.rows_per_forward, progress),
    }
