import numpy as np

from interp.context.compare import paired
from interp.runs.reproduced import nll


def data(pairs):
    cum = np.ones((4, 99))
    summary = {"buckets": {"1-8": 5.0, "9-64": 3.0}, "bucket_ci": {"1-8": [4.0, 6.0], "9-64": [2.5, 3.5]}}
    return {"models": [{"model": m, "summary": summary, "cumulative": cum} for m in ("a", "b")], "paired": pairs}


def test_the_page_decides_the_comparison_on_the_paired_intervals():
    rng = np.random.default_rng(0)
    b = rng.normal(3, 1, (4, 100)) + rng.normal(0, 2, (4, 1))  # windows far apart: unpaired intervals overlap
    s = np.stack([np.arange(100), np.arange(1, 101)], -1)[None].repeat(4, 0)
    text, _ = nll(data([paired(b - 0.3, b, s, s, ("a", "b"))]))
    assert "per token the interval decides 3 of 3 buckets: 1-8 a lower" in text
    assert "Per character of the text both read (100 on average), a minus b is -0.3000" in text
    text, _ = nll(data([paired(b, b, s, s, ("a", "b"))]))
    assert "decides 0 of 3 buckets." in text and "the interval cannot decide" in text
