"""Open a page in headless Chromium and count the plotly figures that drew an SVG (slow tests)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def require_browser() -> None:
    if not (chromium() and shutil.which("chromedriver")):
        if os.environ.get("INTERP_REQUIRE_BROWSER"):
            pytest.fail("INTERP_REQUIRE_BROWSER is set but chromium/chromedriver are not installed")
        pytest.skip("chromium and chromedriver are not installed (Debian: chromium chromium-driver)")


def render(page: Path, want: int, shot: Path) -> dict:
    """Wait until `want` figures drew an SVG; return counts and SEVERE console errors; save a screenshot."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium()
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
        driver.get(page.as_uri())
        drawn = (
            "return [...document.querySelectorAll('.plotly-graph-div')].filter(d => d.querySelector('svg.main-svg'))"
            ".length"
        )
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(drawn) >= want)
        out = {
            "figures": driver.execute_script("return document.querySelectorAll('.plotly-graph-div').length"),
            "drawn": driver.execute_script(drawn),
            "heatmaps": driver.execute_script(
                "return document.querySelectorAll('.plotly-graph-div .heatmaplayer').length"
            ),
            "errors": [e for e in driver.get_log("browser") if e["level"] == "SEVERE"],
        }
        driver.save_screenshot(str(shot))
        if os.environ.get("INTERP_SCREENSHOT_DIR"):
            shutil.copy(shot, os.environ["INTERP_SCREENSHOT_DIR"])
        return out
    finally:
        driver.quit()
