import numpy as np
import pytest
import torch

from interp.context.nll import token_nll
from interp.context.stats import ContextStats, StatsConfig, bucket_of

CFG = StatsConfig(far=(2, 10), edges=((0, 0), (1, 8), (9, 64)))


def test_bucket_of():
    pos = torch.tensor([0, 1, 8, 9, 64, 65])
    assert bucket_of(pos, CFG.edges).tolist() == [0, 1, 1, 2, 2, 2]


@pytest.fixture(scope="module")
def eager_hf(tiny_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32, attn_implementation="eager").eval()


def test_chunked_stats_match_bridge_cache(tiny_dir, eager_hf):
    """Stats gathered chunk by chunk from HF hooks equal those computed from the bridge's full cache."""
    from interp import load_model

    ids = torch.randint(4, 40, (2, 40), generator=torch.Generator().manual_seed(1))
    st = ContextStats(eager_hf.config.num_hidden_layers, CFG)
    with st.attach(eager_hf):
        token_nll(eager_hf, ids, chunk=7)
    got = st.result()

    bridge = load_model(str(tiny_dir), fold_weights=False)
    _, cache = bridge.run_with_cache(ids)
    b = bucket_of(torch.arange(ids.shape[1] - 1), CFG.edges)  # token_nll feeds positions 0..T-2
    n = torch.bincount(b, minlength=3).double() * ids.shape[0]
    assert got["count"].tolist() == n.tolist()

    def means(x):  # [batch, pos] -> per-bucket mean
        return torch.zeros(3, dtype=torch.float64).index_add_(0, b, x[:, :-1].double().sum(0)) / n

    for li in range(bridge.cfg.n_layers):
        for s, site in enumerate(got["sites"]):
            want = means(cache[f"blocks.{li}.hook_{site}"].norm(dim=-1))
            np.testing.assert_allclose(got["norm"][s, li], want.numpy(), rtol=1e-4)
        pat = cache[f"blocks.{li}.attn.hook_pattern"]  # [batch, head, q, k]; causal, so the last key changes nothing
        q = torch.arange(pat.shape[-2])
        dist = q[:, None] - q[None, :]
        for i, k in enumerate(CFG.far):
            far = (pat * (dist > k)).sum(-1).mean(1)
            np.testing.assert_allclose(got["far"][i, li], means(far).numpy(), atol=1e-5)
        np.testing.assert_allclose(got["first"][li], means(pat[..., 0].mean(1)).numpy(), atol=1e-5)


def test_sdpa_model_is_refused(tiny_hf):
    st = ContextStats(tiny_hf.config.num_hidden_layers, CFG)
    with pytest.raises(RuntimeError, match="eager"), st.attach(tiny_hf):
        token_nll(tiny_hf, torch.arange(4, 20)[None], chunk=8)


def test_hooks_are_removed(eager_hf):
    st = ContextStats(eager_hf.config.num_hidden_layers, CFG)
    with st.attach(eager_hf):
        pass
    token_nll(eager_hf, torch.arange(4, 20)[None], chunk=8)
    assert st.count.sum() == 0


def test_sliding_window_cache_keys_are_placed_by_position():
    """Sliding-window layers keep only the last keys: key j sits at position key0 + j, and position 0 is absent."""
    st = ContextStats(1, StatsConfig(far=(1,), edges=((0, 0), (1, 8), (9, 64))))
    st._pos = torch.arange(10, 14)  # queries 10..13
    w = torch.softmax(torch.randn(1, 2, 4, 6, generator=torch.Generator().manual_seed(0)), -1)  # keys 8..13
    st._attn(0)(None, None, (None, w))
    keypos = torch.arange(8, 14)
    want = ((w * ((st._pos[:, None] - keypos[None, :]) > 1)).sum(-1).mean(1)).sum()
    assert st.far_sum[0, 0, 2] == pytest.approx(float(want), rel=1e-6)
    assert st.first_sum[0].sum() == 0
