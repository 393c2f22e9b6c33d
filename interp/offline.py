"""Offline switches: the toolkit never touches the network at run time.

Imported first by `interp/__init__.py`, before anything imports huggingface_hub,
because huggingface_hub reads these variables once, at its own import.
"""

import os

SWITCHES = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def go_offline() -> None:
    os.environ.update(SWITCHES)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:  # already imported by the caller: flip the constant it read at import.
        import sys

        hub_constants = sys.modules.get("huggingface_hub.constants")
        if hub_constants is not None:
            hub_constants.HF_HUB_OFFLINE = True
    except Exception:  # pragma: no cover - best effort only
        pass


go_offline()
