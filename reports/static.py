"""Every figure of a page as static files for papers: PNG, SVG and PDF through plotly's own export (kaleido).

Kaleido drives a headless Chromium; all of a page's figures go through one browser start
(`plotly.io.write_images`). Where Chromium or kaleido is missing, `StaticExportUnavailable` says in one
line how to get them; the page's HTML does not depend on either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

FORMATS = ("html", "png", "svg", "pdf")
STATIC = ("png", "svg", "pdf")
WIDTH = 1000  # pixels (PNG) or points (SVG, PDF); the height is each figure's own, else plotly's 500
HOW = (
    "static figures need kaleido and Chromium: pip install 'kaleido>=1.5', apt-get install chromium "
    "(or `plotly_get_chrome`), and BROWSER_PATH=/usr/bin/chromium if it is not found"
)


class StaticExportUnavailable(RuntimeError):
    """Kaleido or its browser is missing: the message says how to get them."""


def parse_formats(text: str) -> tuple[str, ...]:
    """`"html,png"` -> ("html", "png"); an unknown format raises ValueError naming the known ones."""
    out = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise ValueError(f"unknown format {bad[0] if bad else text!r}: choose from {', '.join(FORMATS)}")
    return out


def page_figures(sections: Sequence[tuple[str, Sequence]]) -> list[tuple[str, go.Figure]]:
    """(file stem, figure) for every figure of a page, in page order: `03-accuracy-breakdown-smollm2-135m`."""
    figs = [item for _, items in sections for item in items if isinstance(item, go.Figure)]
    out = []
    for i, fig in enumerate(figs, 1):
        title = fig.layout.title.text or f"figure {i}"
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "figure"
        out.append((f"{i:02d}-{slug}", fig))
    return out


def write_static(figures: list[tuple[str, go.Figure]], folder: Path, formats: Sequence[str]) -> list[Path]:
    """Write each figure in each static format into `folder`; returns the paths written."""
    wanted = [f for f in formats if f in STATIC]
    if not wanted or not figures:
        return []
    try:
        import kaleido  # noqa: F401  (plotly's export backend)
    except ImportError as e:
        raise StaticExportUnavailable(HOW) from e
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(fig, folder / f"{stem}.{fmt}", fmt) for stem, fig in figures for fmt in wanted]
    heights = [int(fig.layout.height or 500) for fig, _, _ in jobs]
    try:
        pio.write_images(
            [fig for fig, _, _ in jobs],
            [path for _, path, _ in jobs],
            format=[fmt for _, _, fmt in jobs],
            width=[WIDTH] * len(jobs),
            height=heights,
        )
    except Exception as e:  # kaleido raises its own types for a missing or failing browser
        if "chrom" in str(e).lower() or "browser" in str(e).lower() or type(e).__name__.startswith("Chrome"):
            raise StaticExportUnavailable(f"{HOW} ({type(e).__name__})") from e
        raise
    return [path for _, path, _ in jobs]
