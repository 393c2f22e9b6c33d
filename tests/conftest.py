"""Tiny random models built locally: no network, no downloads, seconds to build."""

from __future__ import annotations

import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # the workers share the cores: torch threads would oversubscribe
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

CHARS = list("0123456789+-*= \nabcdefghijklmnopqrstuvwxyz.,")


def char_tokenizer(group_digits: bool = False):
    """A Hugging Face fast tokenizer over characters.

    With `group_digits`, runs of up to three digits are single tokens, like
    tokenizers that do not split numbers into digits.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    for c in CHARS:
        vocab[c] = len(vocab)
    if group_digits:
        for k in range(100):
            vocab.setdefault(str(k), len(vocab))
            vocab.setdefault(f"{k:02d}", len(vocab))
        for k in range(1000):
            vocab.setdefault(f"{k:03d}", len(vocab))
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    pattern = r"\d{1,3}|." if group_digits else "."
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tk.decoder = decoders.Fuse()  # decode to the text itself, not tokens joined by spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def save_tiny_llama(path, group_digits: bool = False, n_layers: int = 2, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = char_tokenizer(group_digits)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_model(tiny_dir):
    from interp import load_model

    return load_model(str(tiny_dir))


@pytest.fixture(scope="session")
def tiny_hf(tiny_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
