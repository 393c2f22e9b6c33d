import numpy as np
import pytest
import torch

from interp.patching import (
    PatchConfig,
    Patcher,
    Site,
    common_prefix,
    naive_patch,
    pair_tokens,
    run_patching,
)
from tasks.arithmetic import ArithmeticConfig, make_pairs


def test_pairs_share_prefix_and_change_answer():
    p = make_pairs(ArithmeticConfig(n=50, digits=(2, 2), shots=3), seed=1)
    prefixes = {c.rsplit("\n", 1)[0] for c in p.clean + p.corrupt}
    assert len(prefixes) == 1 and len(p) == 50
    assert all(len(c) == len(k) for c, k in zip(p.clean, p.corrupt, strict=True))
    assert all(str(x)[0] != str(y)[0] for x, y in zip(p.answer, p.answer_corrupt, strict=True))
    np.testing.assert_array_equal(p.answer, p.a + p.b)
    np.testing.assert_array_equal(p.answer_corrupt, p.a_corrupt + p.b)
    assert make_pairs(ArithmeticConfig(n=50, digits=(2, 2)), seed=1).clean == p.clean


def test_common_prefix():
    assert common_prefix([[1, 2, 3, 4], [1, 2, 5, 4]]) == 2
    assert common_prefix([[1, 2], [1, 2]]) == 1  # always leave one suffix token


@pytest.fixture(scope="module")
def batch(tiny_model):
    pairs = make_pairs(ArithmeticConfig(n=6, digits=(2, 2), shots=2), seed=0)
    b, kept = pair_tokens(tiny_model, pairs)
    assert len(kept) == 6  # a character tokenizer: every pair lines up
    return b


def test_fast_grid_matches_naive_loop(tiny_model, batch):
    L = tiny_model.cfg.n_layers
    res = run_patching(tiny_model, **batch, cfg=PatchConfig(rows_per_forward=12))
    assert res["prefix_tokens"] > 10 and res["suffix_tokens"] == 6
    sites = [Site(k, layer) for k in ("attn_out", "mlp_out") for layer in range(L)]
    want = naive_patch(tiny_model, batch["clean"], batch["corrupt"], batch["good"], batch["bad"], sites)
    np.testing.assert_allclose(res["raw"].ravel(), want, atol=1e-4)
    pos_sites = [Site(k, layer, q) for k in ("attn_out", "mlp_out") for layer in range(L) for q in range(6)]
    want = naive_patch(tiny_model, batch["clean"], batch["corrupt"], batch["good"], batch["bad"], pos_sites)
    np.testing.assert_allclose(res["raw_pos"].ravel(), want, atol=1e-4)
    # patching the last layer's MLP at every position gives the clean final residual minus nothing else
    logits = tiny_model(batch["clean"])[:, -1]
    rows = torch.arange(6)
    assert res["ld_clean"] == pytest.approx(float((logits[rows, batch["good"]] - logits[rows, batch["bad"]]).mean()),
                                            abs=1e-4)


def test_effects_are_normalised(tiny_model, batch):
    res = run_patching(tiny_model, **batch, cfg=PatchConfig(per_position=False))
    # Patching every site of the residual's last writer restores clean exactly only when it is the sole
    # difference; the layer-0 attention sees the corrupted token, so its full patch leaves later layers' inputs
    # corrupted. What must hold: patched LDs are finite, and effect = (raw - corrupt) / (clean - corrupt).
    d = res["ld_clean"] - res["ld_corrupt"]
    np.testing.assert_allclose(res["effect"], (res["raw"] - res["ld_corrupt"]) / d, rtol=1e-6)
    assert res["zero_ablation"].shape == res["mean_ablation"].shape == (2, tiny_model.cfg.n_layers)
    assert res["act_norm"].shape == (2, tiny_model.cfg.n_layers, 6) and "raw_pos" not in res


def test_batch_size_does_not_change_results(tiny_model, batch):
    a = run_patching(tiny_model, **batch, cfg=PatchConfig(rows_per_forward=6, ablations=False))
    b = run_patching(tiny_model, **batch, cfg=PatchConfig(rows_per_forward=600, ablations=False))
    np.testing.assert_allclose(a["raw_pos"], b["raw_pos"], atol=1e-5)


def test_shape_mismatch_is_refused(tiny_model, batch):
    with pytest.raises((ValueError, TypeError)):  # TypeError when jaxtyping checks shapes at runtime
        Patcher(tiny_model, batch["clean"], batch["corrupt"][:, :-1], batch["good"], batch["bad"])


def test_cli_writes_outputs_and_guards(tiny_dir, tmp_path, capsys):
    import json

    from interp.patch import main

    out = tmp_path / "p"
    argv = ["--model", str(tiny_dir), "--n", "5", "--shots", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "top sublayers" in printed and "(#" in printed
    meta = json.loads((out / "patch.json").read_text())
    assert meta["n_pairs"] == 5 and len(meta["suffix_tokens"]) == 6 and len(meta["top"]) == 4
    z = np.load(out / "patch.npz")
    assert z["effect"].shape == (2, 2) and z["effect_pos"].shape == (2, 2, 6)
    page = (out / "patch.html").read_text()
    assert page.count('class="plotly-graph-div"') == 1 + 2 + 2 + 4
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite", "--digits", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "digits" in err and len(err.splitlines()) == 1
    assert main(["--model", "no-such-model", "--out", str(tmp_path / "q")]) == 2
    assert not (tmp_path / "q").exists()
