from pathlib import Path

import pytest
import torch

from interp.tasks.persist import load
from interp.tasks.setup import TrainConfig, task_options, train_config
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


def test_training_lowers_the_cost(tmp_path):
    """150 batches of copy on lengths 1-3: the held-out cost falls well below a coin's (1 bit per bit)."""
    torch.set_num_threads(1)
    info = train(
        _cfg(steps=150, batch=16, lr=1e-2, d_hidden=32, M=8, max_len=3, eval_every=50, ckpt_every=50),
        tmp_path / "r",
        progress=False,
    )
    coin = evaluate(lambda x: torch.zeros(*x.shape[:2], 8), "copy", max_len=3)
    held = [c for _, c, _ in info["held_out"]]
    assert held[-1] < held[0] and held[-1] < 0.85 * coin
    assert info["step"] == 150 and (tmp_path / "r" / "ckpt" / "model.safetensors").exists()


def test_resume_gives_the_same_weights_as_one_run(tmp_path):
    torch.set_num_threads(1)
    train(_cfg(steps=12, ckpt_every=6), tmp_path / "a", progress=False)
    train(_cfg(steps=6, ckpt_every=6), tmp_path / "b", progress=False)
    train(_cfg(steps=12, ckpt_every=6), tmp_path / "b", resume=True, progress=False)
    a, b = load(tmp_path / "a")[0], load(tmp_path / "b")[0]
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


def test_the_best_held_out_weights_are_kept_beside_the_last(tmp_path):
    torch.set_num_threads(1)
    info = train(_cfg(steps=40, eval_every=10), tmp_path / "r", progress=False)
    best_step, best_cost, _ = min(info["held_out"], key=lambda h: h[1])
    model, best, opt = load(tmp_path / "r" / "best")
    assert best["step"] == best_step and opt is None
    assert evaluate(model, "copy") == pytest.approx(best_cost, abs=1e-5)


@pytest.mark.parametrize(
    "name",
    ["copy-ntm", "copy-lstm", "repeat-ntm", "repeat-lstm", "ngrams-ntm", "ngrams-lstm", "recall-ntm", "recall-lstm"],
)
def test_committed_checkpoints_reproduce_their_recorded_held_out_cost(name):
    """The shipped weights, loaded by today's model code, score what training recorded for them."""
    torch.set_num_threads(1)
    model, info, _ = load(Path(__file__).parents[2] / "tasks" / "checkpoints" / name)
    step, recorded, _ = info["held_out"][-1]
    assert step == info["step"]
    model.eval()
    options = task_options(train_config(info["config"]))  # e.g. the repeat count fed as pulses
    assert evaluate(model, info["config"]["task"], **options) == pytest.approx(recorded, rel=1e-3, abs=1e-3)


def test_memory_sizes_vary_by_batch_and_resume_the_same(tmp_path):
    from interp.tasks.train import memory_size

    cfg = _cfg(memory_sizes=(4, 8, 16), steps=6, ckpt_every=3)
    assert {memory_size(cfg, s) for s in range(30)} == {4, 8, 16}
    torch.set_num_threads(1)
    train(cfg, tmp_path / "a", progress=False)
    train(_cfg(memory_sizes=(4, 8, 16), steps=3, ckpt_every=3), tmp_path / "b", progress=False)
    train(cfg, tmp_path / "b", resume=True, progress=False)
    for (k, v), (_, w) in zip(
        load(tmp_path / "a")[0].state_dict().items(), load(tmp_path / "b")[0].state_dict().items(), strict=True
    ):
        assert torch.equal(v, w), k
    model = load(tmp_path / "a", memory=32)[0]
    assert model.cfg.N == 32  # the paper's memory at evaluation, whatever the training used


def test_held_out_batches_do_not_depend_on_the_count_encoding():
    """Runs fed the count as a scalar or as pulses are scored on the same sequences."""
    from interp.tasks.train import held_out_seed

    assert held_out_seed(length=10, repeats=20, count="unary") == held_out_seed(length=10, repeats=20)
    assert held_out_seed(length=10, repeats=20) != held_out_seed(length=20, repeats=10)


def test_grow_repeats_narrows_training_batches_not_held_out_ones(tmp_path, monkeypatch):
    """Under the curriculum each training batch draws at most `most_repeats` repeats, rising to the full 10;
    the held-out batches that pick `best` keep the whole range."""
    import interp.tasks.train as train_module

    drawn, held = [], []
    real_sample = train_module.sample

    def spy(task, seed, **kw):
        seq = real_sample(task, seed, **kw)
        repeats = int(seq.inputs[0, :, -1].sum())  # unary count: one pulse per repeat
        (held if seed >= train_module.HELD_OUT else drawn).append((kw.get("max_repeats"), repeats))
        return seq

    monkeypatch.setattr(train_module, "sample", spy)
    torch.set_num_threads(1)
    cfg = _cfg(task="repeat_copy", count="unary", max_len=2, steps=60, eval_every=60, ckpt_every=60, grow_repeats=45)
    train(cfg, tmp_path / "r", progress=False)
    assert [m for m, _ in drawn] == [train_module.most_repeats(cfg, s) for s in range(60)]
    assert drawn[0][0] == 1 and drawn[-1][0] == 10
    assert all(r <= m for m, r in drawn)
    assert held and all(m is None for m, _ in held) and max(r for _, r in held) > 1


def test_end_weight_counts_the_end_step_more_in_training_only(tmp_path, monkeypatch):
    """The first batch's training cost under end_weight W is the plain cost plus (W - 1) times the end step's
    bits (the same weights: nothing has been updated yet); held-out batches are scored plain."""
    import interp.tasks.train as train_module
    from interp.tasks.memory import Seq, bits_per_sequence, sample
    from interp.tasks.setup import build

    masks = []
    real_cost = train_module.cost

    def spy(model, seq, N=None):
        masks.append(seq.mask)
        return real_cost(model, seq, N)

    monkeypatch.setattr(train_module, "cost", spy)
    torch.set_num_threads(1)
    base = _cfg(task="repeat_copy", count="unary", max_len=3, steps=1, eval_every=1, ckpt_every=1)
    plain = train(base, tmp_path / "plain", progress=False)["history"][0][1]
    weighted = train(_cfg(**{**base.__dict__, "end_weight": 5.0}), tmp_path / "w", progress=False)["history"][0][1]
    torch.manual_seed(base.seed)
    model = build(base)
    seq = sample(
        "repeat_copy", train_module.batch_seed(base.seed, 0), n=base.batch, **train_module.batch_range(base, 0)
    )
    end = torch.zeros_like(seq.mask)
    end[:, -1] = 1.0
    with torch.no_grad():
        end_bits = float(bits_per_sequence(model(seq.inputs), Seq(seq.inputs, seq.targets, end)))
    assert end_bits > 0.5 and weighted == pytest.approx(plain + 4.0 * end_bits, rel=1e-5)
    # each run: its training batch, then 4 held-out batches
    assert [float(m.max()) for m in masks] == [1.0, 1.0, 1.0, 1.0, 1.0, 5.0, 1.0, 1.0, 1.0, 1.0]


def test_graves_rmsprop_steps_as_graves_2013_writes_them_with_its_floor_beside_the_root():
    """Eq. 38-41 (decay 0.95, momentum 0.9, centred), written out, against `rmsprop-graves` over a gradient that is
    quiet and then wakes up; gradients past the clip are clipped elementwise first, as for plain RMSProp."""
    from interp.tasks.setup import clip_gradients, make_optimizer

    cfg = TrainConfig(optimizer="rmsprop-graves", lr=1e-4, clip=10.0)
    model = torch.nn.Linear(1, 1, bias=False)
    w0 = float(model.weight.detach())
    opt = make_optimizer(model, cfg)
    grads = [1e-6] * 20 + [50.0, 0.3, -0.2]
    w, n, g, delta = w0, 0.0, 0.0, 0.0
    for eps in grads:
        model.weight.grad = torch.full_like(model.weight, eps)
        clip_gradients(model, cfg)
        opt.step()
        eps = max(-10.0, min(10.0, eps))
        n = 0.95 * n + 0.05 * eps**2
        g = 0.95 * g + 0.05 * eps
        delta = 0.9 * delta - 1e-4 * eps / ((n - g * g) ** 0.5 + 1e-2)
        w += delta
        assert float(model.weight.detach()) == pytest.approx(w, rel=1e-5, abs=1e-9)
    assert float(model.weight.detach()) != pytest.approx(w0, abs=1e-6)


def test_per_step_divides_the_training_gradient_by_the_scored_steps_and_keeps_the_history_in_bits(
    tmp_path, monkeypatch
):
    """The first batch under per_step: the same recorded cost, and a gradient 1 / (scored steps) of the plain one."""
    import interp.tasks.train as train_module
    from interp.tasks.memory import sample

    grads, real_clip = [], train_module.clip_gradients

    def spy(model, cfg):
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]).clone())
        return real_clip(model, cfg)

    monkeypatch.setattr(train_module, "clip_gradients", spy)
    torch.set_num_threads(1)
    base = _cfg(task="repeat_copy", count="unary", max_len=3, steps=1, eval_every=1, ckpt_every=1)
    plain = train(base, tmp_path / "plain", progress=False)["history"][0][1]
    per = train(_cfg(**{**base.__dict__, "per_step": True}), tmp_path / "per", progress=False)["history"][0][1]
    steps = float(
        sample("repeat_copy", train_module.batch_seed(base.seed, 0), n=base.batch, count="unary", max_len=3)
        .mask[0]
        .sum()
    )
    assert steps > 1 and per == pytest.approx(plain, rel=1e-6)
    torch.testing.assert_close(grads[1] * steps, grads[0], rtol=1e-4, atol=1e-6)
