from interp.models.behaviour import greedy_continuations

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


def test_decoding_leaves_a_bridge_booted_by_hand_as_it_was(tiny_dir):
    """The cache-threading pre-hooks go on for the call and come off after, on a model load_model did not make."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from interp.models.behaviour import greedy_continuations

    hf = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    bridge = TransformerBridge.boot_transformers(
        str(tiny_dir), hf_model=hf, tokenizer=AutoTokenizer.from_pretrained(tiny_dir), device="cpu"
    )
    from interp.models import kv

    ours = lambda: [h for m in bridge.modules() for h in m._forward_pre_hooks.values() if h is kv._rename_cache]  # noqa: E731
    assert len(greedy_continuations(bridge, ["12+3=", "4+5="], 3, progress=False)) == 2
    assert ours() == [] and not any(getattr(m, "_interp_threads_cache", False) for m in bridge.modules())
    with kv.threaded_cache(bridge):
        assert len(ours()) == bridge.cfg.n_layers  # the hooks were there for the call


def test_the_check_reads_the_answer_positions_of_a_whole_forward(tiny_hf):
    """The greedy check's logits, kept at the answer's positions only, are the whole forward's there; a
    forward without `logits_to_keep` gets the same slice of its whole logits."""
    import torch

    from interp.models.behaviour import uncached_answer_logits

    ids = torch.tensor([[0, 0, 5, 6, 7, 8, 9], [3, 4, 5, 6, 7, 8, 9]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1] * 7])
    with torch.no_grad():
        whole = tiny_hf(input_ids=ids, attention_mask=mask, use_cache=False).logits
        kept = uncached_answer_logits(tiny_hf, ids, mask, 3)

        class Plain(torch.nn.Module):  # a forward that takes no logits_to_keep
            def forward(self, input_ids, attention_mask, use_cache):
                return tiny_hf(input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache)

        sliced = uncached_answer_logits(Plain(), ids, mask, 3)
    assert kept.shape == (2, 3, whole.shape[-1])
    torch.testing.assert_close(kept, whole[:, 3:6], rtol=1e-5, atol=1e-5)
    assert torch.equal(sliced, whole[:, 3:6])
