from interp.behaviour import greedy_continuations

PROMPTS = ["12+35=", "7+8=", "405+17=", "1+1=", "99+1=", "3+40="]


def test_greedy_equals_plain_generate(tiny_model, tiny_hf):
    """Token for token, batched with left padding, against transformers' own generate one prompt at a time."""
    tok = tiny_model.tokenizer
    got = greedy_continuations(tiny_model, PROMPTS, 8, batch_size=4, progress=False)
    for prompt, text in zip(PROMPTS, got, strict=True):
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        ref = tiny_hf.generate(input_ids=ids, max_new_tokens=8, do_sample=False, pad_token_id=0)[0, ids.shape[1] :]
        assert text == tok.decode(ref, skip_special_tokens=True)
    assert any(len(t) >= 4 for t in got)  # enough generated tokens that a broken cache would show
