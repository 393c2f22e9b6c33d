import numpy as np
import pytest

from interp.interventions.heads import HeadPatchConfig, run_head_patching, top_heads
from interp.interventions.pairs import pair_tokens
from interp.interventions.patching import PatchConfig, Site, naive_patch
from interp.interventions.sublayers import run_patching
from interp.tasks.arithmetic import ArithmeticConfig, make_pairs


@pytest.fixture(scope="module")
def batch(tiny_model):
    pairs = make_pairs(ArithmeticConfig(n=6, digits=(2, 2), shots=2), seed=0)
    b, kept = pair_tokens(tiny_model, pairs)
    assert len(kept) == 6
    return b


def test_every_head_together_equals_the_attn_out_patch(tiny_model, batch):
    heads = run_head_patching(tiny_model, **batch, cfg=HeadPatchConfig(per_position=False))
    layers = run_patching(tiny_model, **batch, cfg=PatchConfig(per_position=False, ablations=False))
    np.testing.assert_allclose(heads.effect_layer, layers.effect[0], atol=1e-4)
    assert heads.effect.shape == (tiny_model.cfg.n_layers, tiny_model.cfg.n_heads)


def test_batched_head_grid_equals_the_naive_loop(tiny_model, batch):
    L, H = tiny_model.cfg.n_layers, tiny_model.cfg.n_heads
    res = run_head_patching(tiny_model, **batch, cfg=HeadPatchConfig(per_position=True, rows_per_forward=12))
    args = (tiny_model, batch["clean"], batch["corrupt"], batch["good"], batch["bad"])
    denom = res.ld_clean - res.ld_corrupt
    want = naive_patch(*args, [Site("z", layer, None, h) for layer in range(L) for h in range(H)])
    np.testing.assert_allclose(res.effect.ravel() * denom + res.ld_corrupt, want, atol=1e-4)
    S = res.effect_pos.shape[-1]
    want = naive_patch(*args, [Site("z", layer, q, h) for layer in range(L) for h in range(H) for q in range(S)])
    np.testing.assert_allclose(res.effect_pos.ravel() * denom + res.ld_corrupt, want, atol=1e-4)


def test_top_heads_and_their_attention(tiny_model, batch):
    res = run_head_patching(tiny_model, **batch, cfg=HeadPatchConfig(top_k=3))
    assert [t["effect"] for t in res.top] == sorted(res.effect.ravel(), reverse=True)[:3]
    assert res.pattern.shape == (3, batch["clean"].shape[1]) and len(res.tokens) == batch["clean"].shape[1]
    np.testing.assert_allclose(res.pattern.sum(1), 1.0, atol=1e-5)  # a distribution over the prompt


def test_top_heads_skips_nan():
    eff = np.array([[0.1, np.nan], [0.5, -0.2]])
    assert [(t["layer"], t["head"]) for t in top_heads(eff, 2)] == [(1, 0), (0, 0)]
