"""The sublayer grid: which attention and MLP sublayers matter, in the published figure's two-row layout."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from jaxtyping import Float

from interp.reports.figures import DIVERGING


def sublayer_grid(
    effect: Float[np.ndarray, "site layer"],
    sites: list[str],
    threshold: float = 0.1,
    title: str = "Which sublayers matter",
    colorbar: str = "normalised patching effect",
    ci: Float[np.ndarray, "site layer 2"] | None = None,
) -> go.Figure:
    """Two rows over layers, MLP above ATT, cells numbered in execution order (ATT l = 2l+1, MLP l = 2l+2).

    Cells whose effect is at least `threshold` are outlined (blue MLP, red ATT), as in the published grid;
    with `ci` (each cell's 95% interval over pairs, shown on hover), only cells whose whole interval clears it.
    """
    effect = np.asarray(effect, dtype=float)
    rows = {s: i for i, s in enumerate(sites)}
    order = [s for s in ("mlp_out", "attn_out") if s in rows]
    z = np.stack([effect[rows[s]] for s in order])
    lo, hi = _bounds(ci, rows, order, z.shape)
    L = z.shape[1]
    number = np.stack([np.arange(L) * 2 + (2 if s == "mlp_out" else 1) for s in order])
    label = {"mlp_out": "MLP", "attn_out": "ATT"}
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(L)),
            y=[label[s] for s in order],
            text=number.astype(str),
            texttemplate="%{text}",
            customdata=np.dstack(
                [
                    number,
                    *(
                        np.moveaxis(np.stack([np.asarray(ci, float)[rows[s]] for s in order]), -1, 0)
                        if ci is not None
                        else [np.full(z.shape, np.nan)] * 2
                    ),
                ]
            ),
            colorscale=DIVERGING,
            zmid=0.0,
            zmin=-lim,
            zmax=lim,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": colorbar}},
            hovertemplate="%{y} of layer %{x} (sublayer %{customdata[0]})<br>"
            + colorbar
            + " %{z:.3f}"
            + (" (95% interval over pairs %{customdata[1]:.3f} to %{customdata[2]:.3f})" if ci is not None else "")
            + "<extra></extra>",
        )
    )
    _outline(fig, lo if ci is not None else z, order, threshold)
    what = "95% interval over pairs" if ci is not None else "effect"
    note = f" (outlined: {what} ≥ {threshold:g})" if np.isfinite(threshold) else ""
    fig.update_layout(
        title=title + note, xaxis_title="layer", yaxis={"autorange": "reversed"}, height=260, margin={"t": 60, "b": 50}
    )
    return fig


def _bounds(ci, rows: dict, order: list[str], shape) -> list[np.ndarray]:
    """The interval's lower and upper bounds in the grid's row order (NaN without an interval)."""
    if ci is None:
        return [np.full(shape, np.nan)] * 2
    stacked = np.stack([np.asarray(ci, float)[rows[s]] for s in order])  # [row, layer, 2]
    return [stacked[..., 0], stacked[..., 1]]


def _outline(fig: go.Figure, z: np.ndarray, order: list[str], threshold: float) -> None:
    """Outline the cells at or above `threshold` (blue MLP, red ATT)."""
    colour = {"mlp_out": "#1f4fd6", "attn_out": "#d62728"}
    for r, s in enumerate(order):
        for layer in np.flatnonzero(z[r] >= threshold):
            fig.add_shape(
                type="rect",
                x0=layer - 0.5,
                x1=layer + 0.5,
                y0=r - 0.5,
                y1=r + 0.5,
                line={"color": colour[s], "width": 3},
            )
