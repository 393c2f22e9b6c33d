"""Nothing is hard-wired to one device. With the default device set to `meta` (a device with no data), every
path below runs a CPU model on CPU inputs: a tensor made without saying where would land on `meta` and fail at
its first use. A GPU run relies on exactly this. Devices that cannot run a model are refused in one line."""

import numpy as np
import pytest
import torch

from interp import InterpError, capture, intervene, load_model, record, run_head_patching, run_patching
from interp.hooks.tokens import tokenize
from interp.interventions.atp import attribution_patch
from interp.interventions.atp_checks import graddrop, patch_path
from interp.interventions.edits import digit_logits_under_edits
from interp.interventions.lens import digit_token_ids, logit_lens
from interp.interventions.pairs import pair_tokens
from interp.interventions.patching import PatchConfig, Site
from interp.models.behaviour import greedy_continuations
from interp.models.devices import resolve_device, resolve_dtype
from interp.probes.sweep import SweepConfig, sweep
from interp.tasks.arithmetic import ArithmeticConfig, make_pairs


@pytest.fixture
def no_default_device():
    with torch.device("meta"):
        yield


@pytest.fixture(scope="module")
def pairs(tiny_model):
    b, _ = pair_tokens(tiny_model, make_pairs(ArithmeticConfig(n=4, digits=(2, 2), shots=2), seed=0))
    return b


def test_capture_record_and_intervene(tiny_model, no_default_device):
    acts = capture(tiny_model, ["12+35=", "7+8="], sites=["mlp_out", "resid_post"], layers="all", progress=False)
    assert acts["mlp_out"].device.type == "cpu" and acts["mlp_out"].shape[:2] == (2, 2)
    ids = tokenize(tiny_model, ["1+1="]).ids
    with (
        record(tiny_model, ["blocks.0.hook_mlp_out"]) as rec,
        intervene(tiny_model, {"blocks.1.hook_resid_post": lambda a: a * 0.5}),
    ):
        tiny_model(torch.tensor(ids, device="cpu"))
    assert rec.acts["blocks.0.hook_mlp_out"][0].device.type == "cpu"
    lens = logit_lens(tiny_model, acts["resid_post"], digit_token_ids(tiny_model.tokenizer))
    assert lens.shape == (2, 2, 10) and lens.device.type == "cpu"


def test_patching_heads_and_attribution(tiny_model, pairs, no_default_device):
    res = run_patching(tiny_model, **pairs, cfg=PatchConfig(rows_per_forward=16), progress=False)
    assert np.isfinite(res.effect).all()
    heads = run_head_patching(tiny_model, **pairs, progress=False)
    assert np.isfinite(heads.effect).all()
    atp = attribution_patch(tiny_model, **pairs, progress=False)
    assert np.isfinite(atp.layer("z")).all()
    sites = [Site("mlp_out", 0), Site("z", 1, None, 0)]
    assert np.isfinite(patch_path(tiny_model, **pairs, sites=sites, ts=[0.0, 1.0], freeze=("patterns", "norms"))).all()
    assert np.isfinite(graddrop(tiny_model, **pairs, sites=sites)).all()


def test_decoding_and_causal_edits(tiny_model, no_default_device):
    said = greedy_continuations(tiny_model, ["12+35=", "7+8="], 3, progress=False)
    assert len(said) == 2
    ids = tokenize(tiny_model, ["12+35=47\n3+4=7"]).ids[0]
    edits = [("blocks.1.hook_resid_post", torch.zeros(2, tiny_model.cfg.d_model, device="cpu"))]
    out = digit_logits_under_edits(tiny_model, ids, 9, edits, digit_token_ids(tiny_model.tokenizer))
    assert out.shape == (3, 10)


def test_probe_sweep(no_default_device):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (60, 1))
    acts = {"resid_post": torch.tensor(rng.normal(size=(60, 2, 1, 8)), dtype=torch.float32, device="cpu")}
    res = sweep(acts, labels, labels, [0, 1], SweepConfig(folds=2), progress=False)
    assert res.accuracy.shape == (1, 2, 1, 2)


@pytest.mark.parametrize("spec", ["meta", "tpu", "cuda:7", "bogus:x"])
def test_devices_that_cannot_run_are_refused_in_one_line(spec):
    with pytest.raises(InterpError) as e:
        resolve_device(spec)
    assert "\n" not in str(e.value) and repr(spec) in str(e.value)


def test_load_model_refuses_meta_before_loading(tiny_dir):
    with pytest.raises(InterpError, match="'meta'"):
        load_model(str(tiny_dir), device="meta")


def test_dtypes():
    assert resolve_dtype("bfloat16") is torch.bfloat16 and resolve_dtype(None) is torch.float32
    with pytest.raises(InterpError, match="unknown dtype"):
        resolve_dtype("float8")


def test_memory_training_and_evaluation(tmp_path, no_default_device):
    from interp.runs.memory import evaluate_runs
    from interp.tasks.setup import TrainConfig
    from interp.tasks.train import train

    cfg = TrainConfig(task="copy", steps=4, batch=4, d_hidden=16, M=8, N=16, max_len=3, eval_every=4, ckpt_every=4)
    info = train(cfg, tmp_path / "r", progress=False)
    assert info["step"] == 4
    ev = evaluate_runs([tmp_path / "r"], progress=False)
    assert np.isfinite(ev.meta["runs"][0]["cost"]).all()


def test_long_context_nll(tiny_hf, no_default_device):
    from interp.context.nll import check_chunked, token_nll

    ids = torch.randint(4, 40, (1, 40), generator=torch.Generator().manual_seed(0), device="cpu")
    assert token_nll(tiny_hf, ids, chunk=16).shape == (1, 39)
    check_chunked(tiny_hf, ids, tokens=40, chunk=16)


def test_device_map_reaches_the_bridge(tiny_dir, monkeypatch):
    """A split model goes to TransformerLens' own placement; on one CPU, a map onto it gives the same logits."""
    split = load_model(str(tiny_dir), device=None, device_map={"": "cpu"})
    plain = load_model(str(tiny_dir))
    ids = torch.tensor([[5, 6, 7, 8]])
    torch.testing.assert_close(split(ids), plain(ids))
    from transformer_lens.model_bridge import TransformerBridge

    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        raise ValueError("no GPUs here")

    monkeypatch.setattr(TransformerBridge, "boot_transformers", fake)
    with pytest.raises(InterpError, match="n_devices=2"):
        load_model(str(tiny_dir), device=None, n_devices=2)
    assert seen["n_devices"] == 2 and "hf_model" not in seen
    with pytest.raises(InterpError, match="not both"):
        load_model(str(tiny_dir), device="cuda", n_devices=2)


@pytest.mark.parametrize(
    "module, args",
    [
        ("probe", []),
        ("patch", []),
        ("nll", []),
        ("memory", ["train", "--out", "{tmp}/m"]),
        ("memory", ["eval", "{tmp}/none", "--out", "{tmp}/e"]),
        ("toy", ["--out", "{tmp}/t"]),
        ("reproduce", ["--out", "{tmp}/r"]),
    ],
)
@pytest.mark.parametrize("device, msg", [("meta", "cannot run a model"), ("cuda", "no CUDA device")])
def test_every_command_refuses_a_device_in_one_line(module, args, device, msg, tmp_path, capsys):
    import importlib

    main = importlib.import_module(f"interp.cli.{module}").main
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args] + ["--device", device]
    if module in ("probe", "patch", "nll"):
        argv += ["--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_whole_runs(tiny_dir, no_default_device):
    """The probe run end to end (capture, lens, decoding, the solver's check, the sweep, causal tests) and the
    patching run with heads, AtP and its checks."""
    from interp.runs.patch import PatchRunConfig
    from interp.runs.patch import run as patch_run
    from interp.runs.probe import ProbeRunConfig
    from interp.runs.probe import run as probe_run

    task = ArithmeticConfig(n=40)
    res = probe_run(ProbeRunConfig(model=str(tiny_dir), task=task, behaviour_n=4, causal_layers="all"), progress=False)
    assert res.causal is not None and np.isfinite(res.probes.accuracy).all()
    cfg = PatchRunConfig(
        model=str(tiny_dir),
        task=ArithmeticConfig(n=4, digits=(2, 2), shots=2),
        patch=PatchConfig(per_position=False),
        heads=True,
        atp=True,
        atp_checks=1,
    )
    assert patch_run(cfg, progress=False).meta["atp_checks"]["cells"]
