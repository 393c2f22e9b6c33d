import numpy as np
import pytest

from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic, to_dataset
from interp.tasks.reading import token_positions


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


@pytest.mark.parametrize("group_digits", [False, True])
def test_token_positions_any_tokenizer(group_digits):
    """Digits one per token, or up to three digits per token: positions still right."""
    from tests.conftest import char_tokenizer

    tok = char_tokenizer(group_digits)
    p = make_arithmetic(ArithmeticConfig(n=30, digits=(1, 4), shots=1), 0)
    pos = token_positions(tok, p, prepend_bos=True)
    for i, text in enumerate(p.prompts):
        ids = [tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]
        pieces = [tok.decode([t]) for t in ids]
        assert pieces[pos["equals"][i]] == "="
        assert pieces[pos["last"][i]] == "="
        last_op = pieces[pos["last_operand"][i]]
        assert last_op.isdigit() and str(p.b[i]).endswith(last_op)
    if group_digits:  # a 3-digit operand is one token there, three tokens without grouping
        assert any(len(tok.decode([t])) > 1 for t in tok("123+4=")["input_ids"])


def test_dataset_roundtrip(tmp_path):
    from datasets import load_from_disk

    p = make_arithmetic(ArithmeticConfig(n=40), 0)
    to_dataset(p).save_to_disk(str(tmp_path / "ds"))
    ds = load_from_disk(str(tmp_path / "ds"))
    assert ds["prompt"] == p.prompts and ds["digit_2"] == p.labels["digit_2"].tolist()


def test_emit_reads_each_digit_where_it_is_written(tiny_model):
    """`emit` feeds the prompt and its answer; scale k is read at the token before the answer's scale-k digit."""
    from interp.tasks.reading import probe_texts, read_positions

    tok = tiny_model.tokenizer  # one token per character
    problems = make_arithmetic(ArithmeticConfig(n=40, shots=1), 0)
    texts = probe_texts(problems)
    pos = read_positions(tok, problems, prepend_bos=False)
    for i, (prompt, text) in enumerate(zip(problems.prompts, texts, strict=True)):
        answer = str(problems.answer[i])
        assert text == prompt + answer
        for k in range(1, 5):
            if k <= len(answer):
                assert text[pos[i, k - 1] + 1] == answer[-k]  # the next character is the digit at scale k
            else:
                assert text[pos[i, k - 1]] == "="  # not written: read at '=', and its label is masked out
    assert (problems.labels["written_digits"] == [len(str(a)) for a in problems.answer]).all()
    padded = make_arithmetic(ArithmeticConfig(n=5, digits=(1, 4), pad=4, shots=0), 0)
    assert all(len(t) - len(p) == 5 for t, p in zip(probe_texts(padded), padded.prompts, strict=True))


@pytest.mark.parametrize("digits", [(2, 2), (1, 4)])
def test_emit_never_reads_inside_the_answer_when_digits_are_grouped(digits):
    """A tokenizer that writes `47` or `422` as one token: every read position ends before its digit, scales
    written by one token share the position before it, and the answer is not one token per digit."""
    from interp.tasks.reading import probe_texts, read_plan
    from tests.conftest import char_tokenizer

    tok = char_tokenizer(group_digits=True)
    problems = make_arithmetic(ArithmeticConfig(n=200, digits=digits, shots=1), 0)
    reads = read_plan(tok, problems, prepend_bos=True)
    leaks = 0
    for i, (prompt, text) in enumerate(zip(problems.prompts, probe_texts(problems), strict=True)):
        offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        for k in range(1, min(len(text) - len(prompt), 4) + 1):
            leaks += offsets[reads.pos[i, k - 1] - 1][1] > len(text) - k  # -1: BOS
    assert leaks == 0
    assert not reads.digits_split and reads.shared[0, 1] > 0 and "1-2" in reads.sharing()
    split = read_plan(char_tokenizer(), problems, prepend_bos=True)
    assert split.digits_split and not split.shared.any()
