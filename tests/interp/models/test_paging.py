"""Handing back weight pages: only clean pages of a file mapping go, and the values never change."""

import mmap
import struct
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from interp.hooks.capture import capture
from interp.models import loading
from interp.models.paging import release_pages
from tests.interp.models.test_precision import tiny_qwen

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pages are handed back on Linux only")


def resident_whole_pages(t: torch.Tensor) -> int:
    """How many whole pages of `t`'s storage are mapped into this process (`/proc/self/pagemap`'s bit 63)."""
    page = mmap.PAGESIZE
    start = t.untyped_storage().data_ptr()
    lo, hi = -(-start // page), (start + t.untyped_storage().nbytes()) // page
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(lo * 8)
        entries = struct.unpack(f"{hi - lo}Q", f.read((hi - lo) * 8))
    return sum(e >> 63 for e in entries)


def mapped(tmp_path) -> torch.Tensor:
    save_file({"w": torch.arange(2**20, dtype=torch.float32)}, str(tmp_path / "w.safetensors"))
    return load_file(str(tmp_path / "w.safetensors"))["w"]  # memory-mapped


def test_a_mapped_tensor_leaves_memory_and_keeps_its_values(tmp_path):
    w = mapped(tmp_path)
    assert float(w.sum()) == float(torch.arange(2**20, dtype=torch.float64).sum())  # touches every page
    assert resident_whole_pages(w) > 250
    assert release_pages(w) >= (2**22 // mmap.PAGESIZE - 1) * mmap.PAGESIZE
    assert resident_whole_pages(w) == 0
    assert torch.equal(w, torch.arange(2**20, dtype=torch.float32))  # read back from the file


def test_anonymous_memory_is_never_dropped():
    w = torch.ones(2**20)  # dropping these pages would read back zeros
    assert release_pages(w) == 0
    assert float(w.sum()) == 2**20


def test_a_mapping_with_a_written_page_is_left_alone(tmp_path):
    w = mapped(tmp_path)
    w[5] = -1.0  # a private copy of that page, which dropping would lose
    assert release_pages(w) == 0
    assert float(w[5]) == -1.0 and float(w[6]) == 6.0


def test_capture_hands_back_the_unembedding_of_a_kept_model(tmp_path):
    bridge, _ = loading.kept_bridge(tiny_qwen(tmp_path / "m", hidden=256), torch.float32)  # W_U: 12 pages
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        before = bridge(ids)
    assert resident_whole_pages(bridge.W_U) > 0  # the forward touched the unembedding
    acts = capture(bridge, ids, sites=["resid_post"], positions="all")  # checked against a whole forward
    assert resident_whole_pages(bridge.W_U) == 0
    with torch.no_grad():
        assert torch.equal(bridge(ids), before)
    assert acts["resid_post"].shape[:2] == (1, 2)  # [batch, layer]
