import pytest
import torch

from interp import ActivationStore, capture, capture_to_disk
from interp.core.errors import InterpError

PROMPTS = [f"{a}+{b}=" for a in range(7) for b in range(3)]  # 21 prompts


def test_shards_roundtrip(tiny_model, tmp_path):
    store = capture_to_disk(tiny_model, PROMPTS, tmp_path / "s", sites=["mlp_out", "resid_post"], shard_size=8)
    assert len(store.shards) == 3 and len(store) == 21
    ref = capture(tiny_model, PROMPTS, sites=["mlp_out", "resid_post"])
    torch.testing.assert_close(store["mlp_out"], ref["mlp_out"])
    assert [t.shape[0] for t in store.iter_shards("resid_post")] == [8, 8, 5]


def test_interrupted_run_resumes(tiny_model, tmp_path, monkeypatch):
    import interp.hooks.store as st

    calls = {"n": 0}
    real = st.capture

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(st, "capture", flaky)
    with pytest.raises(KeyboardInterrupt):
        capture_to_disk(tiny_model, PROMPTS, tmp_path / "s", sites="mlp_out", shard_size=8)
    files = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert files == ["meta.json", "shard-00000.safetensors"]  # no partial shard
    with pytest.raises(InterpError, match="incomplete"):
        ActivationStore(tmp_path / "s")
    monkeypatch.setattr(st, "capture", real)
    store = capture_to_disk(tiny_model, PROMPTS, tmp_path / "s", sites="mlp_out", shard_size=8)
    torch.testing.assert_close(store["mlp_out"], capture(tiny_model, PROMPTS, sites="mlp_out")["mlp_out"])


def test_refuses_foreign_folder(tiny_model, tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    with pytest.raises(InterpError, match="not empty"):
        capture_to_disk(tiny_model, PROMPTS, tmp_path, sites="mlp_out")
    capture_to_disk(tiny_model, PROMPTS, tmp_path / "s", sites="mlp_out", shard_size=8)
    with pytest.raises(InterpError, match="different capture"):
        capture_to_disk(tiny_model, PROMPTS, tmp_path / "s", sites="attn_out", shard_size=8)


def test_resume_removes_what_a_killed_writer_left(tiny_model, tmp_path):
    """SIGKILL mid-shard leaves a temporary file; the re-run removes it and completes."""
    capture_to_disk(tiny_model, PROMPTS[:8], tmp_path / "s", sites="mlp_out", shard_size=4)
    (tmp_path / "s" / "shard-00001.safetensors").unlink()
    (tmp_path / "s" / ".shard-00001.safetensors.1a2b3c4d.partial").write_bytes(b"\0" * 100)
    store = capture_to_disk(tiny_model, PROMPTS[:8], tmp_path / "s", sites="mlp_out", shard_size=4)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "meta.json",
        "shard-00000.safetensors",
        "shard-00001.safetensors",
    ]
    assert len(store) == 8


def test_files_follow_the_umask(tiny_model, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        capture_to_disk(tiny_model, PROMPTS[:4], tmp_path / "s", sites="mlp_out", shard_size=4)
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path / "s").iterdir()} == {"0o644"}


def test_no_folder_until_a_shard_is_ready(tiny_model, tmp_path):
    with pytest.raises(InterpError):
        capture_to_disk(tiny_model, PROMPTS, tmp_path / "s", sites="bogus")
    assert not (tmp_path / "s").exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(InterpError, match="is a file"):
        capture_to_disk(tiny_model, PROMPTS, tmp_path / "f", sites="mlp_out")


def test_a_padded_batch_goes_to_disk_unpadded_or_not_at_all(tiny_model, tmp_path):
    """A tokenizer's padded output is stored as the unpadded prompts; padded ids without a mask write nothing."""
    prompts = ["12+35=", "7+8=", "405+17=4"]
    enc = tiny_model.tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    store = capture_to_disk(tiny_model, enc, tmp_path / "a", sites=["resid_post"], shard_size=2, progress=False)
    want = capture(tiny_model, prompts, sites=["resid_post"])["resid_post"]
    torch.testing.assert_close(store["resid_post"], want, atol=1e-5, rtol=1e-5)
    with pytest.raises(InterpError, match="attention_mask"):
        capture_to_disk(tiny_model, enc["input_ids"], tmp_path / "b", sites=["resid_post"], progress=False)
    assert not (tmp_path / "b").exists()
