import json

import numpy as np
import torch

from interp.models.arith_toy import (
    CHECKPOINT,
    ToyConfig,
    encode_batch,
    exact_match,
    is_heldout,
    sample_pairs,
    task_format,
    train,
)


def test_training_never_sees_heldout_pairs():
    cfg = ToyConfig()
    rng = np.random.default_rng(0)
    a, b = sample_pairs(rng, cfg, 5000, heldout=False)
    assert not is_heldout(a, b, cfg.heldout_bucket).any()
    ha, hb = sample_pairs(rng, cfg, 500, heldout=True)
    assert is_heldout(ha, hb, cfg.heldout_bucket).all()
    frac = is_heldout(*[np.random.default_rng(1).integers(0, 10**4, 20000) for _ in range(2)], 10).mean()
    assert 0.08 < frac < 0.12  # about one pair in ten is held out


def test_encoding_masks_only_answers():
    ids, m = encode_batch(np.array([12, 7]), np.array([35, 5]), per_seq=2)
    from interp.models.arith_toy import VOCAB

    text = "".join(VOCAB[i] for i in ids[0].tolist())
    assert text == "0012+0035=00047\n0007+0005=00012\n"
    assert "".join(c for c, k in zip(text, m[0].tolist(), strict=True) if k) == "00047\n00012\n"


def test_a_few_steps_lower_the_loss_and_are_seeded():
    cfg = ToyConfig(steps=60, n_layers=1, d_model=32, n_heads=4, d_mlp=64, batch_size=16, eval_n=40, warmup=5)
    _, log = train(cfg, progress=False)
    first, last = np.mean(log["loss"][:5]), np.mean(log["loss"][-5:])
    assert last < 0.8 * first, (first, last)
    _, again = train(cfg, progress=False)
    assert again["loss"][:10] == log["loss"][:10]


def test_committed_checkpoint_adds_through_the_bridge():
    """The shipped arith-toy really adds: greedy exact match on held-out pairs, via load_model."""
    from interp import load_model
    from interp.models.behaviour import arithmetic_accuracy, greedy_continuations

    meta = json.loads((CHECKPOINT / "arith-toy.json").read_text())
    assert meta["eval"]["heldout_exact"] >= 0.99
    model = load_model("arith-toy")
    cfg = ToyConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()})
    a, b = sample_pairs(np.random.default_rng(123), cfg, 200, heldout=True)
    fmt = task_format(cfg.digits)
    prompts = [fmt.format(int(x), int(y)) for x, y in zip(a, b, strict=True)]
    said = greedy_continuations(model, prompts, 6, batch_size=100, progress=False)
    acc = arithmetic_accuracy(a + b, said, a, b, scales=4)
    assert acc["exact"] >= 0.97, acc
    with torch.no_grad():  # the teacher-forced shortcut agrees with decoding
        assert exact_match(model.original_model, a, b).mean() == acc["exact"]
