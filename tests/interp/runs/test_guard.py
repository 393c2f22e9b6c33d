"""The float32 guard: a fast-format run is checked against float32 on its first rows, or stops."""

import dataclasses
import json

import pytest
import torch

from interp.core.selfcheck import SelfCheckError
from interp.models.precision import Format, slow_format
from interp.runs.guard import check_fast


def test_check_fast_names_the_worst_place():
    ref = {"attn_out L0": torch.ones(4, 8), "attn_out L1": torch.ones(4, 8)}
    fmt = Format("bfloat16", "asked for")
    ok = check_fast(
        fmt, {"attn_out L0": ref["attn_out L0"] * 1.01, "attn_out L1": ref["attn_out L1"]}, ref, "x", 4, "rows"
    )
    assert ok.at == "attn_out L0" and ok.worst == pytest.approx(0.01) and ok.n == 4
    with pytest.raises(SelfCheckError, match=r"x in bfloat16 is 20.0% from float32 at attn_out L1 .* 12.50% \(16"):
        check_fast(
            fmt, {"attn_out L0": ref["attn_out L0"], "attn_out L1": ref["attn_out L1"] * 1.2}, ref, "x", 4, "rows"
        )
    with pytest.raises(SelfCheckError):  # NaN never passes
        check_fast(
            fmt, {"attn_out L0": ref["attn_out L0"] * torch.nan, "attn_out L1": ref["attn_out L1"]}, ref, "x", 4, "rows"
        )


def argv(tiny_dir, out, *more):
    return ["--model", str(tiny_dir), "--n", "60", "--folds", "2", "--behaviour-n", "4", "--out", str(out), "--quiet",
            *more]  # fmt: skip


def test_fast_probe_run_records_its_format_and_guard(tiny_dir, tmp_path):
    from interp.cli.probe import main

    assert main(argv(tiny_dir, tmp_path / "fast", "--dtype", "bfloat16")) == 0
    assert main(argv(tiny_dir, tmp_path / "exact")) == 0
    fast = json.loads((tmp_path / "fast" / "results.json").read_text())
    exact = json.loads((tmp_path / "exact" / "results.json").read_text())
    assert fast["model"]["dtype"] == "bfloat16" and exact["model"]["dtype"] == "float32"
    guard = fast["precision"]["guard"]
    assert 0 < guard["worst"] < guard["tolerance"] == 0.125 and (guard["n"], guard["unit"]) == (16, "problems")
    assert "guard" not in exact["precision"] and exact["precision"]["reason"] == "exact, the default"
    assert fast["timings"]["guard_s"] > 0 and fast["timings"]["peak_rss_gb"] > 0


def test_a_fast_probe_run_decodes_the_models_answers_in_float32(tiny_dir, monkeypatch):
    """Greedy answers are discrete: a fast run takes them from the guard's float32 model, not its own."""
    from interp.models.precision import compute_dtype
    from interp.probes.sweep import SweepConfig
    from interp.runs import probe as run_module
    from interp.tasks.arithmetic import ArithmeticConfig

    seen, real = [], run_module.behaviour
    monkeypatch.setattr(run_module, "behaviour", lambda model, *a: seen.append(compute_dtype(model)) or real(model, *a))
    cfg = run_module.ProbeRunConfig(
        model=str(tiny_dir), task=ArithmeticConfig(n=60), sweep=SweepConfig(folds=2), behaviour_n=4, dtype="bfloat16"
    )
    res = run_module.run(cfg, progress=False)
    assert seen == [torch.float32] and res.precision["behaviour"] == "float32" and res.behaviour["n"] == 4
    assert res.timings["behaviour_s"] > 0 and res.timings["guard_s"] >= res.timings["behaviour_s"]
    seen.clear()
    exact = run_module.run(dataclasses.replace(cfg, dtype="float32"), progress=False)
    assert seen == [torch.float32] and "behaviour" not in exact.precision
    assert exact.behaviour == res.behaviour


def test_a_fast_run_that_drifts_stops_and_writes_nothing(tiny_dir, tmp_path, monkeypatch, capsys):
    """A fast model whose numbers drift from float32 (here, one weight matrix perturbed 30%) is refused."""
    import interp.runs.guard as run_module
    from interp.cli.probe import main

    real = run_module.load_model

    def drifted(*a, dtype=None, **k):
        model = real(*a, dtype=dtype, **k)
        if dtype != "float32":
            with torch.no_grad():
                w = model.blocks[0].mlp.out.original_component.weight
                w.mul_(1 + 0.3 * torch.randn(w.shape, generator=torch.Generator().manual_seed(0)).to(w.dtype))
        return model

    monkeypatch.setattr(run_module, "load_model", drifted)
    out = tmp_path / "fast"
    assert main(argv(tiny_dir, out, "--dtype", "bfloat16")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # on a CPU without bfloat16 units a note says so before the run (`slow_format`); the refusal is one line
    note = ["note: this cpu has no bfloat16 matrix units"] if slow_format("bfloat16", "cpu") else []
    assert [line[: len(n)] for line, n in zip(err, note, strict=False)] == note
    assert len(err) == 1 + len(note) and "float32 guard: the captured activations in bfloat16" in err[-1]
    assert not out.exists()


def test_fast_patch_and_nll_runs_carry_their_guard(tiny_dir, tmp_path):
    from interp import load_model
    from interp.runs.nll import NLLRunConfig, to_format
    from interp.runs.patch import PatchRunConfig, first_effects, run
    from interp.tasks.arithmetic import ArithmeticConfig

    cfg = PatchRunConfig(model=str(tiny_dir), task=ArithmeticConfig(n=12, digits=(2, 2), shots=1), dtype="bfloat16")
    res = run(cfg, progress=False)
    guard = res.meta["precision"]["guard"]
    assert res.meta["precision"]["dtype"] == "bfloat16" and 0 < guard["worst"] < guard["tolerance"]
    with_atp = run(dataclasses.replace(cfg, atp=True), progress=False).meta["precision"]["guard"]
    assert guard["worst"] <= with_atp["worst"] < with_atp["tolerance"]  # the same slice, and AtP's too
    from interp.tasks.arithmetic import make_pairs

    checked = first_effects(
        load_model(str(tiny_dir)), make_pairs(cfg.task, cfg.seed), dataclasses.replace(cfg, atp=True)
    )
    assert {"patched LD", "AtP attn_out", "AtP mlp_out"} <= set(checked)
    assert run(PatchRunConfig(model=str(tiny_dir), task=cfg.task), progress=False).meta["precision"] == {
        "dtype": "float32", "reason": "exact, the default"
    }  # fmt: skip

    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    ids = torch.randint(4, 40, (1, 40), generator=torch.Generator().manual_seed(0))
    precision = to_format(hf, NLLRunConfig(dtype="bfloat16", chunk=16), ids)
    assert precision["guard"]["worst"] < precision["guard"]["tolerance"]
    assert hf.model.layers[0].mlp.down_proj.weight.dtype == torch.bfloat16
    assert precision["attention"] == "bfloat16" and hf.config._attn_implementation == "interp_fast_sdpa"


def test_the_nll_guard_covers_fast_attention(tiny_dir, monkeypatch):
    """The guard's fast pass runs the fast attention: a float32 reference, then bfloat16 SDPA."""
    from transformers import AutoModelForCausalLM

    from interp.runs import nll

    seen = []
    real = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(
        torch.nn.functional, "scaled_dot_product_attention", lambda q, *a, **k: seen.append(q.dtype) or real(q, *a, **k)
    )
    hf = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32, attn_implementation="sdpa").eval()
    ids = torch.randint(4, 40, (1, 40), generator=torch.Generator().manual_seed(0))
    precision = nll.to_format(hf, nll.NLLRunConfig(dtype="bfloat16", chunk=16), ids)
    assert seen[0] == torch.float32 and seen[-1] == torch.bfloat16
    assert precision["guard"]["worst"] < precision["guard"]["tolerance"]
