"""The combined report: built from real (tiny-model) runs of every CLI, and opened in headless Chromium."""

import shutil

import pytest

from interp.cli.report import build, main
from interp.runs.results import find_results
from tests.browser import render, require_browser

PROBE_FIGS = 1 + 2 * 3  # the logit lens, then 2 sites x (accuracy, above majority, selectivity)
PATCH_FIGS = 1 + 2 + 2 + 4
NLL_FIGS = 1 + 3 + 3 + 1


def test_every_result_is_drawn(runs):
    assert [k for k, _ in find_results(runs)] == ["probe", "patch", "nll"]
    page, warnings, n = build(runs)
    assert warnings == [] and n == 3
    assert page.count('class="plotly-graph-div"') == PROBE_FIGS + PATCH_FIGS + NLL_FIGS
    assert page.count("plotly.js v") <= 2  # embedded once
    assert "python -m interp.patch" in page and "transformer-lens" in page


def test_corrupt_result_is_named_and_the_rest_builds(runs, tmp_path, capsys):
    root = tmp_path / "r"
    shutil.copytree(runs, root)
    (root / "patch" / "patch.npz").write_bytes(b"not a zip")
    (root / "nll" / "nll.json").write_text("{truncated")
    assert main([str(root)]) == 0
    err = capsys.readouterr().err
    assert f"could not read patch result {root / 'patch' / 'patch.json'}" in err  # the broken npz belongs to it
    assert err.count("warning:") == 2 and str(root / "nll" / "nll.json") in err
    page = (root / "report.html").read_text()
    assert page.count("warning: could not read") == 2
    assert page.count('class="plotly-graph-div"') == PROBE_FIGS
    assert main([str(root)]) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2


@pytest.mark.slow
def test_report_renders_in_headless_chromium(runs, tmp_path):
    """Every figure draws an SVG in a real browser, with no console errors; a screenshot is kept."""
    require_browser()
    out = tmp_path / "report.html"
    assert main([str(runs), "--output", str(out)]) == 0
    want = PROBE_FIGS + PATCH_FIGS + NLL_FIGS
    got = render(out, want, tmp_path / "report.png")
    assert got["figures"] == got["drawn"] == want
    assert got["heatmaps"] >= want - 1  # every figure but the NLL curves is a heatmap
    assert got["errors"] == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
