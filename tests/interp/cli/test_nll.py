import json

import numpy as np
import pytest

from interp.cli.nll import main


def test_cli_writes_outputs_and_guards(tiny_dir, tmp_path, capsys):
    text = tmp_path / "docs"
    text.mkdir()
    for i in range(3):
        (text / f"d{i}.txt").write_text(" ".join(f"word{j % 17} and text {i}" for j in range(80)))
    out = tmp_path / "out"
    argv = [
        "--model",
        str(tiny_dir),
        "--tokens",
        "40",
        "--documents",
        "3",
        "--text",
        str(text),
        "--out",
        str(out),
        "--quiet",
        "--chunk",
        "16",
    ]
    assert main(argv) == 0
    meta = json.loads((out / "nll.json").read_text())
    assert meta["config"]["tokens"] == 40 and len(meta["models"][0]["documents"]) == 3
    assert np.load(out / "nll.npz")[tiny_dir.name].shape == (3, 39)
    assert "log" in (out / "nll.html").read_text()
    assert 0.05 < meta["models"][0]["peak_rss_gb"] < 100  # the process's peak, beside the time
    assert f"tokens/s, peak memory {meta['models'][0]['peak_rss_gb']:.1f} GB" in capsys.readouterr().out
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(argv[:2] + ["--tokens", "100"] + argv[4:] + ["--overwrite"]) == 2
    assert "context of 64 tokens" in capsys.readouterr().err
    assert main(argv[:7] + [str(tmp_path / "nope.txt")] + argv[8:] + ["--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no such text source" in err and len(err.splitlines()) == 1
    # in a log (stderr is not a terminal here), each model's load and its windows say when they end
    assert main([a for a in argv if a != "--quiet"] + ["--overwrite"]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if x.endswith(" s")]
    assert [x.split()[0] for x in lines] == ["load", "nll"] and "3 windows of 40 tokens" in lines[1]


def test_cli_stats(tiny_dir, tmp_path, capsys):
    text = tmp_path / "d.txt"
    text.write_text(" ".join(f"word{j % 17} and text" for j in range(200)))
    out = tmp_path / "out"
    assert (
        main(
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
                str(out),
                "--quiet",
                "--chunk",
                "16",
                "--stats",
            ]
        )
        == 0
    )
    assert "attn >16 back" in capsys.readouterr().out
    z = np.load(out / "nll.npz")
    name = tiny_dir.name
    assert z[f"{name}/norm"].shape == (3, 2, 7) and z[f"{name}/count"][:3].tolist() == [
        2,
        16,
        60,
    ]  # positions 0..38 fed
    meta = json.loads((out / "nll.json").read_text())["models"][0]
    assert meta["attention"] == "eager" and meta["stats"]["far_k"] == [16, 128, 1024]
    assert (out / "nll.html").read_text().count('class="plotly-graph-div"') == 1 + 3 + 3 + 1


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the power-law fit overflows on the way here: not passed on
def test_two_tokenizers_read_the_same_passages_and_are_paired(tiny_dir, tmp_path, capsys):
    from tests.conftest import save_tiny_llama

    grouped = save_tiny_llama(tmp_path / "grouped", group_digits=True)  # digits in threes: fewer tokens
    text = tmp_path / "docs"
    text.mkdir()
    for i in range(3):
        (text / f"d{i}.txt").write_text(" ".join(f"item {100 * j + i} of {j}" for j in range(60)))
    out = tmp_path / "out"
    argv = ["--model", str(tiny_dir), "--model", str(grouped), "--tokens", "40", "--documents", "4"]
    assert main(argv + ["--text", str(text), "--out", str(out), "--quiet", "--chunk", "16"]) == 0
    printed = capsys.readouterr().out
    assert "minus grouped, paired on the same 4 windows" in printed and "per character" in printed
    assert "Models compared on the same windows" in (out / "nll.html").read_text()
    meta = json.loads((out / "nll.json").read_text())
    a, b = meta["models"]
    assert a["documents"] == b["documents"] and a["chars"] == b["chars"]
    assert a["starts"] != b["starts"]  # the same passages sit at different token offsets
    z = np.load(out / "nll.npz")
    sa, sb = z[f"{tiny_dir.name}/spans"], z["grouped/spans"]
    assert sa.shape == sb.shape == (4, 39, 2)
    assert (sa[:, -1, 1] < sb[:, -1, 1]).all()  # 40 grouped tokens reach further into the text
    docs = {f"d{i}": (text / f"d{i}.txt").read_text() for i in range(3)}
    for name, c, first in zip(a["documents"], a["chars"], sa[:, 0], strict=True):
        assert first[0] >= c and docs[name.split("#")[0]][first[0] : first[1]]  # BOS, then the passage
    (pair,) = meta["paired"]
    assert pair["models"] == [tiny_dir.name, "grouped"] and pair["windows"] == 4
    assert set(pair["buckets"]) == {"1-8", "9-64"} and "per_char" in pair
    lo, hi = np.maximum(sa[:, 0, 0], sb[:, 0, 0]), np.minimum(sa[:, -1, 1], sb[:, -1, 1])
    per_char = [
        z[n][w][(s[w, :, 0] >= lo[w]) & (s[w, :, 1] <= hi[w])].sum() / (hi[w] - lo[w])
        for n, s in ((tiny_dir.name, sa), ("grouped", sb))
        for w in range(4)
    ]
    want = np.mean(np.array(per_char[:4]) - np.array(per_char[4:]))
    assert np.isclose(pair["per_char"]["diff"], want, atol=1e-5)
