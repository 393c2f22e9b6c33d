"""Tiny-model runs of the probe, patch and nll commands, shared by the report and reproduce tests."""

import pytest


@pytest.fixture(scope="package")
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
