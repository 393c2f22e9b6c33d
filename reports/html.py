"""Assemble figures into one self-contained HTML page (plotly.js embedded once)."""

from __future__ import annotations

import html as _html
from collections.abc import Sequence

import plotly.graph_objects as go

Section = tuple[str, Sequence[go.Figure | str]]  # title, figures or HTML snippets


def assemble(sections: Sequence[Section], title: str, header: str = "") -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{_html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "text-align:right}pre{background:#f6f6f6;padding:.5em}</style></head><body>",
        f"<h1>{_html.escape(title)}</h1>",
        header,
    ]
    first = True
    for name, items in sections:
        parts.append(f"<h2>{_html.escape(name)}</h2>")
        for item in items:
            if isinstance(item, go.Figure):
                parts.append(item.to_html(full_html=False, include_plotlyjs=first))
                first = False
            else:
                parts.append(item)
    parts.append("</body></html>")
    return "\n".join(parts)


_plotly_in_notebook = False  # plotly.js goes into the first figure a notebook shows, and only that one


def notebook(sections: Sequence[Section]) -> str:
    """An HTML fragment for Jupyter's `_repr_html_`: the sections' figures and text, offline. plotly.js (about
    4 MB) is embedded with the first figure this process shows and referenced after that."""
    global _plotly_in_notebook
    parts = []
    for name, items in sections:
        parts.append(f"<h3>{_html.escape(name)}</h3>")
        for item in items:
            if isinstance(item, go.Figure):
                parts.append(item.to_html(full_html=False, include_plotlyjs=not _plotly_in_notebook))
                _plotly_in_notebook = True
            else:
                parts.append(item)
    return "\n".join(parts)
