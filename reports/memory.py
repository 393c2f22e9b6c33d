"""Report sections for the memory tasks: costs, Targets/Outputs rows, N-gram rows, weightings, training curves."""

from __future__ import annotations

from interp.reports.sections import Section, table
from interp.reports.sequences import cost_curves, prediction_rows, sequence_rows, weighting_heatmap


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
        pred = {"Input": arrays[f"{first}/example/inputs"], "Optimal": arrays[f"{first}/example/optimal"]}
        pred |= {r["model"].upper(): arrays[f"{r['name']}/example/pred"] for r in runs}
        items.append(prediction_rows(pred, "Dynamic N-grams: predicted P(next bit = 1) on one test sequence"))
        return items
    if figure == "cost_curve":
        items.append(
            cost_curves(
                runs[0]["x"], {r["name"]: r["cost"] for r in runs}, f"{task}: cost against length", runs[0]["xlabel"]
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
                            arrays[k], f"{r['name']}: {head.replace('_w', '')} weighting ({k.split('/')[1]})"
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
