"""Report sections from plain result data: each returns (title, items) pairs for `html.assemble`.

Each command draws its own page with these, and `python -m interp.report` draws the
combined page with the same functions. This package imports nothing else of the
toolkit: the runs hand it arrays and strings (their `for_report()`).
"""

from __future__ import annotations

import html

import numpy as np

from interp.reports.figures import attention_rows, estimate_scatter, layer_position_heatmap, nll_curves, path_curves
from interp.reports.grids import sublayer_grid

LABEL = {"attn_out": "ATT", "mlp_out": "MLP", "resid_post": "resid_post"}
Section = tuple[str, list]


def table(rows: list[list[str]]) -> str:
    """An HTML table; the first row is the header."""
    head, *body = rows
    th = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    tb = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><tr>{th}</tr>{tb}</table>"


def config_table(config: dict) -> str:
    """A run's config as a two-column table (nested configs flattened as `task.digits`)."""
    rows: list[list[str]] = [["setting", "value"]]

    def walk(d: dict, prefix: str = "") -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                rows.append([f"{prefix}{k}", ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)])

    walk(config)
    return table(rows)


def patch_sections(d: dict, threshold: float = 0.1) -> list[Section]:
    """Sublayer grid, per-position effects, ablations and activation statistics of a patch run."""
    sites, labels, name = list(d["sites"]), d["suffix_tokens"], d["model"]
    text = (
        f"<p>{d['n_pairs']} pairs; mean logit difference clean {float(d['ld_clean']):.3f}, "
        f"corrupted {float(d['ld_corrupt']):.3f}. Example: <code>{html.escape(d['example'][0])}</code> vs "
        f"<code>{html.escape(d['example'][1])}</code></p>"
    )
    out = [
        (
            f"Which sublayers matter: {name} (clean activation patched into the corrupted run)",
            [text, sublayer_grid(d["effect"], sites, threshold, title=f"Sublayer grid: {name}", ci=d.get("effect_ci"))],
        )
    ]
    if d.get("effect_pos") is not None:
        out.append(
            (
                f"Patching effect by layer and position: {name}",
                [
                    layer_position_heatmap(
                        d["effect_pos"][i],
                        labels,
                        f"{LABEL[s]} patched at one position",
                        "normalised effect",
                        diverging=True,
                    )
                    for i, s in enumerate(sites)
                ],
            )
        )
    if d.get("zero_ablation") is not None:
        out.append(
            (
                f"Ablation on the clean prompts: {name} (1 = unharmed, 0 = as bad as corrupted)",
                [
                    sublayer_grid(
                        d[k], sites, threshold=np.inf, title=k.replace("_", "-"), colorbar="normalised logit difference"
                    )
                    for k in ("zero_ablation", "mean_ablation")
                ],
            )
        )
    out += head_sections(d) + atp_sections(d)
    out.append(
        (
            f"Activation statistics on the clean prompts: {name}",
            [
                layer_position_heatmap(d[key][i], labels, f"{LABEL[s]} {what}", what)
                for key, what in (("act_norm", "mean L2 norm"), ("act_mean_abs", "mean |activation|"))
                for i, s in enumerate(sites)
            ],
        )
    )
    return out


def head_sections(d: dict) -> list[Section]:
    """Per-head patching: the layer x head grid and where the top heads attend from the final position."""
    if d.get("head_effect") is None:
        return []
    eff, name, top = np.asarray(d["head_effect"]), d["model"], d["heads"]["top"]
    text = "<p>Top heads by normalised effect: " + html.escape(
        ", ".join(f"L{t['layer']}H{t['head']} {t['effect']:.2f}" for t in top)
    ) + ". Every head of a layer patched together equals that layer's ATT patch." + (
        " Heads marked n.s. have a 95% interval over pairs that holds 0." if d.get("head_effect_ci") is not None else ""
    ) + "</p>"  # fmt: skip
    return [
        (
            f"Which attention heads matter: {name} (each head's z patched, all positions)",
            [
                text,
                layer_position_heatmap(
                    eff, [str(h) for h in range(eff.shape[1])], f"Head patching: {name}", "normalised effect", diverging=True,
                    xlabel="head", ci=d.get("head_effect_ci"),
                ),
                attention_rows(
                    d["head_pattern"], [f"L{t['layer']}H{t['head']}" for t in top], d["heads"]["tokens"],
                    f"Attention from the final position, top heads, mean over clean prompts: {name}",
                ),
            ],
        )
    ]  # fmt: skip


def atp_sections(d: dict) -> list[Section]:
    """Attribution patching against the exact grids: agreement, the estimated grid, and exact vs estimate."""
    if d.get("atp_attn_out") is None:
        return []
    sites, name, L = list(d["sites"]), d["model"], np.asarray(d["effect"]).shape[1]
    est = np.stack([np.asarray(d[f"atp_{s}"]).sum(-1) for s in sites])
    text = "".join(
        f"<p>{html.escape(grid)}: Spearman {a['spearman']:.3f}, top-{a['top_k']} overlap {a['top_k_overlap']:.2f}; "
        "largest misses (exact, estimate): "
        + html.escape(", ".join(f"{w['exact']:.2f} vs {w['atp']:.2f}" for w in a["worst"][:5]))
        + "</p>"
        for grid, a in d["atp"].items()
    )
    labels = [f"{LABEL[s]} {layer}" for s in sites for layer in range(L)]
    groups = {"sublayers": (np.asarray(d["effect"]).ravel(), est.ravel(), labels)}
    if d.get("head_effect") is not None:
        H = np.asarray(d["head_effect"]).shape[1]
        heads = np.asarray(d["atp_z"]).sum(-1)
        groups["heads"] = (
            np.asarray(d["head_effect"]).ravel(),
            heads.ravel(),
            [f"L{i // H}H{i % H}" for i in range(L * H)],
        )
    items = [
        text,
        sublayer_grid(est, sites, threshold=np.inf, title=f"Sublayer grid, attribution-patching estimate: {name}"),
        estimate_scatter(groups, f"Exact patching against its linear estimate: {name}"),
    ]
    if d.get("atp_checks"):
        items += atp_check_items(d["atp_checks"], name)
    return [(f"Attribution patching (one forward and backward) against exact patching: {name}", items)]


def atp_check_items(checks: dict, name: str) -> list:
    """The cells AtP misses most: a table with GradDrop and the diagnosis, and their patching-path curves."""
    rows = [["cell", "exact", "AtP", "GradDrop", "patterns frozen (t = 1)", "patterns and norms frozen", "diagnosis"]]
    rows += [
        [c["site"], f"{c['exact']:.3f}", f"{c['atp']:.3f}", f"{c['graddrop']:.3f}", f"{c['frozen'][-1]:.3f}",
         f"{c['frozen_norms'][-1]:.3f}" if "frozen_norms" in c else "-", c["diagnosis"]]
        for c in checks["cells"]
    ]  # fmt: skip
    text = (
        "<p>Why the largest misses miss. The effect <i>arrives late</i> when the path rises over its first tenth "
        "at under half its mean slope (under 5% of the effect by t = 0.1), so the tangent at t = 0 (AtP) misses it. <b>Saturation</b> (Kramár et al. "
        "2024): it arrives late and freezing every attention pattern at the corrupted run's removes at least half "
        "of it. <b>Cancellation</b> (ibid.): GradDrop (AtP with no gradient into one layer's attention and MLP at "
        "a time, mean of absolute values) is at least twice |AtP| and half the exact effect, while |AtP| is under "
        "half the exact effect. <b>MLP</b>: it arrives late, neither of those, and at least half of it survives "
        "with attention patterns and every norm's scale frozen, so the MLPs' gates bend it. <b>Fits</b>: AtP "
        "within 30%.</p>"
    )
    return [
        text,
        table(rows),
        path_curves(checks["t"], checks["cells"], f"Exact effect along the patching path: {name}"),
    ]


def nll_table(models: list[dict]) -> list[list[str]]:
    names = sorted({k for m in models for k in m["summary"]["buckets"]}, key=lambda k: int(k.split("-")[0]))
    rows = [["model", *names, "power-law fit of the per-position loss L(t)"]]
    for m in models:
        fit = m["summary"].get("fit")
        rows.append(
            [
                m["model"],
                *[_bucket(m["summary"], k) for k in names],
                f"{fit['alpha']:.2f} t^{fit['beta']:.3f} + {fit['gamma']:.2f} (R² {fit['r2']:.3f})" if fit else "-",
            ]
        )
    return rows


def _bucket(summary: dict, k: str) -> str:
    """A bucket's mean NLL with its 95% interval over windows, when there is one."""
    if k not in summary["buckets"]:
        return "-"
    lo, hi = (summary.get("bucket_ci") or {}).get(k, (float("nan"),) * 2)
    return f"{summary['buckets'][k]:.3f}" + (f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else "")


def paired_table(pairs: list[dict]) -> list[list[str]]:
    """Each pair's difference (first minus second) per bucket and per character, with interval and verdict."""
    rows = [["models", "reading", "difference (nats)", "95% interval over windows", "verdict"]]
    for p in pairs:
        who = f"{p['models'][0]} minus {p['models'][1]} ({p['windows']} windows)"
        cells = [(f"per token, {k}", c) for k, c in p["buckets"].items()]
        if p.get("per_char"):
            cells.append((f"per character, the shared {p['per_char']['chars']:,.0f} characters", p["per_char"]))
        rows += [
            [who, what, f"{c['diff']:+.4f}", f"[{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}]", c["verdict"]]
            for what, c in cells
        ]
    return rows


def nll_sections(d: dict) -> list[Section]:
    """Cumulative NLL curves (all models on one plot), the bucket table, and activation statistics.

    `d["models"]`: model, summary (buckets, fit), cumulative [doc, pos], stats (or None).
    """
    models = d["models"]
    fig = nll_curves({m["model"]: m["cumulative"] for m in models})
    out = [("Long-context NLL by token position", [table(nll_table(models)), fig])]
    if d.get("paired"):
        out.append(("Models compared on the same windows", [table(paired_table(d["paired"]))]))
    for m in models:
        if m.get("stats"):
            out.append((f"Activations along the context: {m['model']}", stats_figures(m["stats"])))
    return out


def stats_figures(st: dict) -> list:
    figs = [
        layer_position_heatmap(st["norm"][i], st["buckets"], f"{site} norm by position", "mean L2 norm")
        for i, site in enumerate(st["sites"])
    ]
    figs += [
        layer_position_heatmap(
            st["far"][i], st["buckets"], f"attention to tokens more than {k} back", "attention mass", zmax=1.0
        )
        for i, k in enumerate(st["far_k"])
    ]
    figs.append(
        layer_position_heatmap(st["first"], st["buckets"], "attention to the first token", "attention mass", zmax=1.0)
    )
    return figs
