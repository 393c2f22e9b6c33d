"""`interp reproduce`: the plan, reuse of matching runs, refusals before any work, and the page.

The fast tests draw the page from tiny-model runs; the slow test runs the whole command at its
smallest size on the real models and opens the page in headless Chromium."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from interp.cli.reproduce import main
from interp.runs.reproduce import SIZES, Step, plan, same_command, state
from interp.runs.reproduced import near_optimum, page, who_is_ahead
from interp.tasks.persist import weights_digest
from tests.browser import render, require_browser


def test_same_command_sets_aside_out_and_overwrite():
    a = "python -m interp.patch --model m --n 8 --out /a/b"
    assert same_command(a, "python -m interp.patch --model m --n 8 --out /c --overwrite")
    assert not same_command(a, "python -m interp.patch --model m --n 9 --out /a/b")
    assert not same_command(a, "python -m interp.patch --model m --out /a/b --n 8 --no-positions")


def test_each_size_plans_the_five_reference_figures():
    for size in SIZES:
        steps = plan(size)
        assert [s.key for s in steps] == ["000", "001", "002", "003", "004"]
        assert len({s.folder for s in steps}) == 5
    tokens = {size: plan(size)[2].args[plan(size)[2].args.index("--tokens") + 1] for size in SIZES}
    assert tokens == {"smoke": "256", "default": "8192", "full": "32768"}
    with pytest.raises(ValueError, match="size must be"):
        plan("huge")


def test_the_n_gram_verdict_names_who_is_near_the_optimum():
    assert near_optimum(1.2, 1.9) == "Both are within 2 bits of the optimum."
    assert near_optimum(13.5, 1.3) == "Only the LSTM is within 2 bits of the optimum."
    assert near_optimum(1.0, 2.5) == "Only the NTM is within 2 bits of the optimum."
    assert near_optimum(21.2, 15.5).startswith("Neither is within 2 bits")


def test_who_is_ahead_is_paired_and_needs_two_standard_errors():
    rng = np.random.default_rng(0)
    lstm = 130 + rng.normal(0, 5, 1000)
    noise = rng.normal(0, 1, 1000)
    assert who_is_ahead(lstm - 0.5 + noise, lstm).startswith("the NTM is ahead by 0.")
    assert who_is_ahead(lstm + 0.5 + noise, lstm).startswith("the LSTM is ahead by 0.")
    assert who_is_ahead(lstm + 0.01 + noise, lstm).startswith("the two are level")
    # paired: a shift far below the sequences' own spread (5 bits) is still resolved
    assert "ahead" in who_is_ahead(lstm - 0.2 + 0.1 * noise, lstm)


def test_state_tells_missing_same_and_different(tmp_path):
    step = plan("smoke")[3]
    assert state(step, tmp_path) == "missing"
    folder = tmp_path / step.folder
    folder.mkdir()
    assert state(step, tmp_path) == "missing"  # an empty folder holds nothing to lose
    (folder / "notes.txt").write_text("mine")
    assert state(step, tmp_path) == "different"  # something else lives there
    (folder / step.result).write_text(json.dumps({"command": step.command(tmp_path) + " --overwrite"}))
    assert state(step, tmp_path) == "same"
    (folder / step.result).write_text(json.dumps({"command": step.command(tmp_path).replace("8", "9")}))
    assert state(step, tmp_path) == "different"
    (folder / step.result).write_text("{truncated")
    assert state(step, tmp_path) == "different"


def test_a_memory_result_of_other_checkpoints_is_not_reused(tmp_path):
    """The same eval command on checkpoints changed since (e.g. a newer commit's) is not that figure."""
    step = plan("smoke")[1]
    folder = tmp_path / step.folder
    folder.mkdir()
    runs = [Path(a) for a in step.args[1:]]
    result = {
        "command": step.command(tmp_path),
        "runs": [{"folder": str(r), "weights": weights_digest(r)} for r in runs],
    }
    (folder / step.result).write_text(json.dumps(result))
    assert state(step, tmp_path) == "same"
    result["runs"][0]["weights"] = "0" * 64
    (folder / step.result).write_text(json.dumps(result))
    assert state(step, tmp_path) == "different"
    del result["runs"][0]["weights"]  # written before evaluations recorded their weights
    (folder / step.result).write_text(json.dumps(result))
    assert state(step, tmp_path) == "different"


def test_refusals_come_before_any_work(tmp_path, capsys):
    """Each exits 2 with one line, in well under the time a single step would take, and writes nothing."""
    t = time.perf_counter()
    (tmp_path / "file").write_text("x")
    assert main(["--smoke", "--out", str(tmp_path / "file")]) == 2
    assert main(["--smoke", "--full"]) == 2
    root = tmp_path / "r"
    (root / "003-patch").mkdir(parents=True)
    (root / "003-patch" / "patch.json").write_text(json.dumps({"command": "python -m interp.patch --n 1"}))
    assert main(["--smoke", "--out", str(root)]) == 2
    assert "003-patch" in capsys.readouterr().err.strip()
    shutil.rmtree(root / "003-patch")
    (root / "reproduce.html").write_text("an earlier page")
    assert main(["--smoke", "--out", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--overwrite" in err
    assert sorted(p.name for p in root.iterdir()) == ["reproduce.html"]
    assert (root / "reproduce.html").read_text() == "an earlier page"
    assert time.perf_counter() - t < 10


def test_page_draws_each_figure_and_names_one_that_cannot_be(runs, tmp_path):
    steps = [
        Step("002", "NLL", "nll", "interp.nll", (), "nll", "nll.json"),
        Step("003", "Sublayers", "patch", "interp.patch", (), "patch", "patch.json"),
        Step("004", "Accuracy", "probe", "interp.probe", (), "probe", "results.json"),
    ]
    html_page, warnings, _ = page(steps, runs, {}, "smoke")
    assert warnings == []
    assert html_page.count("<h2>") == 3 and html_page.count("<b>Published.</b>") == 3
    assert html_page.count('class="plotly-graph-div"') == 1 + 1 + 2  # curves, grid, one heatmap per probe site
    assert "python -m interp.patch --out" in html_page and "transformers" in html_page
    broken = tmp_path / "r"
    shutil.copytree(runs, broken)
    (broken / "patch" / "patch.npz").write_bytes(b"not a zip")
    html_page, warnings, _ = page(steps, broken, {}, "smoke")
    assert len(warnings) == 1 and warnings[0].startswith("003 (patch)")
    assert html_page.count("<h2>") == 2 and ">warning: 003 (patch)" in html_page


FIGURES = 1 + 4 + 1 + 1 + 3  # N-gram rows; Targets/Outputs for 2 models x 2 settings; NLL; grid; 3 probe sites


@pytest.mark.slow
def test_smoke_run_draws_every_section_and_a_second_run_reuses_it(tmp_path, capsys):
    require_browser()
    root = tmp_path / "repro"
    assert main(["--smoke", "--out", str(root)]) == 0
    html_page = (root / "reproduce.html").read_text()
    assert html_page.count("<h2>") == 5 and ">warning: " not in html_page
    assert "(5 of 5 figures drawn)" in capsys.readouterr().out
    assert html_page.count('class="plotly-graph-div"') == FIGURES
    got = render(root / "reproduce.html", FIGURES, tmp_path / "reproduce.png")
    assert got["figures"] == got["drawn"] == FIGURES and got["errors"] == []
    t = time.perf_counter()
    assert main(["--smoke", "--out", str(root), "--overwrite"]) == 0
    assert capsys.readouterr().out.count(": reused") == 5
    assert time.perf_counter() - t < 60
