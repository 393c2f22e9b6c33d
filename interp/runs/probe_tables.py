"""A probe run as text: the layer x scale table the command prints, and results.csv."""

from __future__ import annotations

import csv
import io

import numpy as np

from interp.runs.probe import ProbeRun


def table(run: ProbeRun) -> str:
    """Plain text: held-out probe accuracy per layer for each (site, digit scale), the logit lens beside
    them, and the baselines every cell is read against."""
    res = run.probes
    acc, T = res.mean(), len(res.targets)
    head = ["layer"] + [f"{s[:8]}:{k + 1}" for s in res.sites for k in range(T)] + [f"lens:{k + 1}" for k in range(T)]
    rows = [head]
    for li, layer in enumerate(res.layers):
        rows.append(
            [str(layer)]
            + [f"{acc[si, li, k]:.2f}" for si in range(len(res.sites)) for k in range(T)]
            + [f"{run.lens[li, k]:.2f}" for k in range(T)]
        )
    for name, values in (("majority", res.majority), ("control", res.control_majority), ("chance", res.chance)):
        rows.append([name] + [f"{v:.2f}" for _ in res.sites for v in values] + ["" for _ in range(T)])
    w = max(len(c) for r in rows for c in r)
    text = "\n".join(" ".join(c.rjust(w) for c in r) for r in rows)
    best = res.above_majority()
    peaks = ", ".join(
        f"{k + 1}: {best[:, :, k].max():+.2f} ({res.sites[int(best[:, :, k].max(1).argmax())]} "
        f"layer {res.layers[int(best[:, :, k].max(0).argmax())]})"
        for k in range(T)
    )
    return (
        f"{text}\ncolumns SITE:k = digit scale k (1 = ones), read at {run.config.task.read_at}; rows: layers, "
        f"then each scale's majority baseline, control-task majority and chance\n"
        f"best accuracy above majority by scale: {peaks}" + interval_lines(res)
    )


def interval_lines(res) -> str:
    """Which cells clear their majority baseline after Benjamini-Hochberg, and the best selectivity per scale
    with its paired 95% interval (nothing when the run has no pooled predictions)."""
    iv = res.intervals
    if not iv:
        return ""
    q, sel, ci = np.asarray(iv["above_majority_q"]), res.selectivity(), np.asarray(iv["selectivity_ci"])
    above = "; ".join(
        f"{site}: " + " / ".join(f"{int((q[si, :, k] <= 0.05).sum())}" for k in range(q.shape[2]))
        for si, site in enumerate(res.sites)
    )
    best = []
    for k in range(sel.shape[2]):
        si, li = np.unravel_index(np.nanargmax(sel[:, :, k]), sel.shape[:2])
        lo, hi = ci[si, li, k]
        best.append(f"{k + 1}: {sel[si, li, k]:+.2f} [{lo:+.2f}, {hi:+.2f}] ({res.sites[si]} layer {res.layers[li]})")
    return (
        f"\ncells above majority after Benjamini-Hochberg (q <= 0.05), of {len(res.layers)} layers, by scale: {above}"
        f"\nbest selectivity by scale, with its paired 95% interval over problems: {', '.join(best)}"
    )


def csv_text(run: ProbeRun) -> str:
    res = run.probes
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "site",
            "layer",
            "target",
            "n",
            "accuracy",
            "ci95",
            "majority",
            "chance",
            "above_majority",
            "control",
            "control_majority",
            "selectivity",
            "lens",
        ]
    )
    acc, ci, ctl, above, sel = res.mean(), res.ci95(), res.mean("control"), res.above_majority(), res.selectivity()
    for si, s in enumerate(res.sites):
        for li, layer in enumerate(res.layers):
            for k, t in enumerate(res.targets):
                w.writerow(
                    [
                        s,
                        layer,
                        t,
                        int(res.n[k]),
                        f"{acc[si, li, k]:.4f}",
                        f"{ci[si, li, k]:.4f}",
                        f"{res.majority[k]:.4f}",
                        f"{res.chance[k]:.4f}",
                        f"{above[si, li, k]:.4f}",
                        f"{ctl[si, li, k]:.4f}",
                        f"{res.control_majority[k]:.4f}",
                        f"{sel[si, li, k]:.4f}",
                        f"{run.lens[li, k]:.4f}",
                    ]
                )
    return buf.getvalue()
