"""Data-parallel capture: two gloo processes on loopback write the same store as one process, a process that
dies leaves no shard that reads as complete, and re-running resumes."""

import pytest
import torch
import torch.multiprocessing as mp

from interp import ActivationStore, capture_to_disk, load_model
from interp.core.errors import InterpError

PROMPTS = [f"{a}+{b}=" for a in range(9) for b in range(4)]  # 36 prompts, 5 shards of 8


def _worker(rank: int, world: int, model_dir: str, init: str, out: str, die_after: int | None):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        model = load_model(model_dir)
        if die_after is not None and rank == 1:
            import interp.hooks.store as st

            real, calls = st.capture, {"n": 0}

            def dying(*a, **k):
                calls["n"] += 1
                if calls["n"] > die_after:
                    raise SystemExit(3)  # the process dies mid-capture
                return real(*a, **k)

            st.capture = dying
        capture_to_disk(model, PROMPTS, out, sites=["mlp_out", "resid_post"], shard_size=8, progress=False)
    finally:
        torch.distributed.destroy_process_group()


def _spawn(tmp_path, out, run: str, die_after=None):
    mp.spawn(_worker, args=(2, str(tmp_path / "model"), str(tmp_path / f"init-{run}"), str(out), die_after), nprocs=2)


@pytest.mark.slow  # spawns two processes that each import torch and load the model: CI runs it
def test_two_processes_write_what_one_writes(tiny_model, tiny_dir, tmp_path):
    (tmp_path / "model").symlink_to(tiny_dir)
    one = capture_to_disk(tiny_model, PROMPTS, tmp_path / "one", sites=["mlp_out", "resid_post"], shard_size=8)
    _spawn(tmp_path, tmp_path / "two", "a")
    two = ActivationStore(tmp_path / "two")
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    for key in one.keys:
        assert torch.equal(one[key], two[key])


@pytest.mark.slow  # three spawns of two processes: CI runs it
def test_a_dead_process_leaves_no_complete_shard_and_a_rerun_resumes(tiny_model, tiny_dir, tmp_path):
    (tmp_path / "model").symlink_to(tiny_dir)
    with pytest.raises(mp.ProcessExitedException, match="exit code 3"):
        _spawn(tmp_path, tmp_path / "s", "a", die_after=1)  # rank 1 writes shard 1, dies before shard 3
    with pytest.raises(InterpError, match="incomplete"):
        ActivationStore(tmp_path / "s")
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert "shard-00001.safetensors" in names and "shard-00003.safetensors" not in names
    assert all(n == "meta.json" or n.endswith(".safetensors") for n in names)  # no partial file
    _spawn(tmp_path, tmp_path / "s", "b")
    one = capture_to_disk(tiny_model, PROMPTS, tmp_path / "one", sites=["mlp_out", "resid_post"], shard_size=8)
    assert torch.equal(ActivationStore(tmp_path / "s")["resid_post"], one["resid_post"])
