"""A probe run as text: the layer x scale table the command prints, and results.csv."""

from __future__ import annotations

import csv
import io

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
        f"best accuracy above majority by scale: {peaks}"
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
