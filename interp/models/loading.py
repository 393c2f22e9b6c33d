"""The one place that loads models: a built-in name, a model the toolkit trained, or a local HF folder.

Nothing here ever touches the network (`interp.models.builtins` has the shipped weights and their cache). The
Hugging Face libraries are offline while a model loads, and as the caller had them after (`interp.models.offline`).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from interp.core.errors import InterpError
from interp.hooks.names import HookedModel
from interp.models import processed
from interp.models.builtins import BUILTINS, DEFAULT_MODEL, TRAINED, converted_dir
from interp.models.devices import HOST, resolve_device
from interp.models.kv import thread_cache
from interp.models.lean_processing import process_checked
from interp.models.offline import offline
from interp.models.precision import choose_format, dtype_name, to_mixed

TASK_FILE = "interp-task.json"  # the prompt format a model folder asks for, e.g. {"pad": 4}


@dataclass(frozen=True)
class ModelInfo:
    """What the toolkit needs to know about a loaded model beyond its cfg.

    >>> model_info(model).n_ctx
    64
    """

    name: str
    path: str  # the Hugging Face folder the weights came from
    prepend_bos: bool  # whether the model's own tokenizer starts a text with BOS
    n_ctx: int
    dtype: str = "float32"  # its matmuls' format (`interp.models.precision`): the residual stream is float32


def available_models() -> list[str]:
    """The names `load_model` knows without a path: the built-in models and those the toolkit trained.

    >>> "qwen2.5-coder-0.5b" in available_models()
    True
    """

    return sorted([*BUILTINS, *TRAINED])


@offline()
def resolve(name_or_path: str) -> tuple[str, Path]:
    """A built-in name, a local HF folder, or a hub name already in the local HF cache."""
    if name_or_path in BUILTINS:
        return name_or_path, converted_dir(name_or_path)
    if name_or_path in TRAINED:
        path = TRAINED[name_or_path]
        if not (path / "config.json").is_file():
            raise InterpError(f"{path} is missing; rebuild it with: python -m interp.toy --out {path}")
        return name_or_path, path
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InterpError(f"{path} is a folder but has no config.json (not a HF model folder)")
        return path.name, path
    if "/" in name_or_path:
        from huggingface_hub import snapshot_download

        try:
            return name_or_path, Path(snapshot_download(name_or_path, local_files_only=True))
        except Exception:
            pass
    raise InterpError(
        f"unknown model {name_or_path!r}: built-in models are {', '.join(available_models())}; "
        "or give a local Hugging Face folder, or a hub name already in the local HF cache"
    )


def _local_path(name_or_path: str) -> Path:
    """The folder of a trained or local model, without converting a built-in (those return no folder)."""
    if name_or_path in TRAINED:
        return TRAINED[name_or_path]
    return resolve(name_or_path)[1]


def config_layers(name_or_path: str) -> int:
    """Number of layers a model has, read without loading it (or converting a built-in)."""
    if name_or_path in BUILTINS:
        return BUILTINS[name_or_path].n_layers
    path = _local_path(name_or_path)
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise InterpError(f"cannot read {path / 'config.json'}: {e}") from e
    cfg = cfg.get("text_config", cfg)
    n = cfg.get("num_hidden_layers", cfg.get("n_layer", cfg.get("n_layers")))
    if not isinstance(n, int):
        raise InterpError(f"{path / 'config.json'} does not say how many layers the model has")
    return n


def task_defaults(name_or_path: str) -> dict:
    """Prompt-format defaults a model folder asks for (`interp-task.json`), e.g. {"pad": 4}."""
    if name_or_path in BUILTINS:
        return {}
    path = _local_path(name_or_path)
    try:
        return json.loads((path / TASK_FILE).read_text())
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise InterpError(f"{path / TASK_FILE} is not valid JSON: {e}") from e


@offline()
def load_tokenizer(name_or_path: str):
    """(name, folder, tokenizer) without the weights: to plan work on text before any model loads.

    >>> name, folder, tok = load_tokenizer("smollm2-135m")  # doctest: +SKIP
    """
    from transformers import AutoTokenizer

    name, path = resolve(name_or_path)
    return name, path, AutoTokenizer.from_pretrained(path, local_files_only=True)


@offline()
def load_hf(
    name_or_path: str,
    dtype: Any = None,
    attn_implementation: str | None = None,
    device: str | None = "cpu",
    n_devices: int | None = None,
):
    """(name, folder, HF causal LM, tokenizer) with no hooks: for plain-forward baselines. `n_devices` > 1
    spreads the layers over that many CUDA devices (Hugging Face's `device_map="auto"`).

    >>> name, folder, hf, tok = load_hf("smollm2-135m")  # doctest: +SKIP
    """
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor load bars say nothing useful here

    name, path, tok = load_tokenizer(name_or_path)
    kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
    if (n_devices or 1) > 1:
        kw |= {"device_map": "auto", "max_memory": {i: torch.cuda.mem_get_info(i)[0] for i in range(n_devices)}}
    else:
        dev = resolve_device(device)
    with torch.device("cpu") if (n_devices or 1) <= 1 else contextlib.nullcontext():  # not the caller's default
        hf = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32, local_files_only=True, **kw)
    hf = hf.eval()
    if (n_devices or 1) <= 1:
        hf = hf.to(dev)
    return name, path, hf, tok


@offline()
def load_model(
    name_or_path: str = DEFAULT_MODEL,
    device: str | None = "cpu",
    dtype: Any = None,
    fold_weights: bool = True,
    device_map: str | dict | None = None,
    n_devices: int | None = None,
) -> HookedModel:
    """Load a model as a TransformerLens `TransformerBridge` in compatibility mode.

    Hook names are the familiar `blocks.{l}.hook_mlp_out` etc. `fold_weights=True`
    applies HookedTransformer's weight processing (fold LayerNorm, centre writing
    weights and unembedding): log-probabilities match Hugging Face, raw logits
    shift by a constant per position. A built-in model's processed weights are kept
    in its cache (`interp.models.processed`), so only its first load processes.
    `fold_weights=False` keeps HF's raw weights.

    `device`: "cpu", "cuda", "cuda:1", "mps" or "auto"; `dtype`: None or "float32" (exact), "bfloat16" or
    "float16" (matmuls in that format around a float32 residual stream, `interp.models.precision`), or
    "auto" (bfloat16 where the hardware has bfloat16 matrix units). A model larger than one GPU:
    `device_map="auto"` or `n_devices=N` (instead of `device`) hands the placement to TransformerLens 4's
    bridge, which splits the layers across the devices (in `dtype` throughout).

    >>> model = load_model("smollm2-135m", dtype="auto")  # doctest: +SKIP
    >>> model.cfg.n_layers                                 # doctest: +SKIP
    30
    """
    from transformer_lens.model_bridge import TransformerBridge

    split = device_map is not None or (n_devices or 1) > 1
    if split and device not in (None, "auto", "cpu"):
        raise InterpError(f"give device ({device!r}) or device_map / n_devices, not both")
    dev = None if split else resolve_device(device)  # refused here, in one line, before any loading
    fmt = choose_format(dtype_name(dtype) or "float32", dev or "cuda")  # the library is exact unless asked
    if split:
        from transformers import AutoTokenizer

        name, path = resolve(name_or_path)
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        try:
            bridge = TransformerBridge.boot_transformers(
                str(path), tokenizer=tok, dtype=fmt.torch_dtype, device_map=device_map, n_devices=n_devices
            )
        except (ValueError, RuntimeError) as e:
            raise InterpError(f"cannot place {name} with device_map={device_map!r}, n_devices={n_devices}: {e}") from e
        bridge.enable_compatibility_mode(disable_warnings=True, no_processing=not fold_weights)
        return _finish(bridge, name, path, tok, fmt.dtype)
    name, path = resolve(name_or_path)
    if fold_weights and name_or_path in BUILTINS:
        bridge, tok = kept_bridge(path, fmt.torch_dtype)
    else:
        bridge, tok = boot(path, processing=False)
        if fold_weights:  # processed apart, then assigned: the same model as a built-in's kept weights
            folded, _ = boot(path, processing=True)
            processed.assign(bridge, folded.state_dict(), "the processed weights")
            del folded
        if fmt.fast:
            to_mixed(bridge.original_model, fmt.torch_dtype, bridge.cfg.d_model)
    return _finish(bridge if dev == HOST else bridge.to(dev, print_details=False), name, path, tok, fmt.dtype)


def boot(path: Path, processing: bool, lean: bool = False):
    """(bridge, the model's own tokenizer): float32 on the CPU, in compatibility mode, with or without
    TransformerLens's weight processing. `lean` (with `processing`): under `lean_processing` (Qwen2.5-0.5B's
    first load peaks 2 GB lower), checked against the raw model (`check_processed`)."""
    from transformer_lens.model_bridge import TransformerBridge

    _, _, hf, tok = load_hf(str(path))
    raw = processed.raw_logprobs(hf, tok) if lean and processing else None  # (ids, log-probs)
    bridge = TransformerBridge.boot_transformers(str(path), hf_model=hf, tokenizer=tok, device=HOST, dtype=hf.dtype)
    if raw is None:
        bridge.enable_compatibility_mode(disable_warnings=True, no_processing=not processing)
    else:
        process_checked(bridge, *raw)
    return bridge, tok


def kept_bridge(path: Path, dtype: torch.dtype):
    """(bridge, tokenizer) of a built-in model, its processed weights read from the cache (written on the
    first load), on the CPU."""
    path = Path(path)
    if processed.record(path) is None:
        print(f"interp: processing {path.name}'s weights once (TransformerLens weight folding) ...", flush=True)
        bridge, _ = boot(path, processing=True, lean=True)
        processed.save_weights(bridge, processed.processed_file(path, "float32"))
        processed.write_record(bridge, path)
        del bridge
    kept = processed.processed_file(path, str(dtype).removeprefix("torch."))
    if not kept.is_file():  # the fast format's file: the float32 one, converted once
        bridge, _ = boot(path, processing=False)
        processed.assign(bridge, *processed.read(processed.processed_file(path, "float32")))
        to_mixed(bridge.original_model, dtype, bridge.cfg.d_model)
        processed.save_weights(bridge, kept)
        del bridge
    bridge, tok = boot(path, processing=False)
    processed.assign(bridge, *processed.read(kept))
    if dtype == torch.float32:
        processed.check_against_record(bridge, path)
    else:
        to_mixed(bridge.original_model, dtype, bridge.cfg.d_model)  # the weights are in `dtype` already: hooks
    return bridge, tok


def _finish(bridge, name: str, path: Path, tok, dtype: str):
    """The cache rename, and what the toolkit records about the model."""
    prepend_bos = tokenizer_adds_bos(tok)
    bridge.eval()
    thread_cache(bridge)
    bridge.interp_info = ModelInfo(name, str(path), prepend_bos, int(bridge.cfg.n_ctx), dtype)
    return bridge


def tokenizer_adds_bos(tok) -> bool:
    ids = tok("1", add_special_tokens=True)["input_ids"]
    return tok.bos_token_id is not None and len(ids) > 0 and ids[0] == tok.bos_token_id


def model_info(model) -> ModelInfo:
    """Info for a model from `load_model`; for any other hooked model, what its own tokenizer does.

    A `TransformerBridge` booted by hand carries the tokenizer TransformerLens gave it, which adds BOS
    (as its `to_tokens` does), so strings get BOS there; a model without a tokenizer gets none.

    >>> model_info(model).prepend_bos      # the tiny test model's tokenizer adds no BOS
    False
    """
    info = getattr(model, "interp_info", None)
    if info is not None:
        return info
    cfg, tok = getattr(model, "cfg", None), getattr(model, "tokenizer", None)
    bos = tok is not None and tokenizer_adds_bos(tok)
    return ModelInfo(type(model).__name__, "", bos, int(getattr(cfg, "n_ctx", 0) or 0))
