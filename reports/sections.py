"""Report sections from plain result data: each returns (title, items) pairs for `html.assemble`.

Each command draws its own page with these, and `python -m interp.report` draws the
combined page with the same functions. This package imports nothing else of the
toolkit: the runs hand it arrays and strings (their `for_report()`).
"""

from __future__ import annotations

import html as _html

import numpy as np

from interp.reports.figures import digit_scale_heatmap, layer_position_heatmap, nll_curves, sublayer_grid
from interp.reports.sequences import cost_curves, prediction_rows, sequence_rows, weighting_heatmap

LABEL = {"attn_out": "ATT", "mlp_out": "MLP", "resid_post": "resid_post"}
Section = tuple[str, list]


def table(rows: list[list[str]]) -> str:
    """An HTML table; the first row is the header."""
    head, *body = rows
    th = "".join(f"<th>{_html.escape(str(c))}</th>" for c in head)
    tb = "".join("<tr>" + "".join(f"<td>{_html.escape(str(c))}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><tr>{th}</tr>{tb}</table>"


def probe_sections(d: dict) -> list[Section]:
    """Digit-scale accuracy and selectivity heatmaps per site.

    `d`: name, sites, layers, accuracy/ci95/selectivity [site, layer, scale], majority [scale], behaviour.
    """
    name = d["name"]
    figs: list = []
    for si, site in enumerate(d["sites"]):
        figs += [
            digit_scale_heatmap(
                d["accuracy"][si].T,
                d["layers"],
                ci=d["ci95"][si].T,
                title=f"Accuracy Breakdown: {name}, {site}",
            ),
            digit_scale_heatmap(
                d["selectivity"][si].T,
                d["layers"],
                diverging=True,
                colorbar="selectivity",
                title=f"Selectivity (accuracy - control task): {name}, {site}",
            ),
        ]
    text = f"<p>majority baseline by digit scale: {np.round(d['majority'], 3).tolist()}</p>"
    beh = d.get("behaviour")
    if beh:
        text += (
            f"<p>model's own greedy exact match: {beh['exact']:.3f}; by operand digits "
            f"{beh['by_operand_digits']}; by answer digit scale {beh['by_scale']}</p>"
        )
    return [(f"Digit-scale probes: {name}", [text, *figs])]


def patch_sections(d: dict, threshold: float = 0.1) -> list[Section]:
    """Sublayer grid, per-position effects, ablations and activation statistics of a patch run."""
    sites, labels, name = list(d["sites"]), d["suffix_tokens"], d["model"]
    text = (
        f"<p>{d['n_pairs']} pairs; mean logit difference clean {float(d['ld_clean']):.3f}, "
        f"corrupted {float(d['ld_corrupt']):.3f}. Example: <code>{_html.escape(d['example'][0])}</code> vs "
        f"<code>{_html.escape(d['example'][1])}</code></p>"
    )
    out = [
        (
            f"Which sublayers matter: {name} (clean activation patched into the corrupted run)",
            [text, sublayer_grid(d["effect"], sites, threshold, title=f"Sublayer grid: {name}")],
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
                        d[k],
                        sites,
                        threshold=np.inf,
                        title=k.replace("_", "-"),
                        colorbar="normalised logit difference",
                    )
                    for k in ("zero_ablation", "mean_ablation")
                ],
            )
        )
    out.append(
        (
            f"Activation statistics on the clean prompts: {name}",
            [
                layer_position_heatmap(d[key][i], labels, f"{LABEL[s]} {what}", what)
                for key, what in (
                    ("act_norm", "mean L2 norm"),
                    ("act_mean_abs", "mean |activation|"),
                )
                for i, s in enumerate(sites)
            ],
        )
    )
    return out


def nll_table(models: list[dict]) -> list[list[str]]:
    names = sorted({k for m in models for k in m["summary"]["buckets"]}, key=lambda k: int(k.split("-")[0]))
    rows = [["model", *names, "power-law fit"]]
    for m in models:
        fit = m["summary"].get("fit")
        rows.append(
            [
                m["model"],
                *[f"{m['summary']['buckets'][k]:.3f}" if k in m["summary"]["buckets"] else "-" for k in names],
                f"{fit['alpha']:.2f} t^{fit['beta']:.3f} + {fit['gamma']:.2f} (R² {fit['r2']:.3f})" if fit else "-",
            ]
        )
    return rows


def nll_sections(d: dict) -> list[Section]:
    """Cumulative NLL curves (all models on one plot), the bucket table, and activation statistics.

    `d["models"]`: model, summary (buckets, fit), cumulative [doc, pos], stats (or None).
    """
    models = d["models"]
    fig = nll_curves({m["model"]: m["cumulative"] for m in models})
    out = [("Long-context NLL by token position", [table(nll_table(models)), fig])]
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
            st["far"][i],
            st["buckets"],
            f"attention to tokens more than {k} back",
            "attention mass",
            zmax=1.0,
        )
        for i, k in enumerate(st["far_k"])
    ]
    figs.append(
        layer_position_heatmap(st["first"], st["buckets"], "attention to the first token", "attention mass", zmax=1.0)
    )
    return figs


def _task_items(task: str, runs: list[dict], arrays: dict) -> list:
    rows = [["model", "parameters", "batches", "sequences", "train time (s)", *map(str, runs[0]["x"])]]
    rows += [
        [
            r["name"],
            f"{r['parameters']:,}",
            str(r["step"]),
            f"{r['sequences']:,}",
            f"{r['seconds']:.0f}",
            *[f"{c:.3f}" for c in r["cost"]],
        ]
        for r in runs
    ]
    items: list = [table(rows)]
    first, figure = runs[0]["name"], runs[0]["figure"]
    if figure == "ngrams":
        items.append(
            "<p>"
            + "; ".join(
                f"{r['name']}: {r['cost'][0]:.2f} bits per sequence, "
                f"{r['above_optimal']:+.2f} above the optimal estimator "
                f"({r['optimal']:.2f})"
                for r in runs
            )
            + "</p>"
        )
        pred = {
            "Input": arrays[f"{first}/example/inputs"],
            "Optimal": arrays[f"{first}/example/optimal"],
        }
        pred |= {r["model"].upper(): arrays[f"{r['name']}/example/pred"] for r in runs}
        items.append(prediction_rows(pred, "Dynamic N-grams: predicted P(next bit = 1) on one test sequence"))
        return items
    if figure == "cost_curve":
        items.append(
            cost_curves(
                runs[0]["x"],
                {r["name"]: r["cost"] for r in runs},
                f"{task}: cost against length",
                runs[0]["xlabel"],
            )
        )
    for key, title in zip(runs[0]["examples"], runs[0]["example_titles"], strict=True):
        seqs = {"Targets": arrays[f"{first}/{key}/targets"]}
        seqs |= {f"{r['model'].upper()} outputs": arrays[f"{r['name']}/{key}/outputs"] for r in runs}
        items.append(sequence_rows(seqs, title))
    return items


def memory_sections(d: dict) -> list[Section]:
    """NTM vs LSTM on the memory tasks: costs, Targets/Outputs rows, N-gram rows, weightings, training curves.

    `d`: runs (each with its task's `figure`, `examples` and `example_titles`) and arrays.
    """
    out = []
    arrays = d["arrays"]
    by_task: dict[str, list[dict]] = {}
    for r in d["runs"]:
        by_task.setdefault(r["task"], []).append(r)
    for task, runs in by_task.items():
        items = _task_items(task, runs, arrays)
        for r in runs:
            for head in ("write_w", "read_w"):
                for k in sorted(a for a in arrays if a.startswith(f"{r['name']}/") and a.endswith(f"/{head}")):
                    items.append(
                        weighting_heatmap(
                            arrays[k],
                            f"{r['name']}: {head.replace('_w', '')} weighting ({k.split('/')[1]})",
                        )
                    )
        seen = {r["name"]: [h[0] * r["config"]["batch"] for h in r["held_out"]] for r in runs}
        items.append(
            cost_curves(
                seen,
                {r["name"]: [h[1] for h in r["held_out"]] for r in runs},
                f"{task}: held-out cost during training",
                "training sequences",
            )
        )
        out.append((f"Memory task: {task}", items))
    return out
