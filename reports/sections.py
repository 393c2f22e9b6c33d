"""Report sections from saved results: each takes loaded result data and returns (title, items) pairs.

The probe, patch and nll CLIs build their own single-result pages from these, and
`python -m interp.report` builds the combined page from the same functions.
"""

from __future__ import annotations

import html as _html

import numpy as np

from reports.figures import (
    digit_scale_heatmap,
    layer_position_heatmap,
    nll_curves,
    sublayer_grid,
)

LABEL = {"attn_out": "ATT", "mlp_out": "MLP", "resid_post": "resid_post"}
Section = tuple[str, list]


def _table(rows: list[list[str]]) -> str:
    head, *body = rows
    th = "".join(f"<th>{_html.escape(str(c))}</th>" for c in head)
    tb = "".join("<tr>" + "".join(f"<td>{_html.escape(str(c))}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><tr>{th}</tr>{tb}</table>"


def probe_sections(out: dict) -> list[Section]:
    """Digit-scale accuracy and selectivity heatmaps per site, from a probe run's results.json."""
    from probes.sweep import ProbeResults

    res = ProbeResults.from_json(out["probes"])
    acc, ci, sel = res.mean(), res.ci95(), res.selectivity()
    name = out["model"]["name"]
    figs: list = []
    for si, site in enumerate(res.sites):
        figs += [
            digit_scale_heatmap(acc[si].T, res.layers, ci=ci[si].T, title=f"Accuracy Breakdown: {name}, {site}"),
            digit_scale_heatmap(sel[si].T, res.layers, diverging=True, colorbar="selectivity",
                                title=f"Selectivity (accuracy - control task): {name}, {site}"),
        ]
    text = f"<p>majority baseline by digit scale: {np.round(res.majority, 3).tolist()}</p>"
    beh = out.get("behaviour")
    if beh:
        text += (f"<p>model's own greedy exact match: {beh['exact']:.3f}; by operand digits "
                 f"{beh['by_operand_digits']}; by answer digit scale {beh['by_scale']}</p>")
    return [(f"Digit-scale probes: {name}", [text, *figs])]


def patch_sections(res: dict, meta: dict, threshold: float = 0.1) -> list[Section]:
    """Sublayer grid, per-position effects, ablations and activation statistics of a patch run."""
    sites, labels, name = list(res["sites"]), meta["suffix_tokens"], meta["model"]
    text = (f"<p>{meta['n_pairs']} pairs; mean logit difference clean {float(res['ld_clean']):.3f}, "
            f"corrupted {float(res['ld_corrupt']):.3f}. Example: <code>{_html.escape(meta['example'][0])}</code> vs "
            f"<code>{_html.escape(meta['example'][1])}</code></p>")
    out = [(f"Which sublayers matter: {name} (clean activation patched into the corrupted run)",
            [text, sublayer_grid(res["effect"], sites, threshold, title=f"Sublayer grid: {name}")])]
    if "effect_pos" in res:
        out.append((f"Patching effect by layer and position: {name}", [
            layer_position_heatmap(res["effect_pos"][i], labels, f"{LABEL[s]} patched at one position",
                                   "normalised effect", diverging=True) for i, s in enumerate(sites)]))
    if "zero_ablation" in res:
        out.append((f"Ablation on the clean prompts: {name} (1 = unharmed, 0 = as bad as corrupted)", [
            sublayer_grid(res[k], sites, threshold=np.inf, title=k.replace("_", "-"),
                          colorbar="normalised logit difference") for k in ("zero_ablation", "mean_ablation")]))
    out.append((f"Activation statistics on the clean prompts: {name}", [
        layer_position_heatmap(res[key][i], labels, f"{LABEL[s]} {what}", what)
        for key, what in (("act_norm", "mean L2 norm"), ("act_mean_abs", "mean |activation|"))
        for i, s in enumerate(sites)]))
    return out


def nll_table(models: list[dict]) -> list[list[str]]:
    names = sorted({k for m in models for k in m["summary"]["buckets"]}, key=lambda k: int(k.split("-")[0]))
    rows = [["model", *names, "power-law fit"]]
    for m in models:
        fit = m["summary"].get("fit")
        rows.append([m["model"], *[f"{m['summary']['buckets'][k]:.3f}" if k in m["summary"]["buckets"] else "-"
                                   for k in names],
                     f"{fit['alpha']:.2f} t^{fit['beta']:.3f} + {fit['gamma']:.2f} (R² {fit['r2']:.3f})" if fit
                     else "-"])
    return rows


def nll_sections(meta: dict, arrays: dict) -> list[Section]:
    """Cumulative NLL curves (all models on one plot), the bucket table, and activation statistics."""
    from interp.nll import cumulative

    models = meta["models"]
    fig = nll_curves({m["model"]: cumulative(arrays[m["model"]]) for m in models})
    out = [("Long-context NLL by token position", [_table(nll_table(models)), fig])]
    for m in models:
        st = m.get("stats")
        if st and f"{m['model']}/norm" in arrays:
            out.append((f"Activations along the context: {m['model']}",
                        stats_figures(st | {k: arrays[f"{m['model']}/{k}"] for k in ("norm", "far", "first")})))
    return out


def stats_figures(st: dict) -> list:
    figs = [layer_position_heatmap(st["norm"][i], st["buckets"], f"{site} norm by position", "mean L2 norm")
            for i, site in enumerate(st["sites"])]
    figs += [layer_position_heatmap(st["far"][i], st["buckets"], f"attention to tokens more than {k} back",
                                    "attention mass", zmax=1.0) for i, k in enumerate(st["far_k"])]
    figs.append(layer_position_heatmap(st["first"], st["buckets"], "attention to the first token",
                                       "attention mass", zmax=1.0))
    return figs



def memory_sections(meta: dict, arrays: dict) -> list[Section]:
    """NTM vs LSTM on the memory tasks: costs, Targets/Outputs rows, N-gram rows, weightings, training curves."""
    from reports.figures import cost_curves, prediction_rows, sequence_rows, weighting_heatmap

    out = []
    by_task: dict[str, list[dict]] = {}
    for r in meta["runs"]:
        by_task.setdefault(r["task"], []).append(r)
    for task, runs in by_task.items():
        items: list = []
        rows = [["model", "parameters", "batches", "sequences", "train time (s)", *map(str, runs[0]["x"])]]
        rows += [[r["name"], f"{r['parameters']:,}", str(r["step"]), f"{r['sequences']:,}", f"{r['seconds']:.0f}",
                  *[f"{c:.3f}" for c in r["cost"]]] for r in runs]
        items.append(_table(rows))
        if task == "ngrams":
            items.append("<p>" + "; ".join(f"{r['name']}: {r['cost'][0]:.2f} bits per sequence, "
                                           f"{r['above_optimal']:+.2f} above the optimal estimator "
                                           f"({r['optimal']:.2f})" for r in runs) + "</p>")
            first = runs[0]["name"]
            pred = {"Input": arrays[f"{first}/example/inputs"], "Optimal": arrays[f"{first}/example/optimal"]}
            pred |= {r["model"].upper(): arrays[f"{r['name']}/example/pred"] for r in runs}
            items.append(prediction_rows(pred, "Dynamic N-grams: predicted P(next bit = 1) on one test sequence"))
        elif task == "copy" or task == "recall":
            items.append(cost_curves(runs[0]["x"], {r["name"]: r["cost"] for r in runs},
                                     f"{task}: cost against length", runs[0]["xlabel"]))
        if task == "repeat_copy":
            from tasks.evaluate import REPEAT_SETTINGS

            for L, R in REPEAT_SETTINGS:
                key = f"example_{L}x{R}"
                first = runs[0]["name"]
                seqs = {"Targets": arrays[f"{first}/{key}/targets"]}
                seqs |= {f"{r['model'].upper()} outputs": arrays[f"{r['name']}/{key}/outputs"] for r in runs}
                items.append(sequence_rows(seqs, f"Repeat copy, length {L}, repeat {R}"))
        elif task in ("copy", "recall"):
            first = runs[0]["name"]
            seqs = {"Targets": arrays[f"{first}/example/targets"]}
            seqs |= {f"{r['model'].upper()} outputs": arrays[f"{r['name']}/example/outputs"] for r in runs}
            items.append(sequence_rows(seqs, f"{task}: one held-out sequence"))
        for r in runs:
            for head in ("write_w", "read_w"):
                for k in sorted(a for a in arrays if a.startswith(f"{r['name']}/") and a.endswith(f"/{head}")):
                    items.append(weighting_heatmap(arrays[k], f"{r['name']}: {head.replace('_w', '')} weighting "
                                                   f"({k.split('/')[1]})"))
        seen = {r["name"]: [h[0] * r["config"]["batch"] for h in r["held_out"]] for r in runs}
        items.append(cost_curves(seen, {r["name"]: [h[1] for h in r["held_out"]] for r in runs},
                                 f"{task}: held-out cost during training", "training sequences"))
        out.append((f"Memory task: {task}", items))
    return out
