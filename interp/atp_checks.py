"""Where attribution patching's linear estimate fails, and why: saturation and cancellation (Kramár et al. 2024).

AtP is the first-order term of a patch: the tangent at t = 0 of the exact effect of patching the fraction t
of the clean-minus-corrupted difference. Two mechanisms bend the true curve away from that tangent:

- **Attention saturation.** A softmax that is nearly one-hot has almost no gradient, so a change that moves
  which key wins is invisible at t = 0 and then arrives all at once. `patch_path` measures the exact curve at
  several t, and again with every attention pattern held at the corrupted run's values: an effect that is
  flat near 0, rises late, and mostly disappears once patterns are frozen travels through attention moving.
- **Cancellation.** Paths from one site to the answer with opposite signs cancel in the gradient, so AtP sees
  a small effect while the exact patch, which moves each path non-linearly, does not. GradDrop (AtP*) takes
  AtP again with the gradient kept out of one layer's attention and MLP at a time, and averages the absolute
  values: |GradDrop| far above |AtP| means some path's contribution was being cancelled.

`diagnose` names, for each cell examined, which of the two (if either) its curve and GradDrop show.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.atp import corrupted_gradients
from interp.atp import logit_difference as clean_ld
from interp.devices import model_device
from interp.patching import Patcher, Site, common_prefix


@torch.no_grad()
def patch_path(
    model,
    clean: Int[Tensor, "n pos"],
    corrupt: Int[Tensor, "n pos"],
    good: Int[Tensor, " n"],
    bad: Int[Tensor, " n"],
    sites: Sequence[Site],
    ts: Sequence[float] = tuple(np.linspace(0, 1, 11)),
    freeze_patterns: bool = False,
) -> Float[np.ndarray, "site t"]:
    """Normalised effect of patching `corrupt + t (clean - corrupt)` at each site, for each t (1 = the clean
    run's answer). With `freeze_patterns`, every layer's attention pattern is held at the corrupted run's."""
    p = Patcher(model, clean, corrupt, good, bad)
    names = sorted({s.hook for s in sites})
    acts_clean, acts_corrupt = p.activations(p.clean, names), p.activations(p.corrupt, names)
    L = model.cfg.n_layers
    patterns: dict[str, Tensor] = {}  # [n, head, S, keys]: not `activations`' [n, S, ...] layout

    def keep(x, hook):
        patterns[hook.name] = x.detach().clone()

    if freeze_patterns:
        p.forward(p.corrupt, [(f"blocks.{layer}.attn.hook_pattern", keep) for layer in range(L)])
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
        if freeze_patterns:
            hooks += [
                (name, lambda x, hook, v=v: v.repeat(k, *[1] * (v.ndim - 1)).to(x.dtype))
                for name, v in patterns.items()
            ]
        ld = p.forward(p.corrupt.repeat(k, 1), hooks).view(k, n).mean(1).numpy()
        out.append((ld - lk) / (lc - lk) if lc != lk else np.full(k, np.nan))
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
    over l of each site's |estimate|, normalised like AtP's (an estimate summed over the site's positions)."""
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


def diagnose(exact: float, atp: float, curve: Curve, frozen: Curve, gd: float, ts: Curve) -> str:
    """Which failure a cell shows: "saturation", "cancellation", "both", "neither" or "fits" (AtP within 30%).

    Saturation: under half the effect has arrived by the first tenth of the path's length (the tangent at 0
    misses it), and freezing attention patterns removes at least half of it. Cancellation: GradDrop is at
    least twice |AtP| and half the exact effect, while |AtP| is under half the exact effect.
    """
    if abs(atp - exact) <= 0.3 * max(abs(exact), 1e-9):
        return "fits"
    ts = np.asarray(ts)
    early = float(np.interp(0.1, ts, curve) - curve[0]) / 0.1  # mean slope over the first tenth
    late = curve[-1] - curve[0]
    saturation = abs(early) < 0.5 * abs(late) and abs(frozen[-1] - frozen[0]) < 0.5 * abs(late)
    cancellation = gd >= max(2 * abs(atp), 0.5 * abs(exact)) and abs(atp) < 0.5 * abs(exact)
    return {(True, True): "both", (True, False): "saturation", (False, True): "cancellation"}.get(
        (saturation, cancellation), "neither"
    )


def site_label(s: Site) -> str:
    """`ATT 20`, `MLP 0 @3` (suffix position 3), `L20H8`."""
    name = {"attn_out": "ATT", "mlp_out": "MLP"}.get(s.kind)
    base = f"L{s.layer}H{s.head}" if s.kind == "z" and s.head is not None else f"{name or s.kind} {s.layer}"
    return base + (f" @{s.pos}" if s.pos is not None else "")


__all__ = ["diagnose", "graddrop", "patch_path", "site_label"]
