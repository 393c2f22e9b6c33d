"""Attention in the fast format: SDPA really runs in bfloat16, and the NLL stays close to float32."""

import pytest
import torch
import transformers

from interp.context.nll import token_nll
from interp.models.fast_attention import use_fast_attention

CONFIGS = {
    "qwen2 (grouped keys)": transformers.Qwen2Config(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        vocab_size=60,
    ),
    "gemma3 (sliding windows)": transformers.Gemma3TextConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=6, num_attention_heads=2, num_key_value_heads=1,
        head_dim=32, vocab_size=60, sliding_window=8,
    ),
}  # fmt: skip


def model(config, attn="sdpa"):
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(config, attn_implementation=attn).eval()


@pytest.mark.parametrize("name", CONFIGS)
def test_fast_attention_runs_sdpa_in_bfloat16_and_keeps_the_nll(name, monkeypatch):
    hf = model(CONFIGS[name])
    ids = torch.randint(0, 60, (1, 48), generator=torch.Generator().manual_seed(1))
    exact = token_nll(hf, ids, chunk=16)  # through the cache: sliding windows and chunks both matter
    assert use_fast_attention(hf, torch.bfloat16) == CONFIGS[name].num_hidden_layers
    seen = spy_sdpa(monkeypatch)
    fast = token_nll(hf, ids, chunk=16)
    assert seen and set(seen) == {torch.bfloat16}
    assert fast.dtype == torch.float32
    assert (fast - exact).abs().max() < 0.05 and (fast - exact).abs().max() > 0  # bfloat16 rounding, not a bug


def spy_sdpa(monkeypatch) -> list:
    """The query dtypes PyTorch's SDPA is called with, from now on."""
    seen = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, *args, **kwargs):
        seen.append(q.dtype)
        return real(q, k, v, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return seen


def test_eager_attention_is_left_alone():
    hf = model(CONFIGS["qwen2 (grouped keys)"], attn="eager")
    assert use_fast_attention(hf, torch.bfloat16) == 0
    assert hf.config._attn_implementation == "eager"
