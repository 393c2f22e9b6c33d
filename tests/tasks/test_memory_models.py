import json
import re

import numpy as np
import pytest
import torch

from tasks.memory import CopyConfig, make_copy
from tasks.models.lstm import HookedLSTM, LSTMConfig
from tasks.models.ntm import NTM, NTMConfig, address


@pytest.fixture()
def ntm():
    torch.manual_seed(0)
    return NTM(NTMConfig(d_in=9, d_out=8, d_hidden=16, N=8, M=6))


def test_addressing_is_a_distribution_and_shifts():
    n, h, N, M = 2, 1, 8, 4
    mem = torch.randn(n, N, M)
    key = mem[:, 3:4].clone()  # exact match with location 3
    w_prev = torch.zeros(n, h, N)
    s = torch.tensor([0.0, 0.0, 1.0]).expand(n, h, 3)  # shift +1
    w = address(key, torch.full((n, h), 50.0), torch.ones(n, h), s, torch.full((n, h), 5.0), w_prev, mem)
    assert torch.allclose(w.sum(-1), torch.ones(n, h))
    assert (w.argmax(-1) == 4).all()


def test_ntm_shapes_hooks_and_trace(ntm):
    seq = make_copy(CopyConfig(n=3, length=4), 0)
    logits, tr = ntm(seq.inputs, trace=True)
    assert logits.shape == (3, 9, 8) and tr["read_w"].shape == (3, 9, 1, 8) and tr["write_w"].shape == (3, 9, 8)
    assert torch.allclose(tr["write_w"].sum(-1), torch.ones(3, 9), atol=1e-5)
    _, cache = ntm.run_with_cache(seq.inputs)
    assert {"hook_read_w", "hook_write_w", "hook_read", "hook_memory", "hook_ctrl_out"} <= set(cache.keys())
    assert cache["hook_memory"].shape == (3, 8, 6)


def test_toolkit_record_and_interventions_work_on_the_ntm(ntm):
    from interp.capture import record

    seq = make_copy(CopyConfig(n=2, length=3), 0)
    with record(ntm, ["hook_write_w"]) as rec:
        base = ntm(seq.inputs)
    assert len(rec.acts["hook_write_w"]) == 7  # one per time step
    first = torch.zeros(8)
    first[0] = 1.0
    with ntm.hooks(fwd_hooks=[("hook_read_w", lambda x, hook: first.expand_as(x))]):
        pinned = ntm(seq.inputs)
    assert not torch.allclose(base, pinned)


def test_lstm_hooks():
    m = HookedLSTM(LSTMConfig(9, 8, d_hidden=12, n_layers=2))
    _, cache = m.run_with_cache(make_copy(CopyConfig(n=2, length=3), 0).inputs)
    assert cache["hook_lstm_out"].shape == (2, 7, 12)


def _cfg(**kw):
    from tasks.train import TrainConfig

    return TrainConfig(**({"task": "copy", "model": "ntm", "steps": 40, "batch": 8, "lr": 3e-3, "d_hidden": 16,
                           "N": 8, "M": 6, "ckpt_every": 10, "eval_every": 20} | kw))


def test_training_lowers_the_cost(tmp_path):
    """150 batches of copy on lengths 1-3: the held-out cost falls well below a coin's (1 bit per bit)."""
    from tasks.train import evaluate, train

    torch.set_num_threads(1)
    info = train(_cfg(steps=150, batch=16, lr=1e-2, d_hidden=32, M=8, max_len=3, eval_every=50, ckpt_every=50),
                 tmp_path / "r", progress=False)
    coin = evaluate(lambda x: torch.zeros(*x.shape[:2], 8), "copy", max_len=3)
    held = [c for _, c, _ in info["held_out"]]
    assert held[-1] < held[0] and held[-1] < 0.85 * coin
    assert info["step"] == 150 and (tmp_path / "r" / "ckpt" / "model.safetensors").exists()


def test_resume_gives_the_same_weights_as_one_run(tmp_path):
    from tasks.train import load, train

    torch.set_num_threads(1)
    train(_cfg(steps=12, ckpt_every=6), tmp_path / "a", progress=False)
    train(_cfg(steps=6, ckpt_every=6), tmp_path / "b", progress=False)
    train(_cfg(steps=12, ckpt_every=6), tmp_path / "b", resume=True, progress=False)
    a, b = load(tmp_path / "a")[0], load(tmp_path / "b")[0]
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    import tasks.train as tt

    real = tt.cost
    calls = {"n": 0}

    def poisoned(model, seq):
        calls["n"] += 1
        out = real(model, seq)
        return out * float("nan") if calls["n"] > 15 else out

    monkeypatch.setattr(tt, "cost", poisoned)
    argv = ["train", "--task", "copy", "--steps", "40", "--batch", "4", "--d-hidden", "8", "--N", "8", "--M", "4",
            "--ckpt-every", "5", "--eval-every", "100", "--out", str(tmp_path / "r"), "--quiet"]
    assert tt.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "non-finite" in err and len(err.splitlines()) == 1
    info = json.loads((tmp_path / "r" / "ckpt" / "run.json").read_text())
    assert info["step"] == 15
    model = tt.load(tmp_path / "r")[0]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert tt.main(argv) == 2 and "--resume" in capsys.readouterr().err  # never silently overwritten


def test_eval_writes_data_and_figures(tmp_path, monkeypatch):
    import tasks.evaluate
    from tasks.train import main, train

    monkeypatch.setattr(tasks.evaluate, "COPY_LENGTHS", (10, 30))  # the default reaches 120 steps: slow here
    torch.set_num_threads(1)
    for m in ("ntm", "lstm"):
        train(_cfg(model=m, steps=4, n_layers=1), tmp_path / m, progress=False)
    out = tmp_path / "eval"
    assert main(["eval", str(tmp_path / "ntm"), str(tmp_path / "lstm"), "--out", str(out)]) == 0
    meta = json.loads((out / "memory.json").read_text())
    assert [r["name"] for r in meta["runs"]] == ["NTM copy", "LSTM copy"]
    assert meta["runs"][0]["x"] == [10, 30] and len(meta["runs"][0]["cost"]) == 2
    z = np.load(out / "memory.npz")
    assert z["NTM copy/example/write_w"].shape == (41, 8) and "LSTM copy/example/write_w" not in z
    assert (out / "memory.html").read_text().count('class="plotly-graph-div"') == 1 + 1 + 2 + 1


def test_warm_start_carries_a_copy_ntm_into_repeat_copy(tmp_path):
    """With the repeat-count channel at zero, the warm-started model computes what the copy model did."""
    from tasks.memory import RepeatCopyConfig, make_repeat_copy
    from tasks.train import load, main, train

    torch.set_num_threads(1)
    train(_cfg(steps=3), tmp_path / "copy", progress=False)
    copy_model = load(tmp_path / "copy")[0]
    args = ["train", "--task", "repeat_copy", "--steps", "1", "--batch", "2", "--d-hidden", "16", "--N", "8",
            "--M", "6", "--lr", "1e-12", "--init-from", str(tmp_path / "copy"), "--out", str(tmp_path / "rep"),
            "--quiet"]
    assert main(args) == 0
    rep = load(tmp_path / "rep")[0]
    seq = make_repeat_copy(RepeatCopyConfig(n=3, length=4, repeats=2), 5)
    x = seq.inputs.clone()
    x[..., -1] = 0  # the repeat count: the copy model has no such channel
    with torch.no_grad():
        torch.testing.assert_close(rep(x)[..., :8], copy_model(x[..., :-1]), atol=1e-4, rtol=0)
    info = json.loads((tmp_path / "rep" / "ckpt" / "run.json").read_text())
    assert info["config"]["init_from"] == str(tmp_path / "copy")


def test_warm_start_refuses_other_sizes_and_models(tmp_path, capsys):
    from tasks.train import main, train

    torch.set_num_threads(1)
    train(_cfg(steps=1), tmp_path / "copy", progress=False)
    base = ["train", "--task", "repeat_copy", "--steps", "1", "--batch", "2", "--N", "8", "--M", "6", "--quiet",
            "--init-from", str(tmp_path / "copy")]
    assert main([*base, "--d-hidden", "32", "--out", str(tmp_path / "a")]) == 2
    assert "d_hidden" in capsys.readouterr().err
    assert main([*base, "--model", "lstm", "--d-hidden", "16", "--out", str(tmp_path / "b")]) == 2
    assert "cannot start" in capsys.readouterr().err
    assert not (tmp_path / "a" / "ckpt").exists() and not (tmp_path / "b" / "ckpt").exists()


def test_committed_checkpoints_evaluate_but_do_not_resume(tmp_path, capsys):
    from tasks.train import main, train

    torch.set_num_threads(1)
    train(_cfg(steps=2), tmp_path / "r", progress=False)
    (tmp_path / "r" / "ckpt" / "optim.pt").unlink()
    argv = ["train", "--task", "copy", "--steps", "4", "--batch", "8", "--lr", "3e-3", "--d-hidden", "16", "--N", "8",
            "--M", "6", "--ckpt-every", "10", "--eval-every", "20", "--resume", "--out", str(tmp_path / "r"), "--quiet"]
    assert main(argv) == 2 and "no optimizer state" in capsys.readouterr().err


def test_plot_redraws_without_the_models_and_keeps_what_exists(tmp_path, monkeypatch, capsys):
    import tasks.evaluate
    from tasks.train import main, train

    monkeypatch.setattr(tasks.evaluate, "COPY_LENGTHS", (10,))
    torch.set_num_threads(1)
    train(_cfg(steps=2), tmp_path / "ntm", progress=False)
    assert main(["eval", str(tmp_path / "ntm"), "--out", str(tmp_path / "ev")]) == 0
    before = (tmp_path / "ev" / "memory.html").read_text()
    assert main(["plot", str(tmp_path / "ev")]) == 2 and "exists" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "ev"), "--output", str(tmp_path / "again.html")]) == 0
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # plotly's random div ids
    assert uuid.sub("id", (tmp_path / "again.html").read_text()) == uuid.sub("id", before)
    assert main(["plot", str(tmp_path / "nothing")]) == 2 and "eval" in capsys.readouterr().err


def test_the_best_held_out_weights_are_kept_beside_the_last(tmp_path):
    from tasks.train import evaluate, load, train

    torch.set_num_threads(1)
    info = train(_cfg(steps=40, eval_every=10), tmp_path / "r", progress=False)
    best_step, best_cost, _ = min(info["held_out"], key=lambda h: h[1])
    model, best, opt = load(tmp_path / "r" / "best")
    assert best["step"] == best_step and opt is None
    assert evaluate(model, "copy") == pytest.approx(best_cost, abs=1e-5)


@pytest.mark.parametrize("name", ["copy-ntm", "copy-lstm", "repeat-ntm", "repeat-lstm", "ngrams-ntm", "ngrams-lstm",
                                  "recall-ntm", "recall-lstm"])
def test_committed_checkpoints_reproduce_their_recorded_held_out_cost(name):
    """The shipped weights, loaded by today's model code, score what training recorded for them."""
    from pathlib import Path

    from tasks.train import evaluate, load

    torch.set_num_threads(1)
    model, info, _ = load(Path(__file__).parents[2] / "tasks" / "checkpoints" / name)
    step, recorded, _ = info["held_out"][-1]
    assert step == info["step"]
    model.eval()
    assert evaluate(model, info["config"]["task"]) == pytest.approx(recorded, rel=1e-3, abs=1e-3)
