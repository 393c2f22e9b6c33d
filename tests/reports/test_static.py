"""Static figures for papers: every figure of a page as PNG, SVG and PDF (slow: a real headless Chromium), and
one line instead of a trace where the browser is missing."""

import struct
import xml.etree.ElementTree as ET

import pytest

from interp.cli.probe import main as probe
from interp.reports.static import WIDTH, parse_formats


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.slow
def test_every_figure_in_every_format(tmp_path, capsys):
    out = tmp_path / "p"
    argv = ["--model", "arith-toy", "--layer", "all", "--n", "60", "--behaviour-n", "0", "--out", str(out)]
    assert probe([*argv, "--quiet", "--format", "html,png,svg,pdf"]) == 0
    figs = out / "figures"
    stems = sorted({p.stem for p in figs.iterdir()})
    assert len(stems) == 10 and (out / "heatmap.html").exists()  # the lens, then 3 views of 3 sites
    for stem in stems:
        assert _png_size(figs / f"{stem}.png") == (WIDTH, 320)  # the digit-scale heatmaps are 320 high
        assert ET.parse(figs / f"{stem}.svg").getroot().tag.endswith("svg")
        assert (figs / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    assert probe([*argv, "--quiet", "--format", "png"]) == 2  # figures/ is never replaced unasked
    assert "figures" in capsys.readouterr().err


def test_a_missing_browser_is_one_line_and_the_html_stands(tmp_path, monkeypatch, capsys):
    import interp.reports.static as static

    def no_browser(*a, **k):
        raise RuntimeError("Could not find Chrome")

    monkeypatch.setattr(static.pio, "write_images", no_browser)
    out = tmp_path / "p"
    argv = ["--model", "arith-toy", "--layer", "2", "--n", "40", "--behaviour-n", "0", "--out", str(out), "--quiet"]
    assert probe([*argv, "--format", "png"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "apt-get install chromium" in err[0] and "HTML page is written" in err[0]
    assert (out / "heatmap.html").exists() and not (out / "figures").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no scratch folder left


def test_formats_are_checked():
    assert parse_formats("html, PNG,svg") == ("html", "png", "svg")
    with pytest.raises(ValueError, match="tiff"):
        parse_formats("png,tiff")


def test_a_bad_format_is_refused_before_any_work(tmp_path, capsys):
    assert probe(["--model", "arith-toy", "--out", str(tmp_path / "p"), "--format", "html,tiff"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tiff" in err and len(err.splitlines()) == 1 and not (tmp_path / "p").exists()
