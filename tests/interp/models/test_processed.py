"""Processed weights kept in the cache: the same model as TransformerLens's processing, without its peak."""

import json

import pytest
import torch

from interp.core.errors import InterpError
from interp.models import loading, processed
from tests.interp.models.test_precision import tiny_qwen


def outputs(bridge, ids):
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids)
    return {k: v for k, v in cache.items() if k.endswith(("hook_resid_post", "hook_attn_out", "hook_z"))}


def tiny_gemma3(path):
    """A tiny Gemma 3 (sliding-window layers, tied embeddings) with the test tokenizer."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from tests.conftest import char_tokenizer

    tok = char_tokenizer()
    cfg = Gemma3TextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=64, sliding_window=4, bos_token_id=1,
        eos_token_id=2, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    Gemma3ForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.parametrize("kind", ["qwen", "llama", "gemma3"])
def test_kept_weights_are_the_processed_model(tmp_path, tiny_dir, kind, monkeypatch):
    """The first load processes under `lean_processing`: its weights are TransformerLens's own, bit for bit."""
    import shutil

    from transformer_lens.weight_processing import ProcessWeights

    make = {"qwen": tiny_qwen, "gemma3": tiny_gemma3, "llama": lambda p: shutil.copytree(tiny_dir, p)}[kind]
    path = make(tmp_path / "m")
    ids = torch.randint(4, 40, (2, 10), generator=torch.Generator().manual_seed(1))
    reference, _ = loading.boot(path, processing=True)
    steps = {name: ProcessWeights.__dict__[name] for name in ("center_unembed", "fold_value_biases")}
    kept, _ = loading.kept_bridge(path, torch.float32)  # first load: processes and writes the files
    assert processed.record(path) is not None and processed.processed_file(path, "float32").is_file()
    assert all(ProcessWeights.__dict__[name] is step for name, step in steps.items())  # put back
    want_sd, got_sd = reference.state_dict(), kept.state_dict()
    assert list(want_sd) == list(got_sd) and all(torch.equal(want_sd[k], got_sd[k]) for k in want_sd)
    for bridge in (kept, loading.kept_bridge(path, torch.float32)[0]):  # the second reads them
        want, got = outputs(reference, ids), outputs(bridge, ids)
        assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
        assert torch.equal(reference(ids), bridge(ids))
    if kind == "qwen":  # value-bias folding gave the output projections biases the raw model lacks
        assert "blocks.0.attn.o.bias" in kept.state_dict()
    calls = []
    real_boot = loading.boot
    monkeypatch.setattr(loading, "boot", lambda p, processing: calls.append(processing) or real_boot(p, processing))
    fast, _ = loading.kept_bridge(path, torch.bfloat16)
    loading.kept_bridge(path, torch.bfloat16)
    assert calls == [False, False, False]  # no processing again; the bfloat16 file is written once
    assert fast.blocks[0].attn.q.original_component.weight.dtype == torch.bfloat16


def test_a_changed_file_is_refused(tmp_path):
    path = tiny_qwen(tmp_path / "m")
    loading.kept_bridge(path, torch.float32)
    rec = json.loads((path / processed.RECORD).read_text())
    rec["logprobs"][3] += 0.01
    (path / processed.RECORD).write_text(json.dumps(rec))
    with pytest.raises(InterpError, match="processed weights in .* the fast path gives"):
        loading.kept_bridge(path, torch.float32)


def test_another_transformer_lens_version_rebuilds(tmp_path):
    path = tiny_qwen(tmp_path / "m")
    loading.kept_bridge(path, torch.float32)
    rec = json.loads((path / processed.RECORD).read_text())
    (path / processed.RECORD).write_text(json.dumps(rec | {"transformer-lens": "0.0.1"}))
    assert processed.record(path) is None
    loading.kept_bridge(path, torch.float32)
    assert processed.record(path) is not None


def test_processing_is_checked_against_the_raw_model(tmp_path):
    """`check_processed` refuses a processed model whose log-probs moved, or whose value biases were left."""
    from interp.core.selfcheck import SelfCheckError
    from interp.models.lean_processing import check_processed

    path = tiny_qwen(tmp_path / "m")
    _, _, hf, tok = loading.load_hf(str(path))
    ids, raw = processed.raw_logprobs(hf, tok)
    bridge, _ = loading.boot(path, processing=True)
    assert check_processed(bridge, ids, raw) < 1e-4
    with pytest.raises(SelfCheckError, match="differ from the raw model"):
        check_processed(bridge, ids, raw + 0.01)
    with torch.no_grad():
        bridge.blocks[1].attn.v.original_component.bias.fill_(0.5)
    with pytest.raises(SelfCheckError, match="blocks.1.attn.v.bias was not folded"):
        check_processed(bridge, ids, raw)


def test_lean_processing_puts_transformer_lens_back_on_error():
    from transformer_lens.weight_processing import ProcessWeights

    from interp.models.lean_processing import lean_processing

    before = ProcessWeights.__dict__["center_unembed"]
    with pytest.raises(RuntimeError), lean_processing():
        assert ProcessWeights.__dict__["center_unembed"] is not before
        raise RuntimeError
    assert ProcessWeights.__dict__["center_unembed"] is before
