"""Which device and dtype a run uses: parsed once, checked up front, so a bad choice is one line, not a trace.

Everything the toolkit computes follows its inputs: model-side tensors are made on the model's device
(`model_device`), bookkeeping (row indices, counts) stays on the host, and results come back on the CPU.
"""

from __future__ import annotations

import torch

from interp.core.errors import InterpError

HOST = torch.device("cpu")  # where results and bookkeeping live
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICE_HELP = "cpu, cuda, cuda:N, mps or auto (the first of cuda, mps, cpu this machine has)"


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """`"auto"` (or None), `"cpu"`, `"cuda"`, `"cuda:1"`, `"mps"` as a `torch.device` this machine can run on."""
    if spec is None or spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return HOST
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError) as e:
        raise InterpError(f"unknown device {spec!r}: choose {DEVICE_HELP}") from e
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InterpError(f"device {spec!r}: this machine has no CUDA device (torch {torch.__version__})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InterpError(f"device {spec!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if dev.type == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise InterpError(f"device {spec!r}: MPS is not available on this machine")
        return dev
    raise InterpError(f"device {spec!r} cannot run a model (it holds no data or is not supported): {DEVICE_HELP}")


def resolve_dtype(name: str | torch.dtype | None) -> torch.dtype:
    """`"float32"`, `"bfloat16"` or `"float16"` (or a torch dtype) as a torch dtype; None means float32."""
    if name is None:
        return torch.float32
    if isinstance(name, torch.dtype):
        if name not in DTYPES.values():
            raise InterpError(f"dtype {name} is not supported: choose {', '.join(DTYPES)}")
        return name
    if name not in DTYPES:
        raise InterpError(f"unknown dtype {name!r}: choose {', '.join(DTYPES)}")
    return DTYPES[name]


def model_device(model) -> torch.device:
    """The device a model's inputs go to: its config's, else its first parameter's, else the CPU."""
    cfg_device = getattr(getattr(model, "cfg", None), "device", None)
    if cfg_device is not None:
        return torch.device(cfg_device)
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return HOST
