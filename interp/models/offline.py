"""Offline switches: the toolkit never touches the network at run time.

`offline()` scopes them to the toolkit's own loading: inside it the Hugging Face
libraries are offline, and on exit every switch is as the caller had it, so a
researcher's later hub download in the same notebook still works. Commands,
whose process is the toolkit's, call `go_offline()` once and stay offline.
huggingface_hub reads HF_HUB_OFFLINE once, at its own import, so an already
imported hub module has its constant flipped too (and restored).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SWITCHES = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def go_offline() -> None:
    """Offline for the rest of the process: for commands only."""
    os.environ.update(SWITCHES)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True


@contextmanager
def offline() -> Iterator[None]:
    """Offline inside the block; the caller's environment and hub constant restored on exit.

    >>> import os
    >>> with offline():
    ...     os.environ["HF_HUB_OFFLINE"]
    '1'
    """
    keys = [*SWITCHES, "HF_HUB_DISABLE_TELEMETRY"]
    saved = {k: os.environ.get(k) for k in keys}
    hub = sys.modules.get("huggingface_hub.constants")
    hub_saved = getattr(hub, "HF_HUB_OFFLINE", None)
    go_offline()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        hub = sys.modules.get("huggingface_hub.constants")  # it may have been imported inside the block
        if hub is not None:
            hub.HF_HUB_OFFLINE = hub_saved if hub_saved is not None else _hub_default()


def _hub_default() -> bool:
    """What huggingface_hub would have read from the (restored) environment at its import."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}
