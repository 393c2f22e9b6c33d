import copy
import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from interp.cli import memory as cli
from interp.tasks.evaluate import eval_run
from interp.tasks.memory import TASKS, RepeatCopyConfig, make_repeat_copy
from interp.tasks.persist import load
from interp.tasks.setup import TrainConfig
from interp.tasks.train import evaluate, train


def _cfg(**kw):
    return TrainConfig(
        **(
            {
                "task": "copy",
                "model": "ntm",
                "steps": 40,
                "batch": 8,
                "lr": 3e-3,
                "d_hidden": 16,
                "N": 8,
                "M": 6,
                "ckpt_every": 10,
                "eval_every": 20,
            }
            | kw
        )
    )


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    import interp.tasks.train as tt

    real = tt.cost
    calls = {"n": 0}

    def poisoned(model, seq, N=None):
        calls["n"] += 1
        out = real(model, seq, N)
        return out * float("nan") if calls["n"] > 15 else out

    monkeypatch.setattr(tt, "cost", poisoned)
    argv = [
        "train",
        "--task",
        "copy",
        "--steps",
        "40",
        "--batch",
        "4",
        "--d-hidden",
        "8",
        "--N",
        "8",
        "--M",
        "4",
        "--ckpt-every",
        "5",
        "--eval-every",
        "100",
        "--out",
        str(tmp_path / "r"),
        "--quiet",
        "--no-compile",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "non-finite" in err and len(err.splitlines()) == 1
    info = json.loads((tmp_path / "r" / "ckpt" / "run.json").read_text())
    assert info["step"] == 15
    model = tt.load(tmp_path / "r")[0]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert cli.main(argv) == 2 and "--resume" in capsys.readouterr().err  # never silently overwritten


def test_eval_writes_data_and_figures(tmp_path, monkeypatch):
    short = dataclasses.replace(TASKS["copy"], points=({"length": 10}, {"length": 30}), x=(10, 30))
    monkeypatch.setitem(TASKS, "copy", short)  # the default reaches 120 steps: slow here
    torch.set_num_threads(1)
    for m in ("ntm", "lstm"):
        train(_cfg(model=m, steps=4, n_layers=1), tmp_path / m, progress=False)
    out = tmp_path / "eval"
    assert cli.main(["eval", str(tmp_path / "ntm"), str(tmp_path / "lstm"), "--out", str(out)]) == 0
    meta = json.loads((out / "memory.json").read_text())
    assert [r["name"] for r in meta["runs"]] == ["NTM copy", "LSTM copy"]
    assert meta["runs"][0]["x"] == [10, 30] and len(meta["runs"][0]["cost"]) == 2
    z = np.load(out / "memory.npz")
    assert z["NTM copy/example/write_w"].shape == (41, 8) and "LSTM copy/example/write_w" not in z
    assert (out / "memory.html").read_text().count('class="plotly-graph-div"') == 1 + 1 + 2 + 1


def test_eval_batches_extend_the_default_sample(tmp_path, monkeypatch, capsys):
    """`--batches K` scores K held-out batches per point, the default two among them; 0 is refused."""
    short = dataclasses.replace(TASKS["copy"], points=({"length": 10},), x=(10,))
    monkeypatch.setitem(TASKS, "copy", short)
    torch.set_num_threads(1)
    train(_cfg(steps=4, n_layers=1), tmp_path / "ntm", progress=False)
    costs = {}
    for k in (2, 5):
        out = tmp_path / f"eval{k}"
        assert cli.main(["eval", str(tmp_path / "ntm"), "--out", str(out), "--batches", str(k)]) == 0
        run = json.loads((out / "memory.json").read_text())["runs"][0]
        assert run["eval_batches"] == k
        costs[k] = run["cost"][0]
    model = load(tmp_path / "ntm")[0].eval()
    singles = [evaluate(model, "copy", batches=i + 1, length=10) * (i + 1) for i in range(5)]
    per_batch = [singles[0]] + [b - a for a, b in zip(singles, singles[1:], strict=False)]
    assert costs[2] == pytest.approx(np.mean(per_batch[:2]), rel=1e-5)
    assert costs[5] == pytest.approx(np.mean(per_batch), rel=1e-5)
    capsys.readouterr()
    assert cli.main(["eval", str(tmp_path / "ntm"), "--out", str(tmp_path / "e0"), "--batches", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--batches must be at least 1" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "e0").exists()


def test_repeat_copy_cost_is_its_channels_sum_on_evaluates_batches(tmp_path, monkeypatch):
    """`eval_run` splits repeat copy's cost by channel in one pass; the total equals `evaluate`'s own."""
    torch.set_num_threads(1)
    train(_cfg(task="repeat_copy", steps=2, max_len=3), tmp_path / "r", progress=False)
    model = load(tmp_path / "r")[0]
    res, arrays = eval_run(model, "repeat_copy", batches=2)
    for point, total in zip(TASKS["repeat_copy"].points, res["cost"], strict=True):
        assert total == pytest.approx(evaluate(model, "repeat_copy", batches=2, **point), rel=1e-5)
    # per sequence: 64 of them, whose mean is the mean, with the median and the failure share beside it
    for i, p in enumerate(TASKS["repeat_copy"].points):
        data = arrays[f"per_sequence_{p['length']}x{p['repeats']}/data"]
        marker = arrays[f"per_sequence_{p['length']}x{p['repeats']}/marker"]
        assert data.shape == marker.shape == (64,)
        assert res["data_spread"][i]["mean"] == pytest.approx(data.mean(), rel=1e-5) == res["data_cost"][i]
        assert res["data_spread"][i]["median"] == pytest.approx(np.median(data), rel=1e-5)
        assert res["data_spread"][i]["over"] == (data > 5).mean()
        assert res["marker_spread"][i]["mean"] == pytest.approx(marker.mean(), rel=1e-5)
    assert TASKS["repeat_copy"].eval_batches == 20  # 640 sequences by default, which the task's spec sets:
    monkeypatch.setitem(TASKS, "repeat_copy", dataclasses.replace(TASKS["repeat_copy"], eval_batches=3))
    assert eval_run(model, "repeat_copy")[0]["eval_batches"] == 3


def test_the_repeat_copy_verdict_counts_the_failure_tail():
    from interp.runs.reproduced import repeat_verdict

    good = {"mean": 1.0, "median": 0.5, "over": 0.01}
    tail = {"mean": 1.9, "median": 0.5, "over": 0.05}  # the mean passes; one sequence in 20 fails
    marker = {"mean": 0.5, "median": 0.1, "over": 0.1}
    text = repeat_verdict(["L10R20", "L20R10"], [good, tail], [marker, marker], 5.0)
    assert "At L10R20 the NTM's data channels cost 1.00 bits on average (median 0.50), 1.0% of" in text
    assert text.count("its outputs match the targets.") == 1 and "5.0% of sequences cost more than 5 bits" in text
    late = repeat_verdict(["x"], [good], [{"mean": 1.5, "median": 1.5, "over": 0.5}], 5.0)
    assert "do not match" in late


def test_warm_start_carries_a_copy_ntm_into_repeat_copy(tmp_path):
    """With the repeat-count channel at zero, the warm-started model computes what the copy model did."""
    torch.set_num_threads(1)
    train(_cfg(steps=3), tmp_path / "copy", progress=False)
    copy_model = load(tmp_path / "copy")[0]
    args = [
        "train",
        "--task",
        "repeat_copy",
        "--steps",
        "1",
        "--batch",
        "2",
        "--d-hidden",
        "16",
        "--N",
        "8",
        "--M",
        "6",
        "--lr",
        "1e-12",
        "--init-from",
        str(tmp_path / "copy"),
        "--out",
        str(tmp_path / "rep"),
        "--quiet",
        "--no-compile",
    ]
    assert cli.main(args) == 0
    rep = load(tmp_path / "rep")[0]
    seq = make_repeat_copy(RepeatCopyConfig(n=3, length=4, repeats=2), 5)
    x = seq.inputs.clone()
    x[..., -1] = 0  # the repeat count: the copy model has no such channel
    with torch.no_grad():
        torch.testing.assert_close(rep(x)[..., :8], copy_model(x[..., :-1]), atol=1e-4, rtol=0)
    info = json.loads((tmp_path / "rep" / "ckpt" / "run.json").read_text())
    assert info["config"]["init_from"] == str(tmp_path / "copy")
    assert info["sequences_before"] == _cfg(steps=3).steps * _cfg(steps=3).batch  # what the copy run had seen


def test_warm_start_refuses_other_sizes_and_models(tmp_path, capsys):
    torch.set_num_threads(1)
    train(_cfg(steps=1), tmp_path / "copy", progress=False)
    base = [
        "train",
        "--task",
        "repeat_copy",
        "--steps",
        "1",
        "--batch",
        "2",
        "--N",
        "8",
        "--M",
        "6",
        "--quiet",
        "--no-compile",
        "--init-from",
        str(tmp_path / "copy"),
    ]
    assert cli.main([*base, "--d-hidden", "32", "--out", str(tmp_path / "a")]) == 2
    assert "d_hidden" in capsys.readouterr().err
    assert cli.main([*base, "--model", "lstm", "--d-hidden", "16", "--out", str(tmp_path / "b")]) == 2
    assert "cannot start" in capsys.readouterr().err
    assert not (tmp_path / "a" / "ckpt").exists() and not (tmp_path / "b" / "ckpt").exists()


def test_committed_checkpoints_evaluate_but_do_not_resume(tmp_path, capsys):
    torch.set_num_threads(1)
    train(_cfg(steps=2), tmp_path / "r", progress=False)
    (tmp_path / "r" / "ckpt" / "optim.pt").unlink()
    argv = [
        "train",
        "--task",
        "copy",
        "--steps",
        "4",
        "--batch",
        "8",
        "--lr",
        "3e-3",
        "--d-hidden",
        "16",
        "--N",
        "8",
        "--M",
        "6",
        "--ckpt-every",
        "10",
        "--eval-every",
        "20",
        "--resume",
        "--out",
        str(tmp_path / "r"),
        "--quiet",
        "--no-compile",
    ]
    assert cli.main(argv) == 2 and "no optimizer state" in capsys.readouterr().err


def test_plot_redraws_without_the_models_and_keeps_what_exists(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(TASKS, "copy", dataclasses.replace(TASKS["copy"], points=({"length": 10},), x=(10,)))
    torch.set_num_threads(1)
    train(_cfg(steps=2), tmp_path / "ntm", progress=False)
    assert cli.main(["eval", str(tmp_path / "ntm"), "--out", str(tmp_path / "ev")]) == 0
    before = (tmp_path / "ev" / "memory.html").read_text()
    assert cli.main(["plot", str(tmp_path / "ev")]) == 2 and "exists" in capsys.readouterr().err
    assert cli.main(["plot", str(tmp_path / "ev"), "--output", str(tmp_path / "again.html")]) == 0
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # plotly's random div ids
    assert uuid.sub("id", (tmp_path / "again.html").read_text()) == uuid.sub("id", before)
    assert cli.main(["plot", str(tmp_path / "nothing")]) == 2 and "eval" in capsys.readouterr().err


def test_a_held_out_collapse_rolls_back_to_the_best_weights(tmp_path, monkeypatch):
    """Held-out costs 50, 10, 90 (a collapse), 12: after the third evaluation the weights are the second's."""
    import interp.tasks.train as train_module

    costs = iter([50.0, 10.0, 90.0, 12.0])
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: next(costs))
    seen = {}
    real_restore = train_module.restore_best

    def restore(model, cfg, out):
        opt = real_restore(model, cfg, out)
        seen["restored"] = {k: v.clone() for k, v in model.state_dict().items()}
        return opt

    monkeypatch.setattr(train_module, "restore_best", restore)
    torch.set_num_threads(1)
    cfg = _cfg(steps=8, eval_every=2, ckpt_every=2, rollback=20.0)
    info = train(cfg, tmp_path / "r", progress=False)
    assert info["rollbacks"] == [[6, 90.0, 10.0]]  # 12 is not 20 bits above the best: no second rollback
    best = load(tmp_path / "r" / "best")[0].state_dict()
    assert load(tmp_path / "r" / "best")[1]["step"] == 4
    assert all(torch.equal(seen["restored"][k], v) for k, v in best.items())
    costs = iter([50.0, 10.0, 90.0, 12.0])
    without = train(dataclasses.replace(cfg, rollback=None), tmp_path / "n", progress=False)
    assert "rollbacks" not in without


def test_a_rollback_can_restore_the_optimizer_state_kept_with_the_best_weights(tmp_path, monkeypatch):
    """Under rollback_optimizer="best" the optimizer after the rollback holds the state it had at the best
    weights (batch 4), not a fresh one and not the diverged one; under "fresh" it starts empty."""
    import interp.tasks.train as train_module

    real_restore, seen = train_module.restore_best, {}

    def restore(model, cfg, out):
        opt = real_restore(model, cfg, out)
        seen[cfg.rollback_optimizer] = copy.deepcopy(opt.state_dict())  # later steps update it in place
        return opt

    monkeypatch.setattr(train_module, "restore_best", restore)
    torch.set_num_threads(1)
    for mode in ("best", "fresh"):
        costs = iter([50.0, 10.0, 90.0, 12.0])
        monkeypatch.setattr(train_module, "evaluate", lambda *a, costs=costs, **k: next(costs))
        cfg = _cfg(steps=8, eval_every=2, ckpt_every=2, rollback=20.0, optimizer="rmsprop", rollback_optimizer=mode)
        info = train(cfg, tmp_path / mode, progress=False)
        assert info["rollbacks"] == [[6, 90.0, 10.0]]
    kept = load(tmp_path / "best" / "best")[2]
    assert load(tmp_path / "fresh" / "best")[2] is None  # "fresh" keeps the weights only, as before
    assert seen["fresh"]["state"] == {}
    restored = seen["best"]["state"]
    assert restored.keys() == kept["state"].keys() and len(restored) > 0
    for k, state in kept["state"].items():
        assert state["step"] == 4  # the state at the best weights, not at batch 6 where it diverged
        assert all(torch.equal(restored[k][n], v) for n, v in state.items())


def test_each_rollback_multiplies_the_learning_rate_by_rollback_lr(tmp_path, monkeypatch):
    """Costs 50, 10, 90, 95, 12: two rollbacks, so the rate falls to lr x 0.5 and then lr x 0.25, and a resumed
    run keeps the lowered rate; without rollback_lr it stays."""
    import interp.tasks.train as train_module

    torch.set_num_threads(1)
    rates = {}
    for factor in (0.5, None):
        costs = iter([50.0, 10.0, 90.0, 95.0, 12.0])
        monkeypatch.setattr(train_module, "evaluate", lambda *a, costs=costs, **k: next(costs))
        real_restore, seen = train_module.restore_best, []

        def restore(model, cfg, out, seen=seen, real_restore=real_restore):
            opt = real_restore(model, cfg, out)
            seen.append(opt)
            return opt

        monkeypatch.setattr(train_module, "restore_best", restore)
        cfg = _cfg(steps=10, eval_every=2, ckpt_every=2, rollback=20.0, lr=1e-3, rollback_lr=factor)
        info = train(cfg, tmp_path / str(factor), progress=False)
        monkeypatch.setattr(train_module, "restore_best", real_restore)
        assert [r[0] for r in info["rollbacks"]] == [6, 8]
        rates[factor] = [o.param_groups[0]["lr"] for o in seen]
        resumed = load(tmp_path / str(factor))[2]["param_groups"][0]["lr"]
        assert resumed == pytest.approx(rates[factor][-1])
    assert rates[0.5] == pytest.approx([5e-4, 2.5e-4]) and rates[None] == pytest.approx([1e-3, 1e-3])


def _refused(tmp_path, capsys, args: list[str], says: str) -> None:
    """`train ARGS` exits 2 with one line that says `says`, and writes nothing."""
    assert cli.main(["train", *args, "--steps", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_rollback_lr_needs_rollback_and_a_factor_up_to_1(tmp_path, capsys):
    for extra in (
        ["--rollback-lr", "0.5"],
        ["--rollback", "10", "--rollback-lr", "0"],
        ["--rollback", "10", "--rollback-lr", "2"],
        ["--rollback", "10", "--rollback-lr", "nan"],
    ):
        _refused(tmp_path, capsys, extra, "--rollback-lr needs --rollback")


def test_rollback_optimizer_needs_rollback(tmp_path, capsys):
    _refused(tmp_path, capsys, ["--rollback-optimizer", "best"], "--rollback-optimizer needs --rollback")


def test_rollback_must_be_positive(tmp_path, capsys):
    for bad in ("0", "-1", "nan"):
        _refused(tmp_path, capsys, ["--rollback", bad], "--rollback must be positive")


def test_two_runs_of_one_model_keep_their_own_arrays(tmp_path):
    """Two LSTMs on one task used to share a label, so the second's arrays replaced the first's."""
    from interp.runs.memory import evaluate_runs

    torch.set_num_threads(1)
    for name, seed in (("a", 0), ("b", 1)):
        train(
            _cfg(model="lstm", task="copy", steps=2, d_hidden=8, n_layers=1, seed=seed), tmp_path / name, progress=False
        )
    ev = evaluate_runs([tmp_path / "a", tmp_path / "b"], progress=False)
    assert [r["name"] for r in ev.meta["runs"]] == ["LSTM copy", "LSTM copy (b)"]
    a, b = ev.arrays["LSTM copy/history"], ev.arrays["LSTM copy (b)/history"]
    assert not np.array_equal(a, b)  # different seeds: different curves, each kept


def test_grow_repeats_is_refused_off_repeat_copy_or_below_one(tmp_path, capsys):
    for args in (["--task", "copy", "--grow-repeats", "100"], ["--task", "repeat_copy", "--grow-repeats", "0"]):
        _refused(tmp_path, capsys, args, "--grow-repeats")


def test_end_weight_is_refused_off_repeat_copy_or_not_positive(tmp_path, capsys):
    for args in (
        ["--task", "copy", "--end-weight", "5"],
        ["--task", "repeat_copy", "--end-weight", "0"],
        ["--task", "repeat_copy", "--end-weight", "inf"],
        ["--task", "repeat_copy", "--end-weight", "nan"],
    ):
        _refused(tmp_path, capsys, args, "--end-weight")


def test_a_rollback_at_the_last_evaluation_reports_the_weights_the_checkpoint_holds(tmp_path, monkeypatch, capsys):
    """The final checkpoint is written after the final evaluation's rollback, so it holds the best weights: the
    summary gives their cost, not the collapsed one."""
    import interp.tasks.train as train_module

    costs = iter([50.0, 10.0, 90.0])
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: next(costs))
    torch.set_num_threads(1)
    out = tmp_path / "r"
    args = [
        "train",
        "--steps",
        "6",
        "--eval-every",
        "2",
        "--ckpt-every",
        "2",
        "--rollback",
        "20",
        "--quiet",
        "--no-compile",
    ]
    assert cli.main([*args, "--batch", "4", "--N", "8", "--M", "6", "--d-hidden", "8", "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "held-out cost 10.000 bits/sequence (batch 4's weights: the last evaluation, 90.000, rolled back)" in line
    kept, best = load(out)[0].state_dict(), load(out / "best")[0].state_dict()
    assert all(torch.equal(kept[k], v) for k, v in best.items())
