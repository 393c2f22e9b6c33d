import json

import pytest

from interp.cli.probe import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_dir):
    out = tmp_path_factory.mktemp("run") / "r"
    assert main(["--model", str(tiny_dir), "--n", "90", "--out", str(out), "--quiet", "--seed", "5"]) == 0
    return out


def test_outputs(run_dir):
    res = json.loads((run_dir / "results.json").read_text())
    assert res["probes"]["layers"] == [0, 1]
    assert res["probes"]["sites"] == ["attn_out", "mlp_out", "resid_post"]
    assert res["probes"]["targets"] == ["digit_1", "digit_2", "digit_3", "digit_4"]
    assert res["behaviour"]["n"] == 64 and "command" in res
    assert res["config"]["task"]["read_at"] == "emit" and len(res["lens"]) == 2 and len(res["lens"][0]) == 4
    assert res["probes"]["n"][0] == 90 and res["probes"]["n"][3] < 90  # cells keep the problems writing that digit
    lines = (run_dir / "results.csv").read_text().splitlines()
    assert len(lines) == 1 + 3 * 2 * 4
    assert lines[0].split(",") == [
        "site",
        "layer",
        "target",
        "n",
        "accuracy",
        "ci95",
        "majority",
        "chance",
        "above_majority",
        "control",
        "control_majority",
        "selectivity",
        "lens",
    ]
    page = (run_dir / "heatmap.html").read_text()
    assert "Accuracy Breakdown" in page and "Logit lens" in page
    assert page.count('class="plotly-graph-div"') == 1 + 3 * 3  # the lens, then 3 views per site
    assert "<td>task.read_at</td><td>emit</td>" in page and "{'n'" not in page  # the config as a table
    assert "% on" not in page and "exact match <b>" in page
    assert (run_dir / "problems").is_dir()


def test_same_seed_same_numbers(run_dir, tiny_dir, tmp_path):
    assert main(["--model", str(tiny_dir), "--n", "90", "--out", str(tmp_path / "b"), "--quiet", "--seed", "5"]) == 0
    a = json.loads((run_dir / "results.json").read_text())["probes"]
    b = json.loads((tmp_path / "b" / "results.json").read_text())["probes"]
    assert a["accuracy"] == b["accuracy"] and a["control"] == b["control"]


def test_refuses_to_overwrite(run_dir, tiny_dir, capsys):
    before = (run_dir / "results.json").read_text()
    assert main(["--model", str(tiny_dir), "--n", "90", "--out", str(run_dir), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (run_dir / "results.json").read_text() == before


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--n", "0"], "--n must be"),
        (["--layer", "7"], "out of range"),
        (["--site", "bogus"], "unknown site"),
        (["--model", "nope"], "unknown model"),
        (["--digits", "x"], "--digits"),
        (["--task", "div"], "invalid choice"),
        (["--layer", "1,,3"], "empty item"),
        (["--layer", "0-x"], "cannot read layers"),
        (["--causal", "5"], "out of range"),
        (["--layer", "1", "--causal", "0"], "not among the probed layers"),
        (["--causal", "all", "--steer", "0"], "--steer must be positive"),
    ],
)
def test_bad_arguments_one_line_exit_2(args, msg, tiny_dir, tmp_path, capsys):
    argv = ["--model", str(tiny_dir), "--out", str(tmp_path / "o"), "--quiet", "--n", "60"] + args
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o" / "results.json").exists()


def test_out_is_a_file(tiny_dir, tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("mine")
    assert main(["--model", str(tiny_dir), "--layer", "0", "--out", str(f), "--quiet", "--n", "60"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file" in err and len(err.splitlines()) == 1
    assert f.read_text() == "mine"


def test_arguments_are_checked_before_the_output_folder(run_dir, tiny_dir, capsys):
    """A bad --layer is reported as such, even where the output folder already holds results."""
    assert main(["--model", str(tiny_dir), "--layer", "9", "--out", str(run_dir), "--quiet"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_a_log_gets_one_line_per_stage(tiny_dir, tmp_path, capsys):
    """Not attached to a terminal (a log file), each stage says when it ends and how long it took."""
    assert (
        main(
            [
                "--model",
                str(tiny_dir),
                "--n",
                "30",
                "--folds",
                "2",
                "--behaviour-n",
                "2",
                "--layer",
                "0",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    for stage in ("load", "capture", "lens", "behaviour", "probe_fit"):
        assert f"\n{stage}: " in "\n" + err


def test_causal_tests_are_saved_and_drawn(tiny_dir, tmp_path, capsys):
    out = tmp_path / "c"
    argv = ["--model", str(tiny_dir), "--n", "60", "--behaviour-n", "0", "--causal", "all", "--out", str(out)]
    assert main(argv) == 0
    assert "causal tests (held-out problems" in capsys.readouterr().out
    c = json.loads((out / "results.json").read_text())["causal"]
    assert c["layers"] == [0, 1] and len(c["flip"]) == 2 and len(c["flip"][0]) == 4
    assert sum(c["n"]) > 0 and c["config"]["steer"] == 1.0
    page = (out / "heatmap.html").read_text()
    assert "Causal tests of the probe directions" in page and "Ablating the probe subspace" in page


def test_a_digit_grouping_tokenizer_reads_before_each_token_and_says_so(tmp_path, capsys):
    """2-digit operands, a BPE-like tokenizer writing `47` as one token: no read inside the answer, the scales
    that share a read position recorded and printed, no logit lens, and --causal refused in one line."""
    from tests.conftest import save_tiny_llama

    model = save_tiny_llama(tmp_path / "grouped", group_digits=True)
    argv = ["--model", str(model), "--n", "60", "--digits", "2", "--folds", "2", "--behaviour-n", "0"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "writes several answer digits as one token" in out
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["reads"]["digits_split"] is False and res["reads"]["shared"]["1-2"] > 0
    assert res["config"]["task"]["scales"] == 3
    assert all(v != v for row in res["lens"] for v in row)  # NaN: no lens over the tokens 0-9
    assert "No logit lens" in (tmp_path / "o" / "heatmap.html").read_text()
    assert main([*argv, "--layer", "1", "--causal", "1", "--out", str(tmp_path / "c"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--causal is refused" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("digits, scales", [("1", 2), ("2", 3)])
def test_short_operands_probe_only_the_scales_they_write(digits, scales, tiny_dir, tmp_path, capsys):
    argv = ["--model", str(tiny_dir), "--n", "60", "--digits", digits, "--behaviour-n", "0", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 0
    assert f"probing scales 1-{scales}" in capsys.readouterr().out
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["probes"]["targets"] == [f"digit_{k}" for k in range(1, scales + 1)]


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--C", "nan"], "--C"),
        (["--C", "inf"], "--C"),
        (["--seed", "-3"], "--seed"),
        (["--steer", "nan", "--causal", "1"], "--steer must be positive"),
        (["--n", "6", "--digits", "1", "--folds", "3"], "scale 2"),
    ],
)
def test_bad_values_stop_before_any_work(args, msg, tiny_dir, tmp_path, capsys):
    argv = ["--model", str(tiny_dir), "--out", str(tmp_path / "o"), "--quiet", "--n", "60", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()
