"""Handing back the resident pages of weights that the rest of a run will not touch.

A kept model's weights are memory-mapped from its file: once a forward touches a matrix, its pages stay
resident in the process until it exits, although they are clean and the file holds the same bytes. The
unembedding (0.54 GB of Qwen2.5-0.5B's 2.5 GB) is touched by the load's check and the greedy answers, and
then not again by a capture, which stops at the last hook it needs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import sys
from pathlib import Path

from torch import Tensor

MADV_DONTNEED = 4  # Linux: drop the range's pages from this process; a file mapping's come back from the file


def release_pages(t: Tensor) -> int:
    """Drop the whole pages of `t`'s storage from this process's resident memory; the bytes released.

    The pages stay in the kernel's page cache and come back from the file on the next touch, so `t`'s
    values are unchanged. Does nothing (returns 0) unless `t` is on the CPU, in a private mapping of a file
    in which this process has written no page (dropping a written page would lose the write), on Linux.
    """
    if sys.platform != "linux" or t.device.type != "cpu" or t.untyped_storage().nbytes() == 0:
        return 0
    start = t.untyped_storage().data_ptr()
    end = start + t.untyped_storage().nbytes()
    if not clean_file_mapping(start, end):
        return 0
    page = mmap.PAGESIZE
    lo, hi = -(-start // page) * page, end // page * page  # whole pages inside the storage only
    if hi <= lo:
        return 0
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if libc.madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), MADV_DONTNEED) != 0:
        return 0
    return hi - lo


def clean_file_mapping(start: int, end: int) -> bool:
    """Whether [start, end) lies in one private mapping of a regular file in which no page was written, per
    `/proc/self/maps` and that mapping's entry in `/proc/self/smaps`: a written page of a private mapping
    becomes an anonymous copy. (`Private_Dirty` counts the file's own unwritten-back pages too.)"""
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        if lo <= start and end <= hi:
            break
    else:
        return False
    path = fields[5] if len(fields) == 6 else ""
    if not fields[1].endswith("p") or not path.startswith("/") or not Path(path).is_file():
        return False
    smaps = Path("/proc/self/smaps").read_text()
    at = smaps.find(fields[0] + " ")
    stop = smaps.find("VmFlags:", at)  # each entry's last field (Linux 3.8+)
    if at < 0 or stop < 0:
        return False
    counts = {}
    for row in smaps[at:stop].splitlines()[1:]:
        key, _, rest = row.partition(":")
        value = rest.split()
        if value and value[0].isdigit():
            counts[key] = int(value[0])
    return counts.get("Anonymous", 1) == 0


def release_unembedding(model) -> int:
    """`release_pages` on a hooked model's unembedding (`W_U`); 0 where it has none."""
    w = getattr(model, "W_U", None)
    return release_pages(w) if isinstance(w, Tensor) else 0


__all__ = ["clean_file_mapping", "release_pages", "release_unembedding"]
