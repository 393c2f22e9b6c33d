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
