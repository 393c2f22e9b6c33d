"""Where probes read: every position ends before its digit, for any tokenizer."""

import pytest

from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic
from interp.tasks.reading import token_positions


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
