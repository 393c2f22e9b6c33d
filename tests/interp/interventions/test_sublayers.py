import numpy as np
import pytest
import torch

from interp.interventions.pairs import pair_tokens
from interp.interventions.patching import PatchConfig, Site, naive_patch
from interp.interventions.sublayers import run_patching
from interp.tasks.arithmetic import ArithmeticConfig, make_pairs


@pytest.fixture(scope="module")
def batch(tiny_model):
    pairs = make_pairs(ArithmeticConfig(n=6, digits=(2, 2), shots=2), seed=0)
    b, kept = pair_tokens(tiny_model, pairs)
    assert len(kept) == 6  # a character tokenizer: every pair lines up
    return b


def test_fast_grid_matches_naive_loop(tiny_model, batch):
    L = tiny_model.cfg.n_layers
    res = run_patching(tiny_model, **batch, cfg=PatchConfig(rows_per_forward=12))
    assert res.prefix_tokens > 10 and res.suffix_tokens == 6
    sites = [Site(k, layer) for k in ("attn_out", "mlp_out") for layer in range(L)]
    want = naive_patch(tiny_model, batch["clean"], batch["corrupt"], batch["good"], batch["bad"], sites)
    np.testing.assert_allclose(res.raw.ravel(), want, atol=1e-4)
    pos_sites = [Site(k, layer, q) for k in ("attn_out", "mlp_out") for layer in range(L) for q in range(6)]
    want = naive_patch(tiny_model, batch["clean"], batch["corrupt"], batch["good"], batch["bad"], pos_sites)
    np.testing.assert_allclose(res.raw_pos.ravel(), want, atol=1e-4)
    # patching the last layer's MLP at every position gives the clean final residual minus nothing else
    logits = tiny_model(batch["clean"])[:, -1]
    rows = torch.arange(6)
    assert res.ld_clean == pytest.approx(
        float((logits[rows, batch["good"]] - logits[rows, batch["bad"]]).mean()), abs=1e-4
    )


def test_a_patch_nothing_reads_has_no_effect(tiny_model, batch):
    """The last layer's output at an earlier position reaches nothing downstream: effect exactly 0 there,
    while the last position carries the answer."""
    res = run_patching(tiny_model, **batch, cfg=PatchConfig())
    last = tiny_model.cfg.n_layers - 1
    np.testing.assert_allclose(res.effect_pos[:, last, :-1], 0.0, atol=1e-5)
    assert np.abs(res.effect_pos[:, last, -1]).max() > 1e-3
    assert res.zero_ablation.shape == res.mean_ablation.shape == (2, tiny_model.cfg.n_layers)
    assert res.act_norm.shape == (2, tiny_model.cfg.n_layers, 6)
    assert run_patching(tiny_model, **batch, cfg=PatchConfig(per_position=False, ablations=False)).raw_pos is None


def test_batch_size_does_not_change_results(tiny_model, batch):
    a = run_patching(tiny_model, **batch, cfg=PatchConfig(rows_per_forward=6, ablations=False))
    b = run_patching(tiny_model, **batch, cfg=PatchConfig(rows_per_forward=600, ablations=False))
    np.testing.assert_allclose(a.raw_pos, b.raw_pos, atol=1e-5)


@torch.no_grad()
def _plain_ablation(model, clean, good, bad, hook_name, value_fn):
    """One whole-prompt forward of the clean prompts with the hook replaced, full logits: the reference."""
    rows = torch.arange(len(clean))
    logits = model.run_with_hooks(clean, fwd_hooks=[(hook_name, lambda x, hook: value_fn(x))])[:, -1]
    return float((logits[rows, good] - logits[rows, bad]).mean())


def test_ablations_cover_the_whole_prompt(tiny_model, batch):
    """Zero ablation zeroes the sublayer at every position, the shared few-shot prefix included; mean ablation
    puts each position's mean over prompts everywhere. Both against plain whole-prompt forwards."""
    res = run_patching(tiny_model, **batch, cfg=PatchConfig(per_position=False))
    clean, good, bad = batch["clean"], batch["good"], batch["bad"]
    _, cache = tiny_model.run_with_cache(clean)
    lc, lk = res.ld_clean, res.ld_corrupt
    for si, site in enumerate(res.sites):
        for layer in range(tiny_model.cfg.n_layers):
            name = Site(site, layer).hook
            zero = _plain_ablation(tiny_model, clean, good, bad, name, torch.zeros_like)
            mean = _plain_ablation(
                tiny_model, clean, good, bad, name, lambda x, n=name: cache[n].mean(0, keepdim=True).expand_as(x)
            )
            assert res.zero_ablation[si, layer] == pytest.approx((zero - lk) / (lc - lk), abs=1e-4)
            assert res.mean_ablation[si, layer] == pytest.approx((mean - lk) / (lc - lk), abs=1e-4)
