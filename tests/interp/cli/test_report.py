"""The combined report: built from real (tiny-model) runs of every CLI, and opened in headless Chromium."""

import os
import shutil

import pytest

from interp.cli.report import build, find_results, main


@pytest.fixture(scope="module")
def runs(tiny_dir, tmp_path_factory):
    from interp.cli import nll, patch, probe

    root = tmp_path_factory.mktemp("runs")
    text = root.parent / "doc.txt"
    text.write_text(" ".join(f"word{j % 17} and text" for j in range(200)))
    assert (
        probe.main(
            [
                "--model",
                str(tiny_dir),
                "--n",
                "30",
                "--folds",
                "2",
                "--behaviour-n",
                "4",
                "--site",
                "mlp_out,resid_post",
                "--out",
                str(root / "probe"),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        patch.main(["--model", str(tiny_dir), "--n", "4", "--shots", "2", "--out", str(root / "patch"), "--quiet"]) == 0
    )
    assert (
        nll.main(
            [
                "--model",
                str(tiny_dir),
                "--tokens",
                "40",
                "--documents",
                "2",
                "--text",
                str(text),
                "--out",
                str(root / "nll"),
                "--quiet",
                "--chunk",
                "16",
                "--stats",
            ]
        )
        == 0
    )
    return root


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


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.slow
def test_report_renders_in_headless_chromium(runs, tmp_path):
    """Every figure draws an SVG in a real browser, with no console errors; a screenshot is kept."""
    if not (_chromium() and shutil.which("chromedriver")):
        if os.environ.get("INTERP_REQUIRE_BROWSER"):
            pytest.fail("INTERP_REQUIRE_BROWSER is set but chromium/chromedriver are not installed")
        pytest.skip("chromium and chromedriver are not installed (Debian: chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    out = tmp_path / "report.html"
    assert main([str(runs), "--output", str(out)]) == 0
    opts = webdriver.ChromeOptions()
    opts.binary_location = _chromium()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        driver.get(out.as_uri())
        want = PROBE_FIGS + PATCH_FIGS + NLL_FIGS
        drawn = (
            "return document.querySelectorAll('.plotly-graph-div svg.main-svg').length > 0 && "
            "[...document.querySelectorAll('.plotly-graph-div')].filter(d => d.querySelector('svg.main-svg'))"
            ".length"
        )
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(drawn) == want)
        assert driver.execute_script("return document.querySelectorAll('.plotly-graph-div').length") == want
        heat = driver.execute_script("return document.querySelectorAll('.plotly-graph-div .heatmaplayer').length")
        assert heat >= want - 1  # every figure but the NLL curves is a heatmap
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        if os.environ.get("INTERP_SCREENSHOT_DIR"):
            shutil.copy(shot, os.environ["INTERP_SCREENSHOT_DIR"])
    finally:
        driver.quit()
