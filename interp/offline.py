"""Offline switches: the toolkit never touches the network at run time.

`go_offline()` is called when a model is resolved and when a command starts,
not on import: importing `interp` changes nothing in a researcher's process.
huggingface_hub reads HF_HUB_OFFLINE once, at its own import, so an already
imported hub module has its constant flipped too.
"""

import os
import sys

SWITCHES = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def go_offline() -> None:
    os.environ.update(SWITCHES)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True
