"""Attention in the fast format, for the plain Hugging Face model's long-context NLL.

At 32K tokens a model that attends over its whole context (Qwen: every layer) spends most of its time in
the attention itself, which the fast format (`interp.models.precision.to_mixed`) leaves in float32. This
registers an SDPA variant with transformers that hands the query, keys and values to PyTorch's SDPA in the
fast format (on a CPU with bfloat16 matrix units its flash kernel then runs about twice as fast; it keeps
the softmax's running sums in float32) and returns float32. The KV cache stays float32. A run that uses it
is checked against float32 like every fast path (`interp.runs.nll.to_format`).

Keeping attention over fewer than 2,048 keys in float32 was tried: it cut the gain on Gemma at 32K from
1.44-1.72x to 1.31x and did not shrink the change of the first positions' NLL, which comes from the bfloat16
matmuls (BENCHMARKS.md, "Long-context NLL").
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

FAST_SDPA = "interp_fast_sdpa"


def fast_sdpa(module: torch.nn.Module, query, key, value, attention_mask, **kwargs):
    """transformers' SDPA attention with query, keys, values (and an additive mask) in `module.fast_dtype`."""
    dtype = module.fast_dtype
    if attention_mask is not None and attention_mask.is_floating_point():
        attention_mask = attention_mask.to(dtype)
    out, weights = sdpa_attention_forward(
        module, query.to(dtype), key.to(dtype), value.to(dtype), attention_mask, **kwargs
    )
    return out.float(), weights


def use_fast_attention(hf, dtype: torch.dtype) -> int:
    """Switch an SDPA model's attention to `fast_sdpa` in `dtype`, in place; returns how many attention
    modules run it (0, and nothing changes, for a model not on SDPA: eager attention returns its weights).

    >>> import transformers
    >>> hf = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(hidden_size=16,
    ...     intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, vocab_size=40),
    ...     attn_implementation="sdpa")
    >>> use_fast_attention(hf, torch.bfloat16)
    2
    """
    if hf.config._attn_implementation != "sdpa":
        return 0
    AttentionInterface.register(FAST_SDPA, fast_sdpa)
    AttentionMaskInterface.register(FAST_SDPA, sdpa_mask)
    modules = [m for n, m in hf.named_modules() if n.endswith("self_attn")]
    for m in modules:
        m.fast_dtype = dtype
    hf.set_attn_implementation(FAST_SDPA)
    return len(modules)


__all__ = ["FAST_SDPA", "fast_sdpa", "use_fast_attention"]
