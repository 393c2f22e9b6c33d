import numpy as np

from interp.context.compare import nats_per_char, paired


def spans(windows: int, tokens: int, width: int, offset: int = 0) -> np.ndarray:
    s = offset + width * np.arange(tokens)
    return np.broadcast_to(np.stack([s, s + width], -1), (windows, tokens, 2)).copy()


def test_paired_difference_per_bucket_and_per_character():
    rng = np.random.default_rng(0)
    b = rng.normal(3.0, 1.0, (8, 100))  # windows differ a lot: pairing must cancel that
    b += rng.normal(0, 2.0, (8, 1))
    a = b - 0.25 + rng.normal(0, 0.01, b.shape)
    # a's tokens are one character each, b's two: per token a is lower, per character b is (b's NLL / 2)
    out = paired(a, b, spans(8, 100, 1), spans(8, 100, 2), ("A", "B"))
    assert out["windows"] == 8
    assert set(out["buckets"]) == {"1-8", "9-64", "65-512"}
    cell = out["buckets"]["9-64"]
    assert abs(cell["diff"] + 0.25) < 0.01 and cell["ci"][1] < 0 and cell["verdict"] == "A lower"
    # shared text: characters [0, 100), a's 100 tokens and b's first 50
    want = (a.sum(1) / 100 - b[:, :50].sum(1) / 100).mean()
    assert np.isclose(out["per_char"]["diff"], want) and out["per_char"]["chars"] == 100
    assert out["per_char"]["verdict"] == "B lower"  # per character b's tokens carry twice the text


def test_a_model_against_itself_cannot_be_told_apart():
    x = np.random.default_rng(1).normal(3, 1, (4, 20))
    out = paired(x, x, spans(4, 20, 3), spans(4, 20, 3), ("A", "A2"))
    assert all(c["diff"] == 0 and c["verdict"] == "cannot tell" for c in out["buckets"].values())
    assert out["per_char"]["diff"] == 0 and out["per_char"]["verdict"] == "cannot tell"


def test_per_character_counts_only_tokens_inside_the_span():
    nll = np.ones((1, 5))
    sp = spans(1, 5, 2)  # tokens at [0,2) [2,4) [4,6) [6,8) [8,10)
    assert nats_per_char(nll, sp, np.array([2]), np.array([8])) == 3 / 6
    assert nats_per_char(nll, sp, np.array([1]), np.array([9])) == 3 / 8  # partial tokens at the edges left out


def test_the_paired_interval_covers_a_known_difference_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(1000):
        window = rng.normal(3, 1, (6, 1))  # what both models share in a window
        b = window + rng.normal(0, 0.3, (6, 16))
        a = b - 0.1 + rng.normal(0, 0.2, (6, 1))  # the true per-window difference: -0.1, spread 0.2
        lo, hi = paired(a, b, None, None, ("a", "b"))["buckets"]["9-64"]["ci"]
        hits += lo <= -0.1 <= hi
    assert 930 <= hits <= 970
