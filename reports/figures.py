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
) -> go.Figure:
    """x = layer, y = digit scale (1 = ones ... 4 = thousands), colour = value."""
    values = np.asarray(values, dtype=float)
    scales = list(range(1, values.shape[0] + 1))
    text = np.vectorize(lambda v: f"{v:.2f}")(values)
    custom = ci if ci is not None else np.full_like(values, np.nan)
    hover = "layer %{x}<br>digit scale %{y}<br>" + colorbar + " %{z:.3f}"
    if ci is not None:
        hover += " ± %{customdata:.3f} (95% CI over folds)"
    lim = float(np.nanmax(np.abs(values))) if diverging else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=values, x=layers, y=scales, text=text, customdata=custom,
            colorscale=DIVERGING if diverging else SEQUENTIAL,
            zmin=-lim if diverging else 0.0, zmax=lim, zmid=0.0 if diverging else None,
            colorbar={"title": {"text": colorbar}},
            hovertemplate=hover + "<extra></extra>",
        )
    )
    fig.update_layout(
        title=title, xaxis_title="layer", yaxis_title="Digit Scale",
        yaxis={"tickmode": "array", "tickvals": scales, "autorange": "reversed"},
        xaxis={"dtick": 2 if len(layers) > 12 else 1}, height=320, margin={"t": 60, "b": 50},
    )
    return fig
