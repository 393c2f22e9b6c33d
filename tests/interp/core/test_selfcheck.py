"""Every cached or early-stopped path matches its plain computation, and refuses to go on when it does not."""

import pytest
import torch

from interp.core.selfcheck import SelfCheckError, agree


def test_agree_names_both_numbers():
    assert agree("x", torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-6]), atol=1e-5) < 1e-5
    with pytest.raises(SelfCheckError, match=r"gives 2.5 where the plain computation gives 2 "):
        agree("x", torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]), atol=1e-3)
    with pytest.raises(SelfCheckError, match="nan"):
        agree("x", torch.tensor([float("nan")]), torch.tensor([1.0]), atol=1e-3)


def test_capture_check_can_fail():
    """A model whose two forwards disagree cannot pass the early-stop check."""
    from transformer_lens import HookedRootModule
    from transformer_lens.hook_points import HookPoint

    from interp import capture

    class Noisy(HookedRootModule):
        def __init__(self):
            super().__init__()
            self.hook_h = HookPoint()
            self.setup()

        def forward(self, x):
            return self.hook_h(x + torch.rand_like(x))

    with pytest.raises(SelfCheckError, match="capture stopped early"):
        capture(Noisy(), torch.zeros(3, 4, 2), ["hook_h"])


@pytest.fixture
def dropped_cache(monkeypatch):
    """Every KV cache forgets what it is given: the failure transformers 5.24 caused, made on purpose."""
    from transformers.cache_utils import DynamicLayer

    def update(self, key_states, value_states, *args, **kwargs):
        return key_states, value_states

    monkeypatch.setattr(DynamicLayer, "update", update)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_broken_cache_stops_probe_cli(dropped_cache, tiny_dir, tmp_path, capsys):
    from interp.cli.probe import main

    out = tmp_path / "probe"
    assert (
        main(
            ["--model", str(tiny_dir), "--n", "30", "--folds", "2", "--behaviour-n", "4", "--out", str(out), "--quiet"]
        )
        == 2
    )
    assert "cached greedy decoding" in _one_line(capsys)
    assert not out.exists()


def test_broken_cache_stops_patch_cli(dropped_cache, tiny_dir, tmp_path, capsys):
    from interp.cli.patch import main

    out = tmp_path / "patch"
    assert main(["--model", str(tiny_dir), "--n", "4", "--shots", "2", "--out", str(out), "--quiet"]) == 2
    assert "KV cache" in _one_line(capsys)
    assert not out.exists()


def test_broken_cache_stops_nll_cli(dropped_cache, tiny_dir, tmp_path, capsys):
    from interp.cli.nll import main

    text = tmp_path / "d.txt"
    text.write_text(" ".join(f"word{j % 17} and text" for j in range(200)))
    out = tmp_path / "nll"
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
            ]
        )
        == 2
    )
    assert "chunked NLL" in _one_line(capsys)
    assert not out.exists()


def test_broken_probe_solver_stops_probe_cli(monkeypatch, tiny_dir, tmp_path, capsys):
    """A batched solver that stops after one iteration disagrees with scikit-learn: the run refuses."""
    import interp.probes.sweep as sweep_module

    real = sweep_module.fit_batched
    monkeypatch.setattr(sweep_module, "fit_batched", lambda *a, **k: real(*a, **{**k, "max_iter": 1}))
    from interp.cli.probe import main

    out = tmp_path / "probe"
    argv = ["--model", str(tiny_dir), "--n", "60", "--folds", "2", "--behaviour-n", "0", "--out", str(out), "--quiet"]
    assert main(argv) == 2
    assert "batched probe fit" in _one_line(capsys)
    assert not out.exists()


def test_a_probe_fit_that_does_not_converge_stops_probe_cli(monkeypatch, tiny_dir, tmp_path, capsys):
    import interp.runs.probe_fit as run_module
    from interp.cli.probe import main
    from interp.probes.sweep import NotConverged

    def stuck(*a, **k):
        raise NotConverged("batched probe fit: 3 of 24 probes of digit scale 1 did not converge within 2 iterations")

    monkeypatch.setattr(run_module, "sweep", stuck)
    out = tmp_path / "probe"
    argv = ["--model", str(tiny_dir), "--n", "60", "--folds", "2", "--behaviour-n", "0", "--out", str(out), "--quiet"]
    assert main(argv) == 2
    assert "did not converge" in _one_line(capsys)
    assert not out.exists()


def test_broken_cache_stops_causal_tests(dropped_cache, tiny_model):
    from interp.hooks.tokens import tokenize
    from interp.interventions.edits import digit_logits_under_edits
    from interp.interventions.lens import digit_token_ids

    ids = tokenize(tiny_model, ["12+35=47\n3+4=7"]).ids[0]
    with pytest.raises(SelfCheckError, match="cache"):
        digit_logits_under_edits(tiny_model, ids, 9, [], digit_token_ids(tiny_model.tokenizer))
