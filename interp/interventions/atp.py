"""Attribution patching (AtP): a linear estimate of every activation patch from one forward and one
backward pass per batch of pairs.

For a site with corrupted activation a' and clean activation a, patching changes the metric by about
grad_a'(LD) . (a - a'), the gradient taken on the corrupted run (Nanda 2023; Kramar et al. 2024).
One backward gives that gradient at every site at once: `attn_out`, `mlp_out` and each head's `z`, at
every position. A patch over all positions is estimated by the sum over positions. Estimates are
normalised like the exact grid's effects: divided by LD_clean - LD_corrupt (mean logit differences).

The gradient reaches each hook through a zero tensor added there (so it is d LD / d activation even
where the model's parameters are frozen), and `torch.autograd.grad` takes it with respect to those
tensors only: no parameter gradients are accumulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int
from scipy import stats
from torch import Tensor
from tqdm.auto import tqdm

from interp.core.results import JsonResult
from interp.interventions.patching import HOOKS, common_prefix
from interp.models.devices import model_device
from interp.reports.grids import sublayer_grid
from interp.reports.html import notebook

KINDS = ("attn_out", "mlp_out", "z")


@dataclass(frozen=True)
class AtPConfig:
    """What `attribution_patch` estimates (the kinds of site) and how many pairs go through each backward.

    >>> AtPConfig(kinds=("mlp_out",), batch=4).kinds
    ('mlp_out',)
    """

    kinds: tuple[str, ...] = KINDS  # attn_out, mlp_out, z (per head)
    batch: int = 16  # pairs per forward and backward


@dataclass(frozen=True)
class AtPResult(JsonResult):
    """Estimated normalised effects by kind: attn_out, mlp_out [layer, pos]; z [layer, head, pos] (suffix
    positions, as the exact grid's). `layer(kind)` sums the positions: the estimate of patching them all.

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> sorted(attribution_patch(model, **batch, progress=False).arrays())
    ['atp_attn_out', 'atp_mlp_out', 'atp_z']
    """

    kinds: list[str]
    estimate: dict[str, np.ndarray]
    ld_clean: float
    ld_corrupt: float
    n_pairs: int
    # per pair: each kind's contributions, attn_out/mlp_out [n, layer, pos] (suffix positions), z [n, layer,
    # head] (positions summed), and the pair's clean and corrupted LDs [2, n], for intervals over pairs
    per_pair: dict[str, np.ndarray] | None = None
    ld_per_pair: np.ndarray | None = None

    def layer(self, kind: str) -> np.ndarray:
        return self.estimate[kind].sum(-1)

    def to_json(self) -> dict:
        return {k: v for k, v in super().to_json().items() if k not in ("per_pair", "ld_per_pair")}

    def arrays(self) -> dict[str, np.ndarray]:
        """Each kind's estimate, as patch.npz names it (`atp_attn_out`, ...)."""
        return {f"atp_{k}": v for k, v in self.estimate.items()}

    def _repr_html_(self) -> str:
        """Jupyter draws the estimated sublayer grid (positions summed)."""
        sites = [k for k in self.kinds if k != "z"]
        title = f"Attribution-patching estimate, normalised effect ({self.n_pairs} pairs)"
        grid = np.stack([self.layer(k) for k in sites]) if sites else np.zeros((0, 0))
        return notebook([(title, [sublayer_grid(grid, sites, threshold=np.inf, title=title)] if sites else [])])


def logit_difference(logits: Float[Tensor, "b d_vocab"], good: Tensor, bad: Tensor) -> Float[Tensor, " b"]:
    rows = torch.arange(len(good), device=logits.device)
    good, bad = good.to(logits.device), bad.to(logits.device)
    return logits[rows, good] - logits[rows, bad]


def corrupted_gradients(
    model, names: list[str], ids: Int[Tensor, "b pos"], good: Tensor, bad: Tensor
) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
    """(LD [b], activations, d LD / d activation) at each hook in `names`, from one forward and one backward
    (on the model's device)."""
    deltas: dict[str, Tensor] = {}
    acts: dict[str, Tensor] = {}

    def add_zero(x, hook):
        acts[hook.name] = x.detach()
        deltas[hook.name] = torch.zeros_like(x, requires_grad=True)
        return x + deltas[hook.name]

    with torch.enable_grad(), model.hooks(fwd_hooks=[(n, add_zero) for n in names]):
        ld = logit_difference(model(ids.to(model_device(model)))[:, -1], good, bad)
        grads = torch.autograd.grad(ld.sum(), [deltas[n] for n in names])
    return ld.detach(), acts, dict(zip(names, grads, strict=True))


def attribution_patch(
    model,
    clean: Int[Tensor, "n pos"],
    corrupt: Int[Tensor, "n pos"],
    good: Int[Tensor, " n"],
    bad: Int[Tensor, " n"],
    cfg: AtPConfig | None = None,
    progress: bool | None = None,
) -> AtPResult:
    """AtP estimates for every layer of each kind, over the suffix positions the pairs do not share.

    Takes what `run_patching` takes (token ids [n, pos] of one length sharing a prefix, and the answers'
    first tokens); one forward and one backward per batch of pairs, against the exact grid's many forwards.

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> atp = attribution_patch(model, **batch, progress=False)
    >>> atp.layer("mlp_out").shape        # [layer]
    (...)
    """
    cfg = cfg or AtPConfig()
    kinds, batch = cfg.kinds, cfg.batch
    L = model.cfg.n_layers
    names = {f"blocks.{layer}.{HOOKS[k]}": (k, layer) for k in kinds for layer in range(L)}
    P = common_prefix(torch.cat([clean, corrupt]).tolist())
    total: dict[str, Tensor] = {}
    pairs: dict[str, list[Tensor]] = {n: [] for n in names}
    lds = {"clean": [], "corrupt": []}
    for i in tqdm(
        range(0, len(clean), batch), desc="attribution patching", disable=None if progress is None else not progress
    ):
        c, k, g, b = clean[i : i + batch], corrupt[i : i + batch], good[i : i + batch], bad[i : i + batch]
        with torch.no_grad():
            logits, cache = model.run_with_cache(c.to(model_device(model)), names_filter=lambda n: n in names)
            lds["clean"].append(logit_difference(logits[:, -1], g, b))
        ld, acts, grads = corrupted_gradients(model, list(names), k, g, b)
        lds["corrupt"].append(ld.detach())
        for n, grad in grads.items():
            contrib = (grad * (cache[n] - acts[n])).sum(-1)[:, P:].detach()  # [b, pos] or [b, pos, head]
            total[n] = total.get(n, 0) + contrib.sum(0)
            pairs[n].append((contrib.sum(1) if names[n][0] == "z" else contrib).float().cpu())
    lc, lk = (float(torch.cat(v).float().mean()) for v in (lds["clean"], lds["corrupt"]))
    denom = (lc - lk) * len(clean)
    estimate, per_pair = {}, {}
    for kind in kinds:
        per = [total[f"blocks.{layer}.{HOOKS[kind]}"] for layer in range(L)]
        arr = torch.stack(per).float().cpu().numpy() / denom if denom else np.full((L, *per[0].shape), np.nan)
        estimate[kind] = arr.transpose(0, 2, 1) if kind == "z" else arr  # z: [layer, head, pos]
        per_pair[kind] = torch.stack(
            [torch.cat(pairs[f"blocks.{layer}.{HOOKS[kind]}"]) for layer in range(L)], 1
        ).numpy()
    ld_pairs = np.stack([torch.cat(lds[k]).float().cpu().numpy() for k in ("clean", "corrupt")])
    return AtPResult(list(kinds), estimate, lc, lk, len(clean), per_pair, ld_pairs)


def agreement(exact: np.ndarray, estimate: np.ndarray, k: int = 10) -> dict:
    """How well AtP ranks the exact effects: Spearman's rho, top-k overlap, and the worst cells."""
    e, a = np.asarray(exact, float).ravel(), np.asarray(estimate, float).ravel()
    ok = np.isfinite(e) & np.isfinite(a)
    e, a = e[ok], a[ok]
    k = min(k, len(e))
    top_e, top_a = set(np.argsort(-np.abs(e))[:k]), set(np.argsort(-np.abs(a))[:k])
    idx = np.flatnonzero(ok)
    worst = np.argsort(-np.abs(a - e))[:k]
    return {
        "spearman": float(stats.spearmanr(e, a).statistic) if len(e) > 2 else float("nan"),
        "top_k": k,
        "top_k_overlap": len(top_e & top_a) / k if k else float("nan"),
        "worst": [{"cell": int(idx[i]), "exact": float(e[i]), "atp": float(a[i])} for i in worst],
    }
