import pytest
import torch

from interp.tasks.memory import (
    CopyConfig,
    NGramConfig,
    RecallConfig,
    RepeatCopyConfig,
    bits_per_sequence,
    make_copy,
    make_ngrams,
    make_recall,
    make_repeat_copy,
    ngram_optimal,
    prob_bits_per_sequence,
)


@pytest.mark.parametrize(
    "make,cfg",
    [
        (make_copy, CopyConfig(n=4)),
        (make_repeat_copy, RepeatCopyConfig(n=4)),
        (make_recall, RecallConfig(n=4)),
        (make_ngrams, NGramConfig(n=4)),
    ],
)
def test_same_seed_same_tensors(make, cfg):
    a, b, c = make(cfg, 3), make(cfg, 3), make(cfg, 4)
    a, b, c = (x[0] if isinstance(x, tuple) else x for x in (a, b, c))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs) or not torch.equal(a.targets, c.targets)


def test_copy_layout():
    s = make_copy(CopyConfig(n=3, length=5), 0)
    assert s.inputs.shape == (3, 11, 9) and s.targets.shape == (3, 11, 8)
    assert torch.equal(s.targets[:, 6:], s.inputs[:, :5, :8]) and s.inputs[:, 5, 8].eq(1).all()
    assert s.mask.sum(1).eq(5).all() and s.inputs[:, 6:].eq(0).all()


def test_repeat_copy_layout():
    s = make_repeat_copy(RepeatCopyConfig(n=2, length=3, repeats=4), 0)
    bits = s.inputs[:, :3, :8]
    assert torch.equal(s.targets[:, 4:16, :8], bits.repeat(1, 4, 1))
    assert s.inputs[:, 3, 9].eq(0.4).all() and s.targets[:, -1, 8].eq(1).all() and s.targets[:, :-1, 8].eq(0).all()


def test_repeat_copy_with_the_count_as_pulses():
    """The same sequences and targets, the count given as that many pulses after the delimiter."""
    scalar = make_repeat_copy(RepeatCopyConfig(n=2, length=3, repeats=4), 0)
    unary = make_repeat_copy(RepeatCopyConfig(n=2, length=3, repeats=4, count="unary"), 0)
    assert unary.inputs.shape[1] == scalar.inputs.shape[1] + 4
    assert torch.equal(unary.inputs[:, :3], scalar.inputs[:, :3]) and unary.inputs[:, 3, 8].eq(1).all()
    assert unary.inputs[:, 4:8, 9].eq(1).all() and unary.inputs[:, 3, 9].eq(0).all() and unary.inputs[:, 8:].eq(0).all()
    assert torch.equal(unary.targets[:, 4:], scalar.targets) and unary.targets[:, :8].eq(0).all()
    assert torch.equal(unary.mask[:, 4:], scalar.mask) and unary.mask[:, :8].eq(0).all()


def test_recall_target_is_the_item_after_the_query():
    s = make_recall(RecallConfig(n=8, items=4), 1)
    x = s.inputs
    items = torch.stack([x[:, i * 4 + 1 : i * 4 + 4, :6] for i in range(4)], 1)  # [n, item, 3, 6]
    query = x[:, 17:20, :6]
    for r in range(8):
        q = [i for i in range(4) if torch.equal(items[r, i], query[r])][0]
        assert torch.equal(s.targets[r, -3:], items[r, q + 1])


def test_ngram_optimal_matches_counting_by_hand():
    seq, p_true = make_ngrams(NGramConfig(n=2, length=60), 5)
    p = ngram_optimal(seq.inputs)
    bits = [0] * 5 + seq.inputs[0, :, 0].int().tolist()  # zeros before the start
    counts = {}
    counts[(0,) * 5] = [bits[5], 1]  # the first bit followed the all-zero context
    for t in range(seq.inputs.shape[1]):
        ctx = tuple(bits[t + 1 : t + 6])
        n1, n = counts.get(ctx, [0, 0])
        assert p[0, t].item() == pytest.approx((n1 + 0.5) / (n + 1))
        if t + 1 < seq.inputs.shape[1]:
            nxt = bits[t + 6]
            counts[ctx] = [n1 + nxt, n + 1]
    assert 0 < p_true.min() and p_true.max() < 1


def test_optimal_beats_a_coin_and_the_truth_beats_optimal():
    seq, p_true = make_ngrams(NGramConfig(n=200), 0)
    y = seq.targets[..., 0]
    opt = float(prob_bits_per_sequence(ngram_optimal(seq.inputs), y))
    coin = float(prob_bits_per_sequence(torch.full_like(y, 0.5), y))
    truth = float(prob_bits_per_sequence(p_true, y))
    assert coin == pytest.approx(199.0)
    assert truth < opt < coin


def test_bits_per_sequence_counts_only_scored_steps():
    s = make_copy(CopyConfig(n=2, length=4), 0)
    logits = torch.zeros_like(s.targets)  # p = 0.5 everywhere: one bit per scored bit
    assert float(bits_per_sequence(logits, s)) == pytest.approx(4 * 8)
