"""Each published figure beside ours: the figure in the reference's layout and a paragraph with the numbers.

What the published figures show is taken from their descriptions (`../shared/figures`, written from the
images) and from Graves et al. (2014); what ours show is computed here from the result files, never typed in.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from interp.reports.figures import digit_scale_heatmap, nll_curves
from interp.reports.grids import sublayer_grid
from interp.reports.html import assemble
from interp.reports.sequences import prediction_rows, sequence_rows
from interp.runs.nll_verdicts import paired_text
from interp.runs.patch import top_sites
from interp.runs.probe_verdicts import breakdown
from interp.runs.reproduce import SEED, Step, StepRun
from interp.runs.results import read_result

PUBLISHED = {
    "000": "Dynamic N-grams (Graves et al. 2014): rows Input / Optimal / NTM / LSTM of the predicted probability "
    "that the next bit is 1. Both models come close to the Bayes-optimal estimator and the NTM is slightly ahead; "
    "the NTM reaches about 1 bit per sequence above the optimum by about 100K training sequences.",
    "001": "Repeat copy (Graves et al. 2014), trained on lengths and repeats 1-10: the NTM's outputs match the "
    "targets at Length 10, Repeat 20 and Length 20, Repeat 10 (it misses the end marker past about 12 repeats); "
    "the LSTM's outputs degrade.",
    "002": "NLL by token position for two models to 32K tokens, log x axis: both fall steadily with position, "
    "one model below the other throughout.",
    "003": "A two-row grid of sublayers in execution order, ATT (odd numbers) and MLP (even numbers), 40 layers, "
    "with the sublayers that matter highlighted: many cells, in runs across most of the depth.",
    "004": "'Accuracy Breakdown', layer x digit scale 1-4: accuracy is highest in the last layers for the low "
    "scales (about 0.85 for scale 1 near layer 26, 0.65 for scale 2) and near 0-0.2 in early layers and for "
    "the high scales.",
}
REPEAT_BAR = 5.0  # bits per sequence on the data channels: "outputs match the targets" (results without spreads)
MATCH_MEAN, MATCH_FAILED, MATCH_MARKER = 2.0, 0.02, 1.0  # repeat copy matches: mean bits, share failed, end marker


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def seen(run: dict) -> str:
    """A run's training sequences; a warm-started run's own, unless it recorded those before it."""
    if (run.get("config") or {}).get("init_from") and not run.get("sequences_before"):
        return f"{run['sequences']:,} (in its last run; it was warm-started from earlier ones)"
    return f"{run.get('sequences_before', 0) + run['sequences']:,}"


def near_optimum(ntm: float, lstm: float, within: float = 2.0) -> str:
    """Which models are within `within` bits per sequence of the optimum (the paper's NTM is about 1 bit)."""
    close = [name for name, gap in (("NTM", ntm), ("LSTM", lstm)) if gap <= within]
    if len(close) == 2:
        return f"Both are within {within:g} bits of the optimum."
    if close:
        return f"Only the {close[0]} is within {within:g} bits of the optimum."
    return f"Neither is within {within:g} bits of the optimum yet: the paper trained for longer."


def who_is_ahead(ntm: np.ndarray, lstm: np.ndarray) -> str:
    """NTM against LSTM, paired over the same sequences (bits per sequence each): ahead only where the mean
    difference is beyond two standard errors."""
    d = ntm - lstm
    gap, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
    if abs(gap) <= 2 * se:
        return f"the two are level (NTM minus LSTM {gap:+.2f} ± {se:.2f} bits, paired over the same sequences)"
    if gap < 0:
        return f"the NTM is ahead by {-gap:.2f} ± {se:.2f} bits (paired over the same sequences), as in the paper"
    return (
        f"the LSTM is ahead by {gap:.2f} ± {se:.2f} bits (paired over the same sequences): the paper's small NTM "
        "advantage is not reproduced"
    )


def ngrams(data: dict) -> tuple[str, list]:
    runs, arrays = data["runs"], data["arrays"]
    by = {r["model"]: r for r in runs}
    ntm, lstm = by["ntm"], by["lstm"]
    diff = lambda r: f"{r['above_optimal']:+.2f} ± {r['above_optimal_se']:.2f}"  # noqa: E731
    ntm_bits, lstm_bits = arrays.get(f"{ntm['name']}/per_sequence"), arrays.get(f"{lstm['name']}/per_sequence")
    if ntm_bits is not None and lstm_bits is not None and len(ntm_bits) == len(lstm_bits):
        ahead = who_is_ahead(np.asarray(ntm_bits), np.asarray(lstm_bits))
    else:  # an evaluation saved before per-sequence costs were kept: the point estimates alone
        ahead = (
            "the NTM is ahead, as in the paper"
            if ntm["above_optimal"] < lstm["above_optimal"]
            else (
                f"the LSTM is ahead by {ntm['above_optimal'] - lstm['above_optimal']:.2f} bits: the paper's small NTM "
                "advantage is not reproduced"
            )
        )
    ours = (
        f"On {ntm['eval_sequences']:,} fixed held-out sequences paired with the optimal estimator "
        f"({ntm['optimal']:.2f} bits per sequence): NTM {diff(ntm)} bits above it after {seen(ntm)} "
        f"training sequences, LSTM {diff(lstm)} after {seen(lstm)}; {ahead}. "
        + near_optimum(ntm["above_optimal"], lstm["above_optimal"])
    )
    first = runs[0]["name"]
    rows = {"Input": arrays[f"{first}/example/inputs"], "Optimal": arrays[f"{first}/example/optimal"]}
    rows |= {"NTM": arrays[f"{ntm['name']}/example/pred"], "LSTM": arrays[f"{lstm['name']}/example/pred"]}
    return ours, [prediction_rows(rows, "Dynamic N-grams: P(next bit = 1) on one held-out sequence")]


def repeat_copy(data: dict) -> tuple[str, list]:
    runs, arrays = data["runs"], data["arrays"]
    by = {r["model"]: r for r in runs}
    parts, figs = [], []
    for model in ("ntm", "lstm"):
        r = by[model]
        costs = "; ".join(
            f"{t.split(', ', 1)[1]}: {d:,.1f} bits on the data channels, {m:,.1f} on the end marker"
            for t, d, m in zip(r["example_titles"], r["data_cost"], r["marker_cost"], strict=True)
        )
        parts.append(f"{model.upper()}: {costs}.")
        for key, title in zip(r["examples"], r["example_titles"], strict=True):
            rows = {"Targets": arrays[f"{r['name']}/{key}/targets"], "Outputs": arrays[f"{r['name']}/{key}/outputs"]}
            figs.append(sequence_rows(rows, f"{model.upper()}: {title.split(', ', 1)[1]}"))
    ntm = by["ntm"]
    settings = [t.split(", ", 1)[1] for t in ntm["example_titles"]]
    if ntm.get("data_spread"):
        verdict = repeat_verdict(settings, ntm["data_spread"], ntm["marker_spread"], ntm["failed_bits"])
    else:  # a result from before per-sequence scoring: the mean alone
        ok = [d <= REPEAT_BAR for d in ntm["data_cost"]]
        good = [t for t, o in zip(settings, ok, strict=True) if o]
        bad = [t for t, o in zip(settings, ok, strict=True) if not o]
        verdict = (
            "The NTM's outputs match the targets in both settings, as in the paper."
            if not bad
            else f"The NTM's outputs match the targets (at most {REPEAT_BAR:.0f} bits on the data channels) at "
            f"{', '.join(good) or 'neither setting'}; not at {', '.join(bad)}: the paper's generalisation is "
            + ("partly reproduced." if good else "not reproduced.")
        )
    count = (ntm.get("config") or {}).get("count") or "scalar"
    fed = (
        " Both models were fed the repeat count as that many pulses after the delimiter, not the paper's one "
        "scalar: a count the model has to hold, not a value it never saw."
        if count == "unary"
        else ""
    )
    controller = (ntm.get("config") or {}).get("controller") or "lstm"
    ctrl = " The NTM's controller is feedforward, one of the paper's two." if controller == "ff" else ""
    n = 32 * ntm.get("eval_batches", 2)
    return f"On {n:,} held-out sequences per setting (means): " + " ".join(parts) + " " + verdict + fed + ctrl, figs


def repeat_verdict(settings: list[str], data: list[dict], marker: list[dict], failed: float) -> str:
    """Says the NTM matches the targets only where its mean, failure tail and end marker all meet the bars."""
    out = []
    for t, d, m in zip(settings, data, marker, strict=True):
        ok = d["mean"] <= MATCH_MEAN and d["over"] <= MATCH_FAILED and m["mean"] <= MATCH_MARKER
        out.append(
            f"At {t} the NTM's data channels cost {d['mean']:.2f} bits on average (median {d['median']:.2f}), "
            f"{d['over']:.1%} of sequences cost more than {failed:.0f} bits, and the end marker {m['mean']:.2f}: "
            + ("its outputs match the targets." if ok else "its outputs do not match the targets in every sequence.")
        )
    return (
        " ".join(out)
        + f" (Matching means at most {MATCH_MEAN:.0f} bits on average, at most {MATCH_FAILED:.0%} of sequences over "
        f"{failed:.0f} bits and the end marker within {MATCH_MARKER:.0f} bit.)"
    )


def nll(data: dict) -> tuple[str, list]:
    """Bucket means with their intervals over windows; "falls" and "lower" only where the intervals decide."""
    models = data["models"]
    parts = []
    for m in models:
        b, ci = m["summary"]["buckets"], m["summary"].get("bucket_ci") or {}
        keys = sorted(b, key=lambda k: int(k.split("-")[0]))
        steps = m["summary"].get("bucket_steps")
        falls = (  # paired within windows where the result has it; else the side-by-side intervals
            [st["ci"][1] < 0 for st in steps.values()]
            if steps
            else [_apart(ci, x, y) for x, y in zip(keys, keys[1:], strict=False)]
        )
        parts.append(
            f"{m['model']} to {np.asarray(m['cumulative']).shape[1] + 1:,} tokens: "
            + ", ".join(f"{k} {b[k]:.2f}" + (f" [{ci[k][0]:.2f}, {ci[k][1]:.2f}]" if k in ci else "") for k in keys)
            + (" (falls at every step between buckets, beyond the intervals)" if falls and all(falls) else
               f" (it falls beyond the interval in {sum(falls)} of {len(falls)} steps between buckets"
               + (", paired within windows)" if steps else ")"))
        )  # fmt: skip
    text = "Mean NLL in nats by position bucket, with 95% intervals over windows: " + "; ".join(parts) + "."
    if data.get("paired"):
        text += " " + paired_text(data["paired"][0])
    elif len(models) == 2:  # a result from before windows were shared: the intervals side by side
        (a, ca), (b, cb) = ((m["summary"]["buckets"], m["summary"].get("bucket_ci") or {}) for m in models)
        shared = [k for k in a if k in b]
        apart = [k for k in shared if k in ca and k in cb and (ca[k][1] < cb[k][0] or cb[k][1] < ca[k][0])]
        text += (
            f" The two models' intervals are apart in {len(apart)} of {len(shared)} buckets"
            + (f" ({', '.join(apart)})" if apart else "")
            + "; elsewhere the data cannot say which is lower per token."
        )
    if len(models) == 2:
        text += (
            " Per-token NLL is not comparable across tokenizers of different vocabularies (a token covers a "
            "different amount of text), and the built-in texts are likely in both models' pretraining data."
        )
    curves = {m["model"]: m["cumulative"] for m in models}
    return text, [nll_curves(curves, "NLL by token position (cumulative average, log x)")]


def _apart(ci: dict, x: str, y: str) -> bool:
    """Bucket x's interval lies wholly above bucket y's."""
    return x in ci and y in ci and ci[x][0] > ci[y][1]


def sublayers(data: dict, threshold: float = 0.1) -> tuple[str, list]:
    effect, sites = np.asarray(data["effect"]), list(data["sites"])
    ci = data.get("effect_ci")  # outlined where the whole 95% interval over pairs clears the threshold
    low = effect if ci is None else np.asarray(ci)[..., 0]
    lit = {s: int((low[i] >= threshold).sum()) for i, s in enumerate(sites)}
    clears = f"a normalised effect of {threshold}" if ci is None else f"{threshold} with their whole 95% interval"
    top = ", ".join(
        f"{'ATT' if t['site'] == 'attn_out' else 'MLP'} {t['layer']} (#{t['sublayer']}) {t['effect']:.2f}"
        for t in top_sites(effect, sites, 6)
    )
    text = (
        f"{data['model']}, {data['n_pairs']} clean/corrupted pairs, {effect.shape[1]} layers: "
        f"{lit.get('attn_out', 0)} attention and {lit.get('mlp_out', 0)} MLP sublayers reach {clears} (outlined). Top six: {top}. The published grid outlines 25 of its 40 MLP cells and "
        f"a long run of attention cells (as described from the image); ours outlines {sum(lit.values())} of "
        f"{effect.size}."
    )
    return text, [sublayer_grid(effect, sites, threshold, title=f"Sublayer grid: {data['model']}", ci=ci)]


def accuracy(data: dict) -> tuple[str, list]:
    acc, layers, sites = np.asarray(data["accuracy"]), data["layers"], data["sites"]
    parts = []
    for j in range(acc.shape[2]):
        si, li = np.unravel_index(np.argmax(acc[:, :, j]), acc[:, :, j].shape)
        parts.append(
            f"scale {j + 1} {acc[si, li, j]:.2f} ({sites[si]} layer {layers[li]}; majority {data['majority'][j]:.2f})"
        )
    text = (
        f"{data['name']}, probes read {data['read_at']}, layers {layers[0]}-{layers[-1]}. Peak held-out "
        "accuracy " + "; ".join(parts) + f". The ones digit peaks at {acc[:, :, 0].max():.2f} (published: about "
        "0.85). " + breakdown(data)
    )
    figs = [
        digit_scale_heatmap(
            acc[i].T, layers, ci=np.asarray(data["ci95"])[i].T, title=f"Accuracy Breakdown: {data['name']}, {s}"
        )
        for i, s in enumerate(sites)
    ]
    return text, figs


DRAW = {"000": ngrams, "001": repeat_copy, "002": nll, "003": sublayers, "004": accuracy}


def section(step: Step, root: Path, ran: StepRun | None, size: str) -> tuple[str, list]:
    """One figure's section: published vs ours, the figure, the command, seed, versions and time."""
    meta, data = read_result(step.kind, root / step.folder / step.result)
    ours, figs = DRAW[step.key](data)
    when = (
        "reused from an earlier run with the same command"
        if ran is None or ran.reused
        else f"ran in {ran.seconds:.0f} s"
    )
    vers = ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items() if v)
    items = [
        "<p><b>Published.</b> " + html.escape(PUBLISHED[step.key]) + "</p>",
        "<p><b>Ours.</b> " + html.escape(ours) + "</p>",
        *figs,
        f"<pre>{html.escape(step.command(root))}</pre>",
        _p(f"Size: {size}. Seed {SEED}. {when[0].upper() + when[1:]}. Versions: {vers or 'not recorded'}."),
    ]
    return f"{step.key}: {step.title}", items


def page(steps: list[Step], root: Path, runs: dict[str, StepRun], size: str) -> tuple[str, list[str], list]:
    """(the page, warnings, its sections): a result that cannot be read or drawn is named, and the rest still
    builds."""
    sections, warnings = [], []
    for step in steps:
        try:
            sections.append(section(step, root, runs.get(step.key), size))
        except Exception as e:  # a figure that cannot be drawn is reported on the page, never fatal
            warnings.append(f"{step.key} ({step.folder}): {type(e).__name__}: {e}".splitlines()[0])
    header = "".join(f"<p style='color:#b00;font-weight:bold'>warning: {html.escape(w)}</p>" for w in warnings)
    header += _p(
        f"Every reference figure rebuilt by `python -m interp.reproduce` at size '{size}', each in its own folder "
        f"under {root}. Sections follow the reference figures' numbering."
    )
    return assemble(sections, "interp reproduce: the published figures", header), warnings, sections
