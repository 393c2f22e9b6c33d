"""The fast number format: chosen from the hardware, bfloat16 matmuls around a float32 residual stream."""

from pathlib import Path

import pytest
import torch

from interp.core.errors import InterpError
from interp.core.selfcheck import relative_distance
from interp.models import precision


def tiny_qwen(tmp_path, seed=0, hidden=32):
    """A tiny Qwen2 (attention biases, like the default model) with the test tokenizer, `hidden` wide."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from tests.conftest import char_tokenizer

    tok = char_tokenizer()
    cfg = Qwen2Config(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():  # biases in the hundreds, as the default model's: bfloat16 would round them by units
        for layer in model.model.layers:
            layer.self_attn.k_proj.bias.normal_(0, 100)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    return tmp_path


def test_cpu_flags_and_auto(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    flags = precision.cpu_flags(info)
    assert "avx512_bf16" in flags and precision.cpu_flags(tmp_path / "none") == set()
    fast = precision.choose_format("auto", "cpu", flags=flags)
    assert fast.dtype == "bfloat16" and "avx512_bf16" in fast.reason and fast.fast
    slow = precision.choose_format(None, "cpu", flags={"avx2"})
    assert slow.dtype == "float32" and "no bfloat16 matrix units" in slow.reason and not slow.fast
    assert precision.choose_format("float32", "cpu", flags=flags).dtype == "float32"
    with pytest.raises(InterpError, match="unknown dtype 'float8'"):
        precision.choose_format("float8", "cpu")


def test_bfloat16_asked_for_without_matrix_units_says_so_before_any_work(tmp_path, monkeypatch, capsys):
    """A CPU without bfloat16 units runs bfloat16 matmuls far slower than float32: the run goes on (it is
    valid), its recorded reason says so, and the command says so in one line before loading anything."""
    from interp.cli import capture

    asked = precision.choose_format("bfloat16", "cpu", flags={"avx2"})
    assert asked.dtype == "bfloat16" and "no bfloat16 matrix units" in asked.reason
    assert precision.choose_format("bfloat16", "cpu", flags={"amx_bf16"}).reason == "asked for"
    assert precision.choose_format("float32", "cpu", flags={"avx2"}).reason == "exact, the default"
    loads = []
    monkeypatch.setattr(capture, "guarded_load", lambda *a, **k: loads.append(a) or 1 / 0)  # stops the run
    for flags, noted in (({"avx2"}, True), ({"avx512_bf16"}, False)):
        monkeypatch.setattr(precision, "cpu_flags", lambda flags=flags: flags)
        prompts = tmp_path / "p.txt"
        prompts.write_text("1+1=\n")
        with pytest.raises(ZeroDivisionError):
            capture.main(
                ["--model", "x", "--prompts", str(prompts), "--dtype", "bfloat16", "--out", str(tmp_path / "o")]
            )
        err = capsys.readouterr().err
        assert ("note: this cpu has no bfloat16 matrix units" in err) is noted
        assert err.count("\n") == noted  # one line, or none
    assert len(loads) == 2  # the note came before the load


def test_mixed_keeps_residual_bias_and_readout_in_float32(tmp_path):
    from transformers import AutoModelForCausalLM

    path = tiny_qwen(tmp_path)
    ref = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    fast = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    assert precision.to_mixed(fast, torch.bfloat16, d_model=32) == 14  # 7 per layer; lm_head kept
    attn, mlp = fast.model.layers[0].self_attn, fast.model.layers[0].mlp
    assert attn.q_proj.weight.dtype == torch.bfloat16 and attn.q_proj.bias.dtype == torch.float32
    assert fast.lm_head.weight.dtype == torch.float32 and fast.model.embed_tokens.weight.dtype == torch.float32
    assert precision.compute_dtype(fast) == torch.bfloat16 and precision.compute_dtype(ref) == torch.float32
    ids = torch.randint(4, 40, (3, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = ref(ids, output_hidden_states=True), fast(ids, output_hidden_states=True)
        gate = mlp.gate_proj(torch.randn(2, 32))
    assert all(h.dtype == torch.float32 for h in b.hidden_states) and b.logits.dtype == torch.float32
    assert gate.dtype == torch.bfloat16  # a widening projection hands bfloat16 to the next matmul
    tol = precision.guard_tolerance(torch.bfloat16)
    for x, y in zip(a.hidden_states, b.hidden_states, strict=True):
        assert 0 < relative_distance(y, x) < tol / 4 or torch.equal(x, y)
    # the biases in the hundreds stay exact: rounding them to bfloat16 alone would move keys by far more
    x = torch.randn(5, 32, generator=torch.Generator().manual_seed(2))
    k_ref, bias = ref.model.layers[0].self_attn.k_proj, attn.k_proj.bias
    with torch.no_grad():
        gap = (attn.k_proj(x) - k_ref(x)).abs().max()
    rounding = (bias.bfloat16().float() - bias).abs().max()
    assert rounding > 0.2 and gap < rounding / 4


def mapped(path) -> bool:
    return any(line.rstrip().endswith(str(path)) for line in open("/proc/self/maps"))


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc/self/maps")
def test_own_float32_lets_the_weights_file_map_go_and_changes_no_number(tmp_path):
    """After `to_mixed`, the float32 parameters still point into the safetensors map; copying them releases
    it (with its pages), ties stay ties, and the outputs do not move."""
    import gc

    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, tie_word_embeddings=True)  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path)
    file = tmp_path / "model.safetensors"
    fast = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    assert fast.lm_head.weight is fast.model.embed_tokens.weight
    precision.to_mixed(fast, torch.bfloat16, d_model=16, keep=("lm_head", "embed_tokens"))
    ids = torch.randint(0, 40, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = fast(ids).logits
    gc.collect()
    assert mapped(file)  # the embedding and norms still live in the file's map
    copied = precision.own_float32(fast)
    gc.collect()
    assert not mapped(file)
    norms = 3 * 16 * 4  # two per layer and the final one, float32
    assert copied == 40 * 16 * 4 + norms  # the tied embedding once
    assert fast.lm_head.weight is fast.model.embed_tokens.weight
    with torch.no_grad():
        assert torch.equal(fast(ids).logits, before)


def test_mixed_bridge_captures_within_the_guard(tiny_dir):
    from interp import capture, load_model, model_info

    ref = load_model(str(tiny_dir))
    fast = load_model(str(tiny_dir), dtype="bfloat16")
    assert model_info(fast).dtype == "bfloat16" and model_info(ref).dtype == "float32"
    texts = ["12+35=47\n3+4=", "7+8=15\n20+5=", "1+1="]
    a = capture(ref, texts, sites=["resid_post", "attn_out"], layers="all")  # the self-check runs in both
    b = capture(fast, texts, sites=["resid_post", "attn_out"], layers="all")
    for site in a:
        assert 0 < relative_distance(b[site], a[site]) < precision.guard_tolerance(torch.bfloat16)
    with pytest.raises(InterpError, match="dtype torch.int8 is not supported"):
        load_model(str(tiny_dir), dtype=torch.int8)
