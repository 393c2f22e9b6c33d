import json

import torch

from interp import ActivationStore, capture
from interp.cli.capture import main


def test_capture_writes_a_store_resumes_and_guards(tiny_dir, tiny_model, tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("12+35=\n\n7+8=\n1+1=\n")
    out = tmp_path / "acts"
    argv = ["--model", str(tiny_dir), "--prompts", str(prompts), "--site", "mlp_out", "--shard-size", "2"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    said = json.loads(capsys.readouterr().out.splitlines()[0])
    assert said["n"] == 3 and said["processes"] == 1
    ref = capture(tiny_model, ["12+35=", "7+8=", "1+1="], sites=["mlp_out"])
    assert torch.equal(ActivationStore(out)["mlp_out"], ref["mlp_out"])
    assert main([*argv, "--out", str(out), "--quiet"]) == 0  # the same capture again: every shard is reused
    assert main([*argv[:-4], "--site", "resid_post", "--out", str(out), "--quiet"]) == 2
    assert "different capture" in capsys.readouterr().err


def test_bad_input_is_one_line(tiny_dir, tmp_path, capsys):
    bad = tmp_path / "p.csv"
    bad.write_text("a,b\n")
    for argv, msg in (
        (["--prompts", str(bad)], ".txt"),
        (["--prompts", str(tmp_path / "none.txt")], "no such file"),
        (["--site", "bogus"], "--site"),
        (["--count", "0"], "must be positive"),
    ):
        assert main(["--model", str(tiny_dir), "--out", str(tmp_path / "o"), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_a_fast_format_is_guarded_before_any_shard(tiny_dir, tiny_model, tmp_path, capsys, monkeypatch):
    import interp.runs.guard as cli
    from interp.core.selfcheck import relative_distance

    prompts = tmp_path / "p.txt"
    prompts.write_text("12+35=\n7+8=\n1+1=\n")
    argv = ["--model", str(tiny_dir), "--prompts", str(prompts), "--site", "mlp_out", "--dtype", "bfloat16", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "fast")]) == 0
    ref = capture(tiny_model, ["12+35=", "7+8=", "1+1="], sites=["mlp_out"])["mlp_out"]
    assert 0 < relative_distance(ActivationStore(tmp_path / "fast")["mlp_out"], ref) < 0.125
    real = cli.load_model

    def drifted(*a, dtype=None, **k):  # a fast model whose numbers are far from float32's
        model = real(*a, dtype=dtype, **k)
        if dtype != "float32":
            with torch.no_grad():
                model.blocks[0].mlp.out.original_component.weight.mul_(1.5)
        return model

    monkeypatch.setattr(cli, "load_model", drifted)
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "bad")]) == 2
    assert "float32 guard" in capsys.readouterr().err and not (tmp_path / "bad").exists()
