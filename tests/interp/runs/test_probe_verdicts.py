"""The Accuracy Breakdown comparison calls a difference only where the intervals are apart."""

import numpy as np

from interp.runs.probe_verdicts import breakdown, control_reads, late_rise, scale_order


def data(acc, half_width=0.02, sel=0.1, sel_lo=0.05):
    acc = np.asarray(acc, float)  # [site, layer, scale]
    ci = np.stack([acc - half_width, acc + half_width], -1)
    sel_a = np.full(acc.shape, sel)
    sel_ci = np.stack([np.full(acc.shape, sel_lo), np.full(acc.shape, sel + 0.05)], -1)
    return {
        "sites": ["resid_post"], "layers": list(range(acc.shape[1])), "accuracy": acc, "selectivity": sel_a,
        "intervals": {"accuracy_ci": ci, "selectivity_ci": sel_ci},
    }  # fmt: skip


def test_late_rise_and_when_the_data_cannot_tell():
    rising = np.array([[[0.2, 0.5], [0.2, 0.5], [0.2, 0.5], [0.2, 0.5], [0.3, 0.4], [0.6, 0.3]]])  # 6 layers
    assert "rises in the late layers, as in the reference: from layer 4 of 6" in late_rise(data(rising))
    assert "cannot tell" in late_rise(data(rising, half_width=0.3))
    assert "reads worse late" in late_rise(data(rising), scale=1)


def test_scale_order_and_control():
    falling = np.array([[[0.8, 0.6, 0.4]] * 4])
    assert scale_order(data(falling)).endswith("Accuracy falls with digit scale, as published.")
    flat = scale_order(data(falling, half_width=0.15))
    assert "does not fall with each digit scale: ones to tens cannot be told apart" in flat
    assert "selectivity over its control task there is +0.10 [+0.05, +0.15], above zero" in control_reads(data(falling))
    assert "not distinguishable from zero" in control_reads(data(falling, sel_lo=-0.01))
    assert "no probe intervals" in breakdown({"intervals": None})


def test_the_sublayer_verdict_counts_cells_by_their_interval():
    from interp.runs.reproduced import sublayers

    effect = np.array([[0.5, 0.12, 0.0], [1.0, 0.3, 0.05]])  # attn_out, mlp_out x 3 layers
    ci = np.stack([effect - 0.05, effect + 0.05], -1)
    d = {"effect": effect, "sites": ["attn_out", "mlp_out"], "model": "m", "n_pairs": 10}
    assert "2 attention and 2 MLP sublayers reach a normalised effect of 0.1" in sublayers(d)[0]
    # 0.12 [0.07, 0.17] no longer counts: its interval does not clear 0.1
    assert (
        "1 attention and 2 MLP sublayers reach 0.1 with their whole 95% interval" in sublayers(d | {"effect_ci": ci})[0]
    )
    ci[0, 1, 0] = 0.11
    assert "2 attention and 2 MLP" in sublayers(d | {"effect_ci": ci})[0]
