"""The AtP failure checks: the patching path runs from the corrupted run (t = 0) to the exact patch (t = 1) with
AtP as its slope at 0; frozen patterns change nothing where no attention lies downstream; GradDrop equals |AtP|
where there is no downstream layer to drop; the diagnosis names each failure from its signature."""

import warnings

import numpy as np
import pytest

from interp.interventions.atp import AtPConfig, attribution_patch
from interp.interventions.atp_checks import diagnose, graddrop, patch_path
from interp.interventions.pairs import pair_tokens
from interp.interventions.patching import PatchConfig, Site
from interp.interventions.sublayers import run_patching
from interp.tasks.arithmetic import ArithmeticConfig, make_pairs


@pytest.fixture(scope="module")
def batch(tiny_model):
    b, _ = pair_tokens(tiny_model, make_pairs(ArithmeticConfig(n=6, digits=(2, 2), shots=2), seed=0))
    return b


@pytest.fixture(scope="module")
def atp(tiny_model, batch):
    return attribution_patch(tiny_model, **batch, cfg=AtPConfig(batch=4))


SITES = [Site("mlp_out", 0), Site("attn_out", 1), Site("mlp_out", 1), Site("z", 0, None, 2)]


def test_path_runs_from_corrupt_to_the_exact_patch_with_atp_as_its_slope(tiny_model, batch, atp):
    exact = run_patching(tiny_model, **batch, cfg=PatchConfig(per_position=False, ablations=False)).effect
    # a step of 0.01, not less: the effect's float32 rounding (about 1e-5) would swamp a step of 0.001's
    # change on the smallest site (2e-5), and the curvature moves the slope by under 1% at 0.01
    curve = patch_path(tiny_model, **batch, sites=SITES[:3], ts=[0.0, 0.01, 1.0])
    np.testing.assert_allclose(curve[:, 0], 0, atol=1e-5)
    np.testing.assert_allclose(curve[:, 2], [exact[1, 0], exact[0, 1], exact[1, 1]], atol=1e-4)
    slope = (curve[:, 1] - curve[:, 0]) / 0.01
    np.testing.assert_allclose(slope, [atp.layer("mlp_out")[0], atp.layer("attn_out")[1], atp.layer("mlp_out")[1]],
                               rtol=5e-2, atol=5e-3)  # fmt: skip


def test_frozen_patterns_change_only_what_attention_carries(tiny_model, batch):
    ts = [0.0, 0.5, 1.0]
    full = patch_path(tiny_model, **batch, sites=SITES, ts=ts)
    frozen = patch_path(tiny_model, **batch, sites=SITES, ts=ts, freeze=("patterns",))
    np.testing.assert_allclose(frozen[2], full[2], atol=1e-5)  # the last MLP: no attention after it
    np.testing.assert_allclose(frozen[:, 0], full[:, 0], atol=1e-6)  # t = 0 is the corrupted run either way
    assert np.abs(frozen[0] - full[0]).max() > 1e-6  # layer 0's MLP also moves layer 1's attention (a little here)


def test_with_patterns_and_norms_frozen_the_last_mlp_acts_linearly(tiny_model, batch):
    """After the last MLP only the final norm and the unembedding lie: with the norm's scale held, its
    patch is linear in t, so the midpoint is the mean of the ends; without, it is not."""
    ts = [0.0, 0.5, 1.0]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        held = patch_path(tiny_model, **batch, sites=[SITES[2]], ts=ts, freeze=("patterns", "norms"))[0]
    assert abs(held[1] - (held[0] + held[2]) / 2) < 1e-5  # float32 rounding (about 4e-6 here)
    # holding the norms is the design: TransformerLens's warning that a hook edited a scale is not passed on
    assert not [w for w in seen if "hook_scale" in str(w.message)]
    free = patch_path(tiny_model, **batch, sites=[SITES[2]], ts=ts)[0]
    assert abs(free[1] - (free[0] + free[2]) / 2) > 1e-5  # the final norm bends it (about 3e-5 here)


def test_graddrop_is_atp_where_nothing_lies_downstream(tiny_model, batch, atp):
    gd = graddrop(tiny_model, **batch, sites=SITES, batch=4)
    assert gd[2] == pytest.approx(abs(atp.layer("mlp_out")[1]), rel=1e-3, abs=1e-6)
    assert np.isfinite(gd).all() and (gd >= 0).all()


def test_diagnosis_names_each_signature():
    ts = np.linspace(0, 1, 11)
    late = np.where(ts < 0.5, 0.0, 1.0) * ts  # flat, then rises: the tangent at 0 sees nothing
    assert diagnose(1.0, 0.0, late, np.zeros(11), 0.0, ts) == "saturation"
    assert diagnose(1.0, 0.05, ts, ts, 0.6, ts) == "cancellation"  # a linear curve, GradDrop uncovers the paths
    assert diagnose(1.0, 0.05, late, np.zeros(11), 0.6, ts) == "both"
    assert diagnose(1.0, 0.9, ts, ts, 0.9, ts) == "fits"
    assert diagnose(1.0, 0.3, ts, ts, 0.3, ts) == "neither"
    assert diagnose(1.0, 0.05, late, late, 0.05, ts, frozen_norms=0.8 * late) == "mlp"  # survives every freeze
    assert diagnose(1.0, 0.05, late, late, 0.05, ts, frozen_norms=0.1 * late) == "neither"
