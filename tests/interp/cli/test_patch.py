import json

import numpy as np

from interp.cli.patch import main


def test_cli_writes_outputs_and_guards(tiny_dir, tmp_path, capsys):
    out = tmp_path / "p"
    argv = ["--model", str(tiny_dir), "--n", "5", "--shots", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "top sublayers" in printed and "(#" in printed
    meta = json.loads((out / "patch.json").read_text())
    assert meta["n_pairs"] == 5 and len(meta["suffix_tokens"]) == 6 and len(meta["top"]) == 4
    z = np.load(out / "patch.npz")
    assert z["effect"].shape == (2, 2) and z["effect_pos"].shape == (2, 2, 6)
    page = (out / "patch.html").read_text()
    assert page.count('class="plotly-graph-div"') == 1 + 2 + 2 + 4
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite", "--digits", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "digits" in err and len(err.splitlines()) == 1
    assert main(["--model", "no-such-model", "--out", str(tmp_path / "q")]) == 2
    assert not (tmp_path / "q").exists()


def test_heads_and_attribution_patching_are_saved_drawn_and_read_back(tiny_dir, tmp_path, capsys):
    from interp.cli.report import build

    out = tmp_path / "runs" / "p"
    argv = ["--model", str(tiny_dir), "--n", "5", "--shots", "2", "--out", str(out), "--quiet", "--heads", "--atp"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "head L" in printed and "attribution patching vs exact, sublayers: Spearman" in printed
    meta = json.loads((out / "patch.json").read_text())
    assert len(meta["heads"]["top"]) == 4 and set(meta["atp"]) == {"sublayers", "positions", "heads"}
    assert -1 <= meta["atp"]["sublayers"]["spearman"] <= 1
    for grid in ("sublayers", "heads", "positions"):  # each agreement with its interval over pairs
        lo, hi = meta["atp"][grid]["spearman_ci"]
        assert -1 <= lo <= hi <= 1 and 0 <= meta["atp"][grid]["top_k_overlap_ci"][0] <= 1
    z = np.load(out / "patch.npz")
    assert z["head_effect"].shape == (2, 4) and z["atp_z"].shape == (2, 4, 6) and z["atp_mlp_out"].shape == (2, 6)
    # the heads together are the attention output: same effect as the ATT row of the sublayer grid
    np.testing.assert_allclose(z["head_effect_layer"], z["effect"][0], atol=1e-4)
    figs = 1 + 2 + 2 + 4 + 2 + 2  # + head grid and attention rows, + AtP grid and scatter
    assert (out / "patch.html").read_text().count('class="plotly-graph-div"') == figs
    page, warnings, n = build(tmp_path / "runs")
    assert warnings == [] and n == 1 and page.count('class="plotly-graph-div"') == figs
    # the head grid carries each head's interval over pairs, and marks those holding 0
    assert z["head_effect_ci"].shape == (2, 4, 2) and "Heads marked n.s." in page
    from interp.reports.figures import layer_position_heatmap

    ci = np.array([[[-1.0, 1.0], [0.1, 0.3]]])
    fig = layer_position_heatmap(np.array([[0.0, 0.2]]), ["0", "1"], "t", "effect", ci=ci)
    assert list(fig.data[0].text[0]) == ["n.s.", ""] and "95% interval" in fig.data[0].hovertemplate


def test_atp_checks_are_saved_printed_and_drawn(tiny_dir, tmp_path, capsys):
    out = tmp_path / "c"
    base = ["--model", str(tiny_dir), "--n", "5", "--shots", "2", "--no-positions", "--out", str(out)]
    assert main(base + ["--atp-checks", "2"]) == 2 and "--atp-checks needs --atp" in capsys.readouterr().err
    assert not out.exists()
    assert main(base + ["--heads", "--atp", "--atp-checks", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    meta = json.loads((out / "patch.json").read_text())
    cells = meta["atp_checks"]["cells"]
    assert len(cells) == 4 and len(meta["atp_checks"]["t"]) == 11  # 2 sublayers, 2 heads
    assert all(c["diagnosis"] in ("fits", "saturation", "cancellation", "both", "mlp", "neither") for c in cells)
    assert all(len(c["frozen_norms"]) == 11 for c in cells)
    assert all(c["site"] in printed for c in cells)
    page = (out / "patch.html").read_text()
    assert "Exact effect along the patching path" in page and "GradDrop" in page


def test_a_log_gets_one_line_per_stage(tiny_dir, tmp_path, capsys):
    """Not attached to a terminal (a log file), each stage says when it ends and how long it took."""
    argv = ["--model", str(tiny_dir), "--n", "5", "--shots", "2", "--no-positions", "--out", str(tmp_path / "o")]
    assert main(argv + ["--heads", "--atp", "--atp-checks", "1"]) == 0
    err = capsys.readouterr().err
    for stage in ("load", "patch", "heads", "atp", "atp_checks"):
        assert f"\n{stage}: " in "\n" + err
    meta = json.loads((tmp_path / "o" / "patch.json").read_text())
    stages = {"load", "patch", "heads", "atp", "atp_checks"}
    assert set(meta["timings"]) == {f"{s}_s" for s in stages} | {f"{s}_peak_gb" for s in stages} | {"peak_rss_gb"}
    assert all(0 < meta["timings"][f"{s}_peak_gb"] < 100 for s in stages)  # peak memory beside each time
