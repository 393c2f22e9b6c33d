"""Timing the stages of a run, and saying when each one ends (for logs, where progress bars are silent)."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Stages(dict):
    """`{"capture_s": 12.3, "capture_peak_gb": 2.1, ...}`: each stage's seconds and the process's peak memory
    when it ended; `on_done(stage, seconds)` is called as each stage ends.

    >>> stages = Stages(lambda name, s: print(f"{name}: {s:.1f} s"))
    >>> with stages("capture"):
    ...     capture(...)
    """

    def __init__(self, on_done: Callable[[str, float], None] | None = None):
        super().__init__()
        self.on_done = on_done

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self[f"{name}_s"] = time.perf_counter() - t
        self[f"{name}_peak_gb"] = peak_rss_gb()
        if self.on_done:
            self.on_done(name, self[f"{name}_s"])


def peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GB (10^9 bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9  # bytes on macOS, KiB on Linux


def timing_line(timings: dict[str, float]) -> str:
    """`timings: load 2.0 s, capture 24.8 s, ...; peak memory 4.72 GB` from a `Stages` dict (two decimals:
    2.96 GB would print as 3.0).

    >>> timing_line({"load_s": 2.0, "load_peak_gb": 1.5, "peak_rss_gb": 1.6})
    'timings: load 2.0 s; peak memory 1.60 GB'
    """
    stages = ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in timings.items() if k.endswith("_s"))
    peak = timings.get("peak_rss_gb", max((v for k, v in timings.items() if k.endswith("_peak_gb")), default=0.0))
    return f"timings: {stages}; peak memory {peak:.2f} GB"
