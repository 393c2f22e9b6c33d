import numpy as np
import pytest
import torch

from interp.interventions.atp import AtPConfig, agreement, attribution_patch, corrupted_gradients
from interp.interventions.pairs import pair_tokens
from interp.interventions.patching import Patcher, Site
from interp.tasks.arithmetic import ArithmeticConfig, make_pairs


@pytest.fixture(scope="module")
def batch(tiny_model):
    pairs = make_pairs(ArithmeticConfig(n=6, digits=(2, 2), shots=2), seed=0)
    b, kept = pair_tokens(tiny_model, pairs)
    assert len(kept) == 6
    return b


@pytest.mark.parametrize("name", ["blocks.0.hook_mlp_out", "blocks.1.hook_attn_out", "blocks.0.attn.hook_z"])
def test_gradients_reach_the_hook_points(tiny_model, batch, name):
    """d LD / d activation through the bridge's hooks equals a central finite difference."""
    ids, g, b = batch["corrupt"], batch["good"], batch["bad"]
    ld, acts, grads = corrupted_gradients(tiny_model, [name], ids, g, b)
    v = torch.randn(acts[name].shape, generator=torch.Generator().manual_seed(0))
    eps = 1e-3  # the tiny random model is strongly curved: larger steps leave the linear regime

    def shifted(s):
        with torch.no_grad(), tiny_model.hooks(fwd_hooks=[(name, lambda x, hook: x + s * v)]):
            logits = tiny_model(ids)[:, -1]
        rows = torch.arange(len(g))
        return (logits[rows, g] - logits[rows, b]).sum()

    fd = float((shifted(eps) - shifted(-eps)) / (2 * eps))
    assert float((grads[name] * v).sum()) == pytest.approx(fd, rel=1e-2, abs=1e-4)
    assert float(grads[name].abs().sum()) > 0


def test_estimate_is_the_slope_of_the_exact_patch(tiny_model, batch):
    """AtP = d/dt of the exact patched LD at t = 0, patching corrupt + t (clean - corrupt)."""
    res = attribution_patch(tiny_model, **batch, cfg=AtPConfig(batch=4))
    p = Patcher(tiny_model, **batch)
    # sites with effects well above float32 noise in a difference of two patched runs
    sites = [Site("mlp_out", 0), Site("attn_out", 1), Site("z", 1, None, 2), Site("z", 0, 5, 1), Site("mlp_out", 0, 5)]
    names = sorted({s.hook for s in sites})
    clean, corrupt = p.activations(p.clean, names), p.activations(p.corrupt, names)
    # The slope at 0 by least squares over symmetric steps: even-order terms cancel, and float32 noise in each
    # patched LD (about 1% of a single central difference at t = 1e-2 on some CPUs) averages out.
    ts = np.array([1e-2, 2e-2, 3e-2])
    for s in sites:
        lds = {
            u: float(p.sweep(p.corrupt, [s], lambda q, u=u: corrupt[q.hook] + u * (clean[q.hook] - corrupt[q.hook]))[0])
            for u in (*ts, *-ts)
        }
        odd = np.array([lds[t] - lds[-t] for t in ts])
        slope = float((odd * ts).sum() / (2 * (ts**2).sum())) / (res.ld_clean - res.ld_corrupt)
        est = res.estimate[s.kind][s.layer]
        est = est[s.head] if s.head is not None else est
        est = est.sum() if s.pos is None else est[s.pos]
        assert est == pytest.approx(slope, rel=1e-2), s


def test_last_layer_earlier_positions_estimate_zero(tiny_model, batch):
    res = attribution_patch(tiny_model, **batch)
    last = tiny_model.cfg.n_layers - 1
    np.testing.assert_allclose(res.estimate["mlp_out"][last, :-1], 0.0, atol=1e-6)
    assert res.estimate["z"].shape == (tiny_model.cfg.n_layers, tiny_model.cfg.n_heads, 6)


def test_agreement():
    e = np.array([0.9, 0.1, 0.5, -0.3, 0.0])
    same = agreement(e, e, k=2)
    assert same["spearman"] == pytest.approx(1.0) and same["top_k_overlap"] == 1.0
    flipped = agreement(e, -e, k=2)
    assert flipped["spearman"] == pytest.approx(-1.0) and flipped["worst"][0]["cell"] == 0


def test_per_pair_contributions_add_up_and_give_agreement_intervals(tiny_model, batch):
    from interp.interventions.sublayers import run_patching
    from interp.interventions.uncertainty import agreement_interval

    atp = attribution_patch(tiny_model, **batch, progress=False)
    n, (lc, lk) = atp.n_pairs, atp.ld_per_pair
    for kind in atp.estimate:  # the estimate is the pairs' mean contribution over the LD gap
        want = atp.layer(kind) if kind == "z" else atp.estimate[kind]  # z: positions summed
        np.testing.assert_allclose(atp.per_pair[kind].sum(0) / ((lc.mean() - lk.mean()) * n), want, atol=1e-5)
    res = run_patching(tiny_model, **batch, progress=False)
    exact = (res.patched_per_pair.reshape(n, -1), res.ld_clean_per_pair, res.ld_corrupt_per_pair)
    est = (np.stack([atp.per_pair[s].sum(-1) for s in res.sites], 1).reshape(n, -1), lc, lk)
    ci = agreement_interval(exact, est, k=3, seed=1)
    point = agreement(res.effect, np.stack([atp.layer(s) for s in res.sites]), k=3)
    lo, hi = ci["spearman_ci"]
    assert -1 <= lo <= hi <= 1 and lo - 0.2 <= point["spearman"] <= hi + 0.2
    assert ci == agreement_interval(exact, est, k=3, seed=1)  # seeded
    np.testing.assert_allclose(  # the exact grid rebuilt from its per-pair LDs
        (exact[0].mean(0) - exact[2].mean()) / (exact[1].mean() - exact[2].mean()), res.effect.ravel(), atol=1e-4
    )
    pos = res.patched_pos_per_pair  # [n, site, layer, position], and the per-position grid rebuilt from it
    np.testing.assert_allclose(
        (pos.mean(0) - exact[2].mean()) / (exact[1].mean() - exact[2].mean()), res.effect_pos, atol=1e-4
    )
