import numpy as np
import pytest

from interp.interventions.pairs import pair_tokens
from interp.interventions.patching import Patcher, common_prefix
from interp.tasks.arithmetic import ArithmeticConfig, make_pairs


def test_pairs_share_prefix_and_change_answer():
    p = make_pairs(ArithmeticConfig(n=50, digits=(2, 2), shots=3), seed=1)
    prefixes = {c.rsplit("\n", 1)[0] for c in p.clean + p.corrupt}
    assert len(prefixes) == 1 and len(p) == 50
    assert all(len(c) == len(k) for c, k in zip(p.clean, p.corrupt, strict=True))
    assert all(str(x)[0] != str(y)[0] for x, y in zip(p.answer, p.answer_corrupt, strict=True))
    np.testing.assert_array_equal(p.answer, p.a + p.b)
    np.testing.assert_array_equal(p.answer_corrupt, p.a_corrupt + p.b)
    assert make_pairs(ArithmeticConfig(n=50, digits=(2, 2)), seed=1).clean == p.clean


def test_common_prefix():
    assert common_prefix([[1, 2, 3, 4], [1, 2, 5, 4]]) == 2
    assert common_prefix([[1, 2], [1, 2]]) == 1  # always leave one suffix token


@pytest.fixture(scope="module")
def batch(tiny_model):
    pairs = make_pairs(ArithmeticConfig(n=6, digits=(2, 2), shots=2), seed=0)
    b, kept = pair_tokens(tiny_model, pairs)
    assert len(kept) == 6  # a character tokenizer: every pair lines up
    return b


def test_shape_mismatch_is_refused(tiny_model, batch):
    with pytest.raises((ValueError, TypeError)):  # TypeError when jaxtyping checks shapes at runtime
        Patcher(tiny_model, batch["clean"], batch["corrupt"][:, :-1], batch["good"], batch["bad"])
