"""Per-head activation patching: each attention head's `z` (its attention-weighted values, before W_O)
patched from the clean run into the corrupted one, per layer and optionally per position, with the
attention pattern of the heads that matter.

Patching every head of a layer together replaces the whole attention output, so it equals the
`attn_out` patch of that layer (a test holds the two within 1e-4); each head alone says which
heads carry it. Runs on the batched engine of `interp.interventions.patching`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.results import JsonResult
from interp.interventions.patching import Patcher, Site
from interp.interventions.readout import normalised_effect
from interp.interventions.uncertainty import effect_interval
from interp.models.devices import model_device
from interp.reports.html import notebook
from interp.reports.sections import head_sections


@dataclass(frozen=True)
class HeadPatchConfig:
    """What `run_head_patching` computes: per-position effects, how many top heads, and the batch size.

    >>> HeadPatchConfig(top_k=2).per_position
    False
    """

    per_position: bool = False  # also patch each head at each suffix position
    top_k: int = 4  # heads whose attention pattern is kept
    rows_per_forward: int = 512  # batch rows per patched forward (sites x prompts)
    n_boot: int = 2000  # bootstrap resamples of the pairs for each head's 95% interval
    seed: int = 0


@dataclass(frozen=True)
class HeadPatchResult(JsonResult):
    """Normalised effects (1 = restores the clean answer) per head, and where the top heads look.

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> run_head_patching(model, **batch, cfg=HeadPatchConfig(top_k=2), progress=False).top[0].keys()
    dict_keys(['layer', 'head', 'effect', 'ci'])
    """

    n_pairs: int
    ld_clean: float
    ld_corrupt: float
    effect: Float[np.ndarray, "layer head"]
    effect_layer: Float[np.ndarray, " layer"]  # every head of the layer at once (= the attn_out patch)
    effect_pos: Float[np.ndarray, "layer head pos"] | None  # suffix positions; None unless asked for
    top: list[dict]  # the heads with the largest effect: layer, head, effect
    pattern: Float[np.ndarray, "top key"]  # mean attention of each top head from the final position
    tokens: list[str]  # the first clean prompt's tokens: the pattern's key axis
    effect_ci: Float[np.ndarray, "layer head 2"] | None = None  # 95% interval over pairs (bootstrap)
    # each pair's clean, corrupted and head-patched LDs ([n], [n], [n, layer, head]): AtP's agreement intervals
    per_pair: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in super().to_json().items() if k != "per_pair"}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"head_effect": self.effect, "head_effect_layer": self.effect_layer, "head_pattern": self.pattern}
        out |= {"head_effect_ci": self.effect_ci} if self.effect_ci is not None else {}
        return out | ({"head_effect_pos": self.effect_pos} if self.effect_pos is not None else {})

    def _repr_html_(self) -> str:
        """Jupyter draws the layer x head grid and where the top heads attend."""
        d = {"model": f"{self.n_pairs} pairs", "heads": {"top": self.top, "tokens": self.tokens}} | self.arrays()
        return notebook(head_sections(d))


def top_heads(effect: Float[np.ndarray, "layer head"], k: int) -> list[dict]:
    order = np.argsort(-np.nan_to_num(effect, nan=-np.inf), axis=None)[:k]
    return [
        {"layer": int(i // effect.shape[1]), "head": int(i % effect.shape[1]), "effect": float(effect.flat[i])}
        for i in order
    ]


@torch.no_grad()
def final_attention(model, clean: Int[Tensor, "n pos"], heads: list[dict]) -> Float[np.ndarray, "top key"]:
    """Each head's attention from the final position over every prompt token, averaged over prompts."""
    names = sorted({f"blocks.{h['layer']}.attn.hook_pattern" for h in heads})
    _, cache = model.run_with_cache(clean.to(model_device(model)), names_filter=lambda n: n in names)
    return np.stack(
        [cache[f"blocks.{h['layer']}.attn.hook_pattern"][:, h["head"], -1].mean(0).float().cpu().numpy() for h in heads]
    ) if heads else np.zeros((0, clean.shape[1]))  # fmt: skip


@torch.no_grad()
def run_head_patching(
    model,
    clean: Int[Tensor, "n pos"],
    corrupt: Int[Tensor, "n pos"],
    good: Int[Tensor, " n"],
    bad: Int[Tensor, " n"],
    cfg: HeadPatchConfig | None = None,
    progress: bool | None = None,
    check: bool = True,
) -> HeadPatchResult:
    """Every head's `z` patched clean -> corrupted, per layer (and per position with `cfg.per_position`).

    Takes what `run_patching` takes: token ids [n, pos] of one length, clean and corrupted prompts sharing a
    prefix, and the clean and corrupted answers' first tokens (`interp.pair_tokens` builds them from strings).

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> heads = run_head_patching(model, **batch, progress=False)
    >>> heads.effect.shape                # [layer, head]
    (...)
    """
    cfg = cfg or HeadPatchConfig()
    L, H = model.cfg.n_layers, model.cfg.n_heads
    p = Patcher(model, clean, corrupt, good, bad, check)
    clean_z = p.activations(p.clean, [Site("z", layer).hook for layer in range(L)])
    ld_c, ld_k = (p.forward(x).numpy() for x in (p.clean, p.corrupt))
    lc, lk = float(ld_c.mean()), float(ld_k.mean())
    norm = lambda v: normalised_effect(v, lc, lk)  # noqa: E731
    sites = [Site("z", layer, None, h) for layer in range(L) for h in range(H)]
    sites += [Site("z", layer) for layer in range(L)]
    if cfg.per_position:
        sites += [Site("z", layer, q, h) for layer in range(L) for h in range(H) for q in range(p.S)]
    pairs: list = []  # per-pair LDs, for each head's interval over pairs
    ld = norm(p.sweep(p.corrupt, sites, lambda s: clean_z[s.hook], cfg.rows_per_forward, progress, pairs))
    effect = ld[: L * H].reshape(L, H)
    patched = np.concatenate(pairs)[: L * H].T  # [n, layer x head]
    ci = effect_interval(patched, ld_c, ld_k, cfg.n_boot, cfg.seed).reshape(L, H, 2)
    top = [t | {"ci": ci[t["layer"], t["head"]].tolist()} for t in top_heads(effect, cfg.top_k)]
    return HeadPatchResult(
        n_pairs=p.n,
        ld_clean=lc,
        ld_corrupt=lk,
        effect=effect,
        effect_layer=ld[L * H : L * H + L],
        effect_pos=ld[L * H + L :].reshape(L, H, p.S) if cfg.per_position else None,
        top=top,
        pattern=final_attention(model, clean, top),
        tokens=[model.tokenizer.decode([int(t)]) for t in clean[0]],
        effect_ci=ci,
        per_pair=(ld_c, ld_k, patched.reshape(-1, L, H)),
    )
