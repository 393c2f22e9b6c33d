"""Pure figure builders for the memory tasks: sequences as rows over time, costs, head weightings."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from jaxtyping import Float


def sequence_rows(rows: dict[str, Float[np.ndarray, "t c"]], title: str) -> go.Figure:
    """Stacked heatmaps sharing a time axis (e.g. Targets, NTM outputs, LSTM outputs); channels on y, 0-1 colour."""
    from plotly.subplots import make_subplots

    names = list(rows)
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.08)
    for i, name in enumerate(names, 1):
        v = np.asarray(rows[name], dtype=float).T  # [channel, time]
        fig.add_trace(
            go.Heatmap(
                z=v,
                zmin=0,
                zmax=1,
                colorscale="Jet",
                showscale=i == 1,
                colorbar={"title": {"text": "value"}},
                hovertemplate=name + "<br>time %{x}<br>channel %{y}<br>value %{z:.3f}<extra></extra>",
            ),
            row=i,
            col=1,
        )
        fig.update_yaxes(title_text="channel", row=i, col=1)
    fig.update_xaxes(title_text="time", row=len(names), col=1)
    fig.update_layout(title=title, height=120 + 110 * len(names), margin={"t": 80, "b": 50})
    return fig


def prediction_rows(rows: dict[str, Float[np.ndarray, " t"]], title: str) -> go.Figure:
    """One row per predictor of P(next bit = 1) over time (Input / Optimal / NTM / LSTM), grey scale."""
    names = list(rows)
    z = np.stack([np.asarray(rows[n], dtype=float) for n in names])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            y=names,
            zmin=0,
            zmax=1,
            colorscale="Greys",
            colorbar={"title": {"text": "P(next bit = 1)"}},
            hovertemplate="%{y}<br>time %{x}<br>%{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title, xaxis_title="time", yaxis={"autorange": "reversed"}, height=300, margin={"t": 60, "b": 50}
    )
    return fig


def cost_curves(
    x: list | dict,
    curves: dict[str, list[float]],
    title: str,
    xaxis: str,
    yaxis: str = "cost (bits per sequence)",
    log_y: bool = True,
) -> go.Figure:
    """Lines of cost against x (sequence length, training sequences ...), one per model."""
    fig = go.Figure()
    for name, y in curves.items():
        fx = x[name] if isinstance(x, dict) else x
        fig.add_trace(
            go.Scatter(
                x=fx,
                y=y,
                name=name,
                mode="lines+markers" if len(y) < 30 else "lines",
                hovertemplate=name + "<br>" + xaxis + " %{x}<br>%{y:.4g}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title, xaxis_title=xaxis, yaxis_title=yaxis, yaxis_type="log" if log_y else None, height=380
    )
    return fig


def weighting_heatmap(w: Float[np.ndarray, "t N"], title: str) -> go.Figure:
    """An NTM head's weighting over memory locations through time."""
    w = np.asarray(w, dtype=float)
    fig = go.Figure(
        go.Heatmap(
            z=w.T,
            zmin=0,
            zmax=1,
            colorscale="Greys",
            colorbar={"title": {"text": "weight"}},
            hovertemplate="time %{x}<br>location %{y}<br>weight %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title, xaxis_title="time", yaxis_title="memory location", height=380, margin={"t": 60, "b": 50}
    )
    return fig
