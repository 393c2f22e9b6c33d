"""The example notebook runs headless from top to bottom and its figures draw in a real browser (slow)."""

from pathlib import Path

import pytest

from tests.browser import render, require_browser

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "probe_in_a_notebook.ipynb"


@pytest.mark.slow
def test_example_notebook_runs_and_draws(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1 and html[0].count("plotly-graph-div") >= 2  # accuracy and selectivity
    assert "held-out accuracy" in html[0] or "accuracy" in html[0]
    require_browser()
    page = tmp_path / "notebook.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>" + html[0] + "</body></html>")
    seen = render(page, want=2, shot=tmp_path / "notebook.png")
    assert seen["drawn"] == 2 and seen["heatmaps"] == 2 and not seen["errors"], seen
