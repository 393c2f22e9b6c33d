import numpy as np
import pytest

from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic, to_dataset


def test_same_seed_same_problems():
    cfg = ArithmeticConfig(n=50)
    a, b = make_arithmetic(cfg, 3), make_arithmetic(cfg, 3)
    assert a.prompts == b.prompts and all((a.labels[k] == b.labels[k]).all() for k in a.labels)
    assert make_arithmetic(cfg, 4).prompts != a.prompts


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_labels_are_right(op):
    p = make_arithmetic(ArithmeticConfig(n=200, op=op, digits=(1, 3), shots=2), 0)
    sym = {"add": "+", "sub": "-", "mul": "*"}[op]
    for i in range(20):
        q = p.prompts[i].rsplit("\n", 1)[-1]
        assert q == f"{p.a[i]}{sym}{p.b[i]}="
        assert p.answer[i] == eval(q[:-1])
        for k in range(1, 5):
            assert p.labels[f"digit_{k}"][i] == int(str(p.answer[i]).zfill(8)[-k])
    assert p.prompts[0].count("\n") == 2
    assert (p.answer >= 0).all()
    lengths = {len(str(v)) for v in np.concatenate([p.a, p.b])}
    assert lengths == {1, 2, 3}


def test_carries():
    p = make_arithmetic(ArithmeticConfig(n=300, digits=(2, 2)), 1)
    c1 = (p.a % 10 + p.b % 10 >= 10).astype(int)
    assert (p.labels["carry_1"] == c1).all()


def test_bad_config():
    with pytest.raises(ValueError, match="digits"):
        ArithmeticConfig(digits=(3, 1))
    with pytest.raises(ValueError, match="n must"):
        ArithmeticConfig(n=0)


def test_dataset_roundtrip(tmp_path):
    from datasets import load_from_disk

    p = make_arithmetic(ArithmeticConfig(n=40), 0)
    to_dataset(p).save_to_disk(str(tmp_path / "ds"))
    ds = load_from_disk(str(tmp_path / "ds"))
    assert ds["prompt"] == p.prompts and ds["digit_2"] == p.labels["digit_2"].tolist()
