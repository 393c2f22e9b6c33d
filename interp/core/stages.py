"""Timing the stages of a run, and saying when each one ends (for logs, where progress bars are silent)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Stages(dict):
    """`{"capture_s": 12.3, ...}`; `on_done(stage, seconds)` is called as each stage ends.

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
        if self.on_done:
            self.on_done(name, self[f"{name}_s"])
