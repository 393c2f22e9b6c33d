"""Report sections of a probe run: the digit-scale heatmaps, the logit lens, and the causal tests beside them."""

from __future__ import annotations

import html

import numpy as np

from interp.reports.figures import digit_scale_heatmap
from interp.reports.sections import Section, config_table


def _behaviour(beh: dict) -> str:
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    by_len = ", ".join(f"{k}-digit {pct(v)}" for k, v in beh["by_operand_digits"].items())
    by_scale = ", ".join(f"scale {k} {pct(v)}" for k, v in beh["by_scale"].items())
    return (
        f"<p>The model's own greedy answers on {beh['n']} problems: exact match <b>{pct(beh['exact'])}</b>; "
        f"by operand length {by_len}; digit right by answer scale {by_scale}.</p>"
    )


def probe_sections(d: dict) -> list[Section]:
    """Accuracy, accuracy above the majority baseline, selectivity per site, and the logit lens beside them.

    `d`: name, sites, layers, accuracy/ci95/above_majority/selectivity [site, layer, scale], majority,
    control_majority, chance [scale], lens [layer, scale], read_at, order, config, behaviour.
    """
    name, order, layers = d["name"], d.get("order", "place"), d["layers"]
    where = {"emit": "where each digit is written", "equals": "at the final '='"}.get(d["read_at"], d["read_at"])
    base = ", ".join(
        f"scale {k + 1}: majority {m:.2f}, control majority {c:.2f}, chance {ch:.2f}"
        for k, (m, c, ch) in enumerate(zip(d["majority"], d["control_majority"], d["chance"], strict=True))
    )
    items: list = [
        config_table(d["config"]),
        f"<p>Probes read {html.escape(where)}. Baselines by digit scale: {base}.</p>",
    ]
    if d.get("behaviour"):
        items.append(_behaviour(d["behaviour"]))
    items += _lens(d, layers, order)
    iv = d.get("intervals")
    if iv:
        items.append(
            "<p>Intervals: each cell's 95% interval is on hover (Wilson for accuracy, a paired bootstrap over "
            "problems for the differences). Cells marked n.s. are those the data cannot tell from their "
            "baseline: above majority after Benjamini-Hochberg over the grid (q > 0.05), selectivity whose "
            "interval includes 0.</p>"
        )
    for si, site in enumerate(d["sites"]):
        items += _site_heatmaps(d, si, site, order)
    sections = [(f"Digit-scale probes: {name}", items)]
    if d.get("causal"):
        sections.append(causal_section(d["causal"], name, order))
    return sections


def causal_section(c: dict, name: str, order: str = "place") -> Section:
    """Ablating and steering along the resid_post probes' directions, beside the probes themselves.

    `c`: a `CausalResult.to_json()`: layers, n, model [scale], and [layer, scale] arrays."""
    arr = {
        k: np.asarray(v, dtype=float) for k, v in c.items() if isinstance(v, list) and k not in ("layers", "targets")
    }
    layers = c["layers"]
    model = ", ".join(f"scale {k + 1} {v:.2f}" for k, v in enumerate(arr["model"]))
    n = ", ".join(str(int(v)) for v in arr["n"])
    text = (
        f"<p>Each cell's resid_post probe (fitted on fold 0's training problems) is tested on the held-out "
        f"problems ({n} by scale) at the position that writes that digit. <b>Ablate</b>: the probe's subspace "
        f"(rank up to 9) is set to its training mean. <b>Steer</b>: the subspace is moved "
        f"{c['config'].get('steer', 1.0):g} of the way to a random other digit's training mean. The control for "
        f"each edit is a random direction of the same norm, problem by problem. The model's own accuracy over the "
        f"ten digits, unedited: {model}.</p>"
    )
    grids = [
        (arr["model_ablate_random"] - arr["model_ablate"], True, "accuracy lost beyond random",
         "Ablating the probe subspace: the model's accuracy lost, beyond a random edit of the same norm"),
        (arr["flip"], False, "steered to the target",
         "Steering along the probe: how often the model's answer becomes the target digit"),
        (arr["flip_random"], False, "steered to the target", "Steering control: a random edit of the same norm"),
        (arr["lens_ablate_random"] - arr["lens_ablate"], True, "lens accuracy lost beyond random",
         "Ablating the probe subspace: the logit lens at that layer, accuracy lost beyond random"),
        (arr["probe"], False, "held-out accuracy", "The probes tested (resid_post, fold 0)"),
    ]  # fmt: skip
    items = [text] + [
        digit_scale_heatmap(v.T, layers, title=f"{t}: {name}", colorbar=cb, diverging=div, order=order)
        for v, div, cb, t in grids
    ]
    return (f"Causal tests of the probe directions: {name}", items)


def _lens(d: dict, layers, order: str) -> list:
    """The logit lens heatmap, or why there is none; and which digit scales share a read position."""
    items: list = []
    reads = d.get("reads") or {}
    if reads.get("shared"):
        pairs = ", ".join(f"scales {k.replace('-', ' and ')}: {v}" for k, v in reads["shared"].items())
        items.append(
            f"<p>This tokenizer writes several answer digits as one token, so some digit scales are read at "
            f"the same position (the last token before the one that writes them): {html.escape(pairs)} "
            f"problems.</p>"
        )
    if reads.get("digits_split", True):
        items.append(
            digit_scale_heatmap(
                np.asarray(d["lens"]).T,
                layers,
                order=order,
                colorbar="top-1 accuracy",
                title=f"Logit lens: the model's own readout of each digit, {d['name']}",
            )
        )
    else:
        items.append(
            "<p>No logit lens: this tokenizer writes several answer digits as one token, so a readout over "
            "the tokens 0-9 says nothing about what the model writes.</p>"
        )
    return items


def _site_heatmaps(d: dict, si: int, site: str, order: str) -> list:
    """One site's accuracy, above-majority and selectivity heatmaps, with their intervals when the run has them."""
    name, layers = d["name"], d["layers"]
    iv = d.get("intervals") or {}
    cell = {k: np.moveaxis(np.asarray(v, float)[si], 1, 0) for k, v in iv.items()}  # [scale, layer, ...]
    sel = cell.get("selectivity_ci")
    return [
        digit_scale_heatmap(
            d["accuracy"][si].T, layers, ci=d["ci95"][si].T, order=order, interval=cell.get("accuracy_ci"),
            title=f"Accuracy Breakdown: {name}, {site} (probe, held-out)",
        ),
        digit_scale_heatmap(
            d["above_majority"][si].T, layers, diverging=True, order=order, colorbar="accuracy - majority",
            interval=cell.get("above_majority_ci"),
            unclear=cell["above_majority_q"] > 0.05 if "above_majority_q" in cell else None,
            title=f"Above the majority baseline: {name}, {site}",
        ),
        digit_scale_heatmap(
            d["selectivity"][si].T, layers, diverging=True, order=order, colorbar="selectivity", interval=sel,
            unclear=(sel[..., 0] <= 0) & (sel[..., 1] >= 0) if sel is not None else None,
            title=f"Selectivity (above majority, minus the control task's): {name}, {site}",
        ),
    ]  # fmt: skip
