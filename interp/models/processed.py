"""Processed weights, kept: TransformerLens's weight processing runs once per model, not on every load.

The processing (fold LayerNorm, centre writing weights and unembedding, fold value biases) copies and
upcasts the whole state dict, so loading the 2 GB default model peaked at 8.9 GB. Its output depends only on
the weights and the TransformerLens version, so the toolkit saves it beside the converted model, one file per
number format, and later loads memory-map that file into a bridge booted without processing.

Folding value biases gives each attention output projection a bias the raw model lacks: `assign` creates
any parameter the file has and the bridge does not, and refuses a file whose names differ otherwise.
`processed.json`, written last, records the TransformerLens version (another version rebuilds the files) and
float32 log-probs of a fixed text, which every float32 load recomputes and must match.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from interp.core.errors import InterpError
from interp.core.files import atomic_write_text
from interp.core.selfcheck import agree
from interp.core.versions import versions

RECORD = "processed.json"
CHECK_TEXT = "Sums: 12+35=47, 7+8=15, 305+96=401.\ndef add(a, b):\n    return a + b\n"


def processed_file(folder: Path, dtype: str) -> Path:
    """Where the processed weights in `dtype` ("float32", or a fast format's mixed weights) live."""
    return Path(folder) / f"processed-{dtype}.safetensors"


def record(folder: Path) -> dict | None:
    """The folder's record when it matches this TransformerLens version and its float32 file exists."""
    try:
        rec = json.loads((Path(folder) / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if rec.get("transformer-lens") != versions(("transformer-lens",))["transformer-lens"]:
        return None
    return rec if processed_file(folder, "float32").is_file() else None


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The bridge's state dict as safetensors (tied tensors saved once each), written atomically."""
    seen: set[int] = set()
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().contiguous()
        tensors[k] = v.clone() if v.data_ptr() in seen else v
        seen.add(v.data_ptr())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")  # two loads may race
    try:
        save_file(tensors, str(tmp))
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_record(bridge, folder: Path) -> None:
    """Mark the float32 file complete, with the log-probs later loads must reproduce."""
    rec = {
        "transformer-lens": versions(("transformer-lens",))["transformer-lens"],
        "text": CHECK_TEXT,
        "logprobs": check_logprobs(bridge).tolist(),
    }
    atomic_write_text(Path(folder) / RECORD, json.dumps(rec))


def read(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """A processed file's tensors, memory-mapped (pages load as a forward first touches them), and its name."""
    return load_file(str(path)), str(path)


def assign(bridge, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Put `tensors` (a processed state dict) into `bridge` without copies, creating biases it lacks."""
    before = set(bridge.state_dict())
    for key, value in tensors.items():
        owner, attr = key.rsplit(".", 1)
        module = bridge.get_submodule(owner)
        module = getattr(module, "original_component", None) or module
        if key not in before and attr != "bias":
            raise InterpError(f"{source} hold {key}, which this model does not have: delete them to rebuild")
        setattr(module, attr, torch.nn.Parameter(value, requires_grad=False))
    extra = set(bridge.state_dict()) - set(tensors)
    if extra:
        raise InterpError(f"{source} lack {sorted(extra)[0]} ({len(extra)} in all): delete them to rebuild")


def check_logprobs(bridge, ids: torch.Tensor | None = None) -> torch.Tensor:
    """Log-probs of each next token of `CHECK_TEXT` (as `ids`, else as the bridge's tokenizer writes it): the
    processed model's fingerprint."""
    if ids is None:
        ids = bridge.tokenizer(CHECK_TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return next_token_logprobs(bridge(ids.to(bridge.cfg.device)), ids)


def raw_logprobs(hf, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids of `CHECK_TEXT` as the model's own tokenizer writes them, each next token's log-prob) from the
    Hugging Face model before any processing: what processing must preserve."""
    ids = tokenizer(CHECK_TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return ids, next_token_logprobs(hf(ids.to(hf.device)).logits, ids)


def next_token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The log-prob each position of row 0 gave the token after it."""
    logp = logits.float().log_softmax(-1)[0, :-1].cpu()
    return logp.gather(-1, ids[0, 1:, None])[:, 0]


def check_against_record(bridge, folder: Path) -> None:
    """A float32 load must give the recorded log-probs (to float32 rounding of a different batch shape)."""
    rec = record(folder)
    if rec is None or rec.get("text") != CHECK_TEXT:
        raise InterpError(f"{folder / RECORD} is missing or stale: delete {folder} to rebuild it")
    agree(f"processed weights in {folder}", check_logprobs(bridge), torch.tensor(rec["logprobs"]), atol=1e-3)


__all__ = [
    "assign",
    "check_against_record",
    "check_logprobs",
    "next_token_logprobs",
    "processed_file",
    "raw_logprobs",
    "read",
    "record",
    "save_weights",
    "write_record",
]
