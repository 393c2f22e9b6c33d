"""Processed weights kept in the cache: the same model as TransformerLens's processing, without its peak."""

import json

import pytest
import torch

from interp.core.errors import InterpError
from interp.models import loading, processed
from tests.interp.models.test_precision import tiny_qwen


def outputs(bridge, ids):
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids)
    return {k: v for k, v in cache.items() if k.endswith(("hook_resid_post", "hook_attn_out", "hook_z"))}


@pytest.mark.parametrize("kind", ["qwen", "llama"])
def test_kept_weights_are_the_processed_model(tmp_path, tiny_dir, kind, monkeypatch):
    import shutil

    path = tiny_qwen(tmp_path / "m") if kind == "qwen" else shutil.copytree(tiny_dir, tmp_path / "m")
    ids = torch.randint(4, 40, (2, 10), generator=torch.Generator().manual_seed(1))
    reference, _ = loading.boot(path, processing=True)
    kept, _ = loading.kept_bridge(path, torch.float32)  # first load: processes and writes the files
    assert processed.record(path) is not None and processed.processed_file(path, "float32").is_file()
    for bridge in (kept, loading.kept_bridge(path, torch.float32)[0]):  # the second reads them
        want, got = outputs(reference, ids), outputs(bridge, ids)
        assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
        assert torch.equal(reference(ids), bridge(ids))
    if kind == "qwen":  # value-bias folding gave the output projections biases the raw model lacks
        assert "blocks.0.attn.o.bias" in kept.state_dict()
    calls = []
    real_boot = loading.boot
    monkeypatch.setattr(loading, "boot", lambda p, processing: calls.append(processing) or real_boot(p, processing))
    fast, _ = loading.kept_bridge(path, torch.bfloat16)
    loading.kept_bridge(path, torch.bfloat16)
    assert calls == [False, False, False]  # no processing again; the bfloat16 file is written once
    assert fast.blocks[0].attn.q.original_component.weight.dtype == torch.bfloat16


def test_a_changed_file_is_refused(tmp_path):
    path = tiny_qwen(tmp_path / "m")
    loading.kept_bridge(path, torch.float32)
    rec = json.loads((path / processed.RECORD).read_text())
    rec["logprobs"][3] += 0.01
    (path / processed.RECORD).write_text(json.dumps(rec))
    with pytest.raises(InterpError, match="processed weights in .* the fast path gives"):
        loading.kept_bridge(path, torch.float32)


def test_another_transformer_lens_version_rebuilds(tmp_path):
    path = tiny_qwen(tmp_path / "m")
    loading.kept_bridge(path, torch.float32)
    rec = json.loads((path / processed.RECORD).read_text())
    (path / processed.RECORD).write_text(json.dumps(rec | {"transformer-lens": "0.0.1"}))
    assert processed.record(path) is None
    loading.kept_bridge(path, torch.float32)
    assert processed.record(path) is not None
