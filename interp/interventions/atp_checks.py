"""Where attribution patching's linear estimate fails, and why: saturation and cancellation (Kramár et al. 2024).

AtP is the first-order term of a patch: the tangent at t = 0 of the exact effect of patching the fraction t
of the clean-minus-corrupted difference. Two mechanisms bend the true curve away from that tangent:

- **Attention saturation.** A softmax that is nearly one-hot has almost no gradient, so a change that moves
  which key wins is invisible at t = 0 and then arrives all at once. `patch_path` measures the exact curve at
  several t, and again with every attention pattern held at the corrupted run's values: an effect that is
  flat near 0, rises late, and mostly disappears once patterns are frozen travels through attention moving.
  Holding every norm's scale too leaves the MLPs as the only non-linearity on the path: an effect that still
  arrives late then is bent by the MLPs' gates, a failure outside the two AtP* names.
- **Cancellation.** Paths from one site to the answer with opposite signs cancel in the gradient, so AtP sees
  a small effect while the exact patch, which moves each path non-linearly, does not. GradDrop (AtP*) takes
  AtP again with the gradient kept out of one layer's attention and MLP at a time, and averages the absolute
  values: |GradDrop| far above |AtP| means some path's contribution was being cancelled.

`diagnose` names, for each cell examined, which of the two (if either) its curve and GradDrop show.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.interventions.atp import corrupted_gradients
from interp.interventions.atp import logit_difference as clean_ld
from interp.interventions.patching import Patcher, Site, common_prefix
from interp.interventions.readout import normalised_effect
from interp.models.devices import model_device

FREEZE = {"patterns": "attn.hook_pattern", "norms": "hook_scale"}  # what `patch_path` can hold, by hook suffix
# TransformerLens warns whenever a hook replaces a norm's scale, as holding the norms does by design: the norm's
# output is then rebuilt from the held scale, which differs from its native forward by float rounding only
HELD_SCALE_WARNING = "A forward hook edited hook_scale/hook_normalized"


@torch.no_grad()
def patch_path(
    model,
    clean: Int[Tensor, "n pos"],
    corrupt: Int[Tensor, "n pos"],
    good: Int[Tensor, " n"],
    bad: Int[Tensor, " n"],
    sites: Sequence[Site],
    ts: Sequence[float] = tuple(np.linspace(0, 1, 11)),
    freeze: Sequence[str] = (),
) -> Float[np.ndarray, "site t"]:
    """Normalised effect of patching `corrupt + t (clean - corrupt)` at each site, for each t (1 = the clean
    run's answer). `freeze`: "patterns" holds every attention pattern at the corrupted run's values, "norms"
    every normalisation's scale.

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> patch_path(model, **batch, sites=[Site("mlp_out", 0)], ts=[0.0, 0.5, 1.0]).shape   # [site, t]
    (1, 3)
    """
    p = Patcher(model, clean, corrupt, good, bad)
    names = sorted({s.hook for s in sites})
    acts_clean, acts_corrupt = p.activations(p.clean, names), p.activations(p.corrupt, names)
    held: dict[str, Tensor] = {}  # patterns [n, head, S, keys], scales [n, S, 1]: not `activations`' layout

    def keep(x, hook):
        held[hook.name] = x.detach().clone()

    suffixes = tuple(FREEZE[f] for f in freeze)
    if suffixes:
        p.forward(p.corrupt, [(name, keep) for name in model.hook_dict if name.endswith(suffixes)])
    lc, lk = float(p.forward(p.clean).mean()), float(p.forward(p.corrupt).mean())
    k, n = len(ts), p.n
    t = torch.tensor(list(ts), dtype=torch.float32, device=p.device).repeat_interleave(n)  # row j*n+i: t_j, pair i
    out = []
    for s in sites:

        def mix(x, hook, s=s):
            x = x.clone()
            at = s.index(slice(None))
            a, c = acts_corrupt[s.hook][at], acts_clean[s.hook][at]
            tt = t.view(-1, *[1] * (a.ndim - 1)).to(x.dtype)
            x[at] = a.repeat(k, *[1] * (a.ndim - 1)) + tt * (c - a).repeat(k, *[1] * (a.ndim - 1))
            return x

        hooks = [(s.hook, mix)]
        hooks += [(name, lambda x, hook, v=v: v.repeat(k, *[1] * (v.ndim - 1)).to(x.dtype)) for name, v in held.items()]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=HELD_SCALE_WARNING, category=UserWarning)
            ld = p.forward(p.corrupt.repeat(k, 1), hooks).view(k, n).mean(1).numpy()
        out.append(normalised_effect(ld, lc, lk))
    return np.stack(out)


def graddrop(
    model,
    clean: Int[Tensor, "n pos"],
    corrupt: Int[Tensor, "n pos"],
    good: Int[Tensor, " n"],
    bad: Int[Tensor, " n"],
    sites: Sequence[Site],
    batch: int = 16,
) -> Float[np.ndarray, " site"]:
    """GradDrop (AtP*): for each layer l, AtP with no gradient entering layer l's attention or MLP; the mean
    over l of each site's |estimate|, normalised like AtP's (an estimate summed over the site's positions).

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> graddrop(model, **batch, sites=[Site("mlp_out", 0), Site("attn_out", 1)]).shape
    (2,)
    """
    L = model.cfg.n_layers
    names = sorted({s.hook for s in sites})
    P = common_prefix(torch.cat([clean, corrupt]).tolist())
    est = np.zeros((L, len(sites)))
    lds = {"clean": [], "corrupt": []}
    for i in range(0, len(clean), batch):
        c, k, g, b = clean[i : i + batch], corrupt[i : i + batch], good[i : i + batch], bad[i : i + batch]
        with torch.no_grad():
            logits, cache = model.run_with_cache(c.to(model_device(model)), names_filter=lambda n: n in names)
            lds["clean"].append(clean_ld(logits[:, -1], g, b))
        for drop in range(L):
            block = [(f"blocks.{drop}.{m}.hook_in", lambda x, hook: x.detach()) for m in ("attn", "mlp")]
            with model.hooks(fwd_hooks=block):
                ld, acts, grads = corrupted_gradients(model, names, k, g, b)
            if drop == 0:
                lds["corrupt"].append(ld)
            for j, s in enumerate(sites):
                contrib = grads[s.hook] * (cache[s.hook] - acts[s.hook])  # [b, pos, (head,) d]
                contrib = contrib[:, P:]
                if s.head is not None:
                    contrib = contrib[:, :, s.head]
                if s.pos is not None:
                    contrib = contrib[:, s.pos]
                est[drop, j] += float(contrib.sum())
    lc, lk = (float(torch.cat(v).float().mean()) for v in (lds["clean"], lds["corrupt"]))
    denom = (lc - lk) * len(clean)
    return np.abs(est / denom).mean(0) if denom else np.full(len(sites), np.nan)


Curve = Sequence[float] | np.ndarray


def diagnose(
    exact: float, atp: float, curve: Curve, frozen: Curve, gd: float, ts: Curve, frozen_norms: Curve | None = None
) -> str:
    """Which failure a cell shows: "saturation", "cancellation", "both", "mlp", "neither", or "fits" (AtP within
    30%).

    The effect arrives late when the path's mean slope over its first tenth is under half its mean slope
    over the whole path (under 5% of the effect by t = 0.1: the tangent at 0 misses it). Saturation: it arrives late and freezing attention patterns removes at least half of it.
    Cancellation: GradDrop is at least twice |AtP| and half the exact effect, while |AtP| is under half the
    exact effect. MLP: it arrives late, neither of those, and at least half of it survives with attention
    patterns and norm scales both frozen (`frozen_norms`): the MLPs bend it.

    >>> diagnose(0.5, 0.1, [0.0, 0.2, 0.5], [0.0, 0.25, 0.5], 0.4, [0.0, 0.5, 1.0])  # doctest: +ELLIPSIS
    '...'
    """
    if abs(atp - exact) <= 0.3 * max(abs(exact), 1e-9):
        return "fits"
    ts = np.asarray(ts)
    early = float(np.interp(0.1, ts, curve) - curve[0]) / 0.1  # mean slope over the first tenth
    late = curve[-1] - curve[0]
    arrives_late = abs(early) < 0.5 * abs(late)
    saturation = arrives_late and abs(frozen[-1] - frozen[0]) < 0.5 * abs(late)
    cancellation = gd >= max(2 * abs(atp), 0.5 * abs(exact)) and abs(atp) < 0.5 * abs(exact)
    if saturation or cancellation:
        return "both" if saturation and cancellation else "saturation" if saturation else "cancellation"
    if frozen_norms is not None and arrives_late and abs(frozen_norms[-1] - frozen_norms[0]) >= 0.5 * abs(late):
        return "mlp"
    return "neither"


def site_label(s: Site) -> str:
    """`ATT 20`, `MLP 0 @3` (suffix position 3), `L20H8`."""
    name = {"attn_out": "ATT", "mlp_out": "MLP"}.get(s.kind)
    base = f"L{s.layer}H{s.head}" if s.kind == "z" and s.head is not None else f"{name or s.kind} {s.layer}"
    return base + (f" @{s.pos}" if s.pos is not None else "")


__all__ = ["diagnose", "graddrop", "patch_path", "site_label"]
