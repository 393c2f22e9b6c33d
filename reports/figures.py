"""Pure figure builders: arrays in, `plotly.graph_objects.Figure` out (no I/O, no model)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from jaxtyping import Float

SEQUENTIAL = "Blues"  # accuracy, NLL
DIVERGING = "RdBu"  # effects centred on 0


def digit_scale_heatmap(
    values: Float[np.ndarray, "scale layer"],
    layers: list[int],
    title: str = "Accuracy Breakdown",
    colorbar: str = "held-out accuracy",
    diverging: bool = False,
    ci: Float[np.ndarray, "scale layer"] | None = None,
    order: str = "place",
    interval: Float[np.ndarray, "scale layer 2"] | None = None,
    unclear: np.ndarray | None = None,
) -> go.Figure:
    """x = layer, y = digit scale (1 = ones ... 4 = thousands), colour = value.

    `order`: "place" puts the ones at the top; "writing" puts the leading digit (written first) at the top.
    `interval`: each cell's 95% interval, shown on hover; `unclear` [scale, layer] bool: cells the data cannot
    tell from their baseline, marked "n.s." on the cell.
    """
    values = np.asarray(values, dtype=float)
    scales = list(range(1, values.shape[0] + 1))
    text = np.vectorize(lambda v: f"{v:.2f}")(values)
    marks = {}
    if unclear is not None:  # written on the cell itself, not only on hover
        text = np.where(np.asarray(unclear, bool), "n.s.", "")
        marks = {"texttemplate": "%{text}", "textfont": {"size": 9, "color": "#555"}}
    custom = ci if ci is not None else np.full_like(values, np.nan)
    hover = "layer %{x}<br>digit scale %{y}<br>" + colorbar + " %{z:.3f}"
    if interval is not None:
        custom = np.asarray(interval, dtype=float)
        hover += " (95% interval %{customdata[0]:.3f} to %{customdata[1]:.3f})"
    elif ci is not None:
        hover += " ± %{customdata:.3f} (95% CI over folds)"
    lim = float(np.nanmax(np.abs(values))) if diverging else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=layers,
            y=scales,
            text=text,
            customdata=custom,
            colorscale=DIVERGING if diverging else SEQUENTIAL,
            zmin=-lim if diverging else 0.0,
            zmax=lim,
            zmid=0.0 if diverging else None,
            colorbar={"title": {"text": colorbar}},
            hovertemplate=hover + "<extra></extra>",
            **marks,
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="layer",
        yaxis_title="Digit Scale" + (" (place value, ones first)" if order == "place" else " (order of writing)"),
        yaxis={"tickmode": "array", "tickvals": scales, "autorange": "reversed" if order == "place" else True},
        xaxis={"dtick": 2 if len(layers) > 12 else 1},
        height=320,
        margin={"t": 60, "b": 50},
    )
    return fig


def nll_curves(
    cumulative: dict[str, Float[np.ndarray, "doc pos"]],
    title: str = "Cumulative average NLL by token position",
    points: int = 400,
) -> go.Figure:
    """One line per model (mean over documents) with a band of +-1 standard error, log x axis."""
    fig = go.Figure()
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    for i, (name, cum) in enumerate(cumulative.items()):
        cum = np.asarray(cum, dtype=float)
        T = cum.shape[1]
        idx = np.unique(np.geomspace(1, T, points).astype(int)) - 1  # log-spaced: small pages
        x = idx + 1
        mean = cum[:, idx].mean(0)
        se = cum[:, idx].std(0, ddof=1) / np.sqrt(len(cum)) if len(cum) > 1 else np.zeros_like(mean)
        colour = palette[i % len(palette)]
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([x, x[::-1]]),
                y=np.concatenate([mean + se, (mean - se)[::-1]]),
                fill="toself",
                fillcolor=colour,
                opacity=0.2,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean,
                name=f"{name} ({len(cum)} docs)",
                line={"color": colour},
                hovertemplate=name + "<br>position %{x}<br>cum. NLL %{y:.3f} nats<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="token position",
        yaxis_title="cumulative average NLL (nats)",
        xaxis_type="log",
        height=420,
    )
    return fig


def layer_position_heatmap(
    values: Float[np.ndarray, "layer bucket"],
    buckets: list[str],
    title: str,
    colorbar: str,
    zmax: float | None = None,
    diverging: bool = False,
    xlabel: str = "token position (bucket)",
    ci: Float[np.ndarray, "layer bucket 2"] | None = None,
) -> go.Figure:
    """x = token-position bucket (or head), y = layer (0 at the top), colour = value; NaN cells are left blank.
    `ci`: each cell's 95% interval, on hover; cells whose interval holds 0 are marked "n.s." on the cell."""
    values = np.asarray(values, dtype=float)
    layers = list(range(values.shape[0]))
    lim = float(np.nanmax(np.abs(values))) if diverging and np.isfinite(values).any() else None
    hover = "layer %{y}<br>" + xlabel + " %{x}<br>" + colorbar + " %{z:.4g}"
    marks = {}
    if ci is not None:
        ci = np.asarray(ci, dtype=float)
        unclear = (ci[..., 0] <= 0) & (ci[..., 1] >= 0)
        hover += " (95% interval %{customdata[0]:.3g} to %{customdata[1]:.3g})"
        marks = {"customdata": ci, "text": np.where(unclear, "n.s.", ""), "texttemplate": "%{text}",
                 "textfont": {"size": 9, "color": "#555"}}  # fmt: skip
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=[str(b) for b in buckets],
            y=layers,
            colorscale=DIVERGING if diverging else SEQUENTIAL,
            zmin=-lim if lim else (0.0 if zmax is not None else None),
            zmax=lim or zmax,
            zmid=0.0 if diverging else None,
            colorbar={"title": {"text": colorbar}},
            hovertemplate=hover + "<extra></extra>",
            **marks,
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title=xlabel,
        yaxis_title="layer",
        xaxis={"type": "category"},
        yaxis={"autorange": "reversed"},
        height=max(300, 16 * len(layers) + 120),
        margin={"t": 60, "b": 50},
    )
    return fig


def attention_rows(
    pattern: Float[np.ndarray, "head key"], heads: list[str], tokens: list[str], title: str
) -> go.Figure:
    """One row per head: its attention from the final position over the prompt's tokens (0-1)."""
    x = [f"{i}:{t!r}" for i, t in enumerate(tokens)]
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(pattern, dtype=float),
            x=x,
            y=heads,
            zmin=0.0,
            zmax=1.0,
            colorscale=SEQUENTIAL,
            colorbar={"title": {"text": "attention"}},
            hovertemplate="%{y}<br>key %{x}<br>attention %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"type": "category", "title": "key token (position:token)"},
        yaxis={"autorange": "reversed"},
        height=160 + 30 * len(heads),
        margin={"t": 60, "b": 120},
    )
    return fig


def estimate_scatter(
    groups: dict[str, tuple[Float[np.ndarray, " cells"], Float[np.ndarray, " cells"], list[str]]], title: str
) -> go.Figure:
    """Exact effect (x) against an estimate (y), one marker colour per group of cells, with y = x."""
    fig = go.Figure()
    lo, hi = 0.0, 0.0
    for name, (exact, est, labels) in groups.items():
        exact, est = np.asarray(exact, dtype=float), np.asarray(est, dtype=float)
        lo, hi = min(lo, np.nanmin(exact), np.nanmin(est)), max(hi, np.nanmax(exact), np.nanmax(est))
        fig.add_trace(
            go.Scatter(
                x=exact,
                y=est,
                mode="markers",
                name=name,
                text=labels,
                hovertemplate="%{text}<br>exact %{x:.3f}<br>estimate %{y:.3f}<extra></extra>",
            )
        )
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x", line={"dash": "dot"}))
    fig.update_layout(
        title=title, xaxis_title="exact patching effect", yaxis_title="attribution-patching estimate", height=450
    )
    return fig


def path_curves(t: list[float], cells: list[dict], title: str) -> go.Figure:
    """Exact effect along the patching path (solid), with attention patterns frozen (dashed) and with norm
    scales frozen too (dash-dot), and the AtP tangent at t = 0 (dotted), one colour per cell: where they part
    is where the linear estimate fails."""
    fig = go.Figure()
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    for i, c in enumerate(cells):
        col, label = colors[i % len(colors)], f"{c['site']} ({c['diagnosis']})"
        base = c["curve"][0]
        curves = [(c["curve"], "solid", label), (c["frozen"], "dash", f"{c['site']}, patterns frozen")]
        if "frozen_norms" in c:
            curves.append((c["frozen_norms"], "longdashdot", f"{c['site']}, patterns and norms frozen"))
        for y, dash, name in curves:
            fig.add_trace(
                go.Scatter(
                    x=t, y=y, mode="lines+markers", name=name, legendgroup=c["site"], line={"color": col, "dash": dash}
                )
            )
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[base, base + c["atp"]],
                mode="lines",
                name=f"{c['site']}, AtP tangent",
                legendgroup=c["site"],
                line={"color": col, "dash": "dot"},
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="t: fraction of the clean-minus-corrupted difference patched in",
        yaxis_title="normalised effect",
        height=520,
    )
    return fig
