"""The number format a model computes in: float32, or bfloat16 matmuls around a float32 residual stream.

The fast format ("mixed") keeps the weights of every linear layer inside the blocks in bfloat16, so the
CPU's bfloat16 matrix units (AMX, AVX-512 BF16) or a GPU's tensor cores do the work, but everything that
accumulates stays float32: the embedding, biases, the residual stream, norms, attention scores and
softmax, and the unembedding (whose logits become log-probs). Only an MLP's widening projections (gate/up) hand bfloat16 to
the next matmul, since an elementwise product sits between them. On the default model the worst layer's
activations are 7% from float32 (bfloat16 throughout: 16-24%), and probe cells (means over folds) move by up to 0.022, which
is why float32 stays the default (BENCHMARKS.md, "Number formats and memory").

`auto` picks the fast format only where the hardware has bfloat16 matrix units; elsewhere float32, and
`choose_format` says why in one line.
"""

from __future__ import annotations

import platform
import types
from dataclasses import dataclass
from pathlib import Path

import torch

from interp.core.errors import InterpError

FORMATS = ("auto", "float32", "bfloat16", "float16")
CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # either makes bfloat16 matmuls faster than float32 on a CPU
GUARD_ULPS = 16  # a fast run stops when a checked activation is further than this many epsilons of the
# format from float32 (relative, over the checked slice): 12.5% for bfloat16; the default model is up to
# 7% off in its middle layers (BENCHMARKS.md)


@dataclass(frozen=True)
class Format:
    """What a run computes in, and why.

    >>> choose_format("float32", "cpu")
    Format(dtype='float32', reason='exact, the default')
    """

    dtype: str  # "float32", "bfloat16" or "float16"
    reason: str

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    @property
    def fast(self) -> bool:
        return self.dtype != "float32"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (Linux); empty where the system does not list them."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def fast_hardware(device: str | torch.device, flags: set[str] | None = None) -> str | None:
    """Why this device runs bfloat16 matmuls faster than float32, or None where it does not."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return "this GPU supports bfloat16" if torch.cuda.is_bf16_supported() else None
    if dev.type != "cpu":
        return None
    have = sorted((cpu_flags() if flags is None else flags) & set(CPU_FLAGS))
    return f"this CPU has bfloat16 matrix units ({', '.join(have)})" if have else None


def dtype_name(dtype) -> str | None:
    """A torch dtype or a name as the name `choose_format` takes.

    >>> dtype_name(torch.bfloat16), dtype_name("auto"), dtype_name(None)
    ('bfloat16', 'auto', None)
    """
    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
        if name not in FORMATS:
            raise InterpError(f"dtype {dtype} is not supported: choose {', '.join(FORMATS)}")
        return name
    return dtype


def slow_format(requested: str | None, device: str | torch.device, flags: set[str] | None = None) -> str | None:
    """Why bfloat16, asked for by name, runs slower than float32 on this CPU; None where it does not.

    Without bfloat16 matrix units torch 2.13 computes a bfloat16 matmul at a fraction of float32's speed
    (1 against 73 GFLOP/s on one thread of an AVX2 EPYC), so a job that takes minutes in float32 takes hours.

    >>> slow_format("bfloat16", "cpu", flags={"avx2"}).split(":")[0]
    'this cpu has no bfloat16 matrix units (amx_bf16, avx512_bf16)'
    >>> slow_format("bfloat16", "cpu", flags={"amx_bf16"}) is None
    True
    """
    if requested != "bfloat16" or torch.device(device).type != "cpu" or fast_hardware(device, flags):
        return None
    return (
        f"this cpu has no bfloat16 matrix units ({', '.join(CPU_FLAGS)}): bfloat16 matmuls run many times slower "
        "than float32 here"
    )


def choose_format(requested: str | None, device: str | torch.device, flags: set[str] | None = None) -> Format:
    """`auto` (or None): bfloat16 where `fast_hardware` finds support, else float32; otherwise as asked.

    >>> choose_format("auto", "cpu", flags=set())
    Format(dtype='float32', reason='auto: no bfloat16 matrix units on this cpu (float32 runs at the usual speed)')
    """
    requested = requested or "auto"
    if requested not in FORMATS:
        raise InterpError(f"unknown dtype {requested!r}: choose {', '.join(FORMATS)}")
    if requested == "float32":  # the commands' default: a run without --dtype was not "asked for" anything
        return Format("float32", "exact, the default")
    if requested != "auto":
        slow = slow_format(requested, device, flags)
        return Format(requested, "asked for" + (f"; {slow}" if slow else ""))
    why = fast_hardware(device, flags)
    if why is None:
        kind = torch.device(device).type
        return Format("float32", f"auto: no bfloat16 matrix units on this {kind} (float32 runs at the usual speed)")
    return Format("bfloat16", f"auto: {why} ({platform.machine()})")


def guard_tolerance(dtype: torch.dtype) -> float:
    """Largest relative distance from float32 a fast run accepts: `GUARD_ULPS` epsilons of the format.

    >>> guard_tolerance(torch.bfloat16)
    0.125
    """
    return GUARD_ULPS * torch.finfo(dtype).eps


def narrow_output(name: str, module: torch.nn.Linear, d_model: int) -> bool:
    """Whether a linear layer's output may stay in the fast format: an MLP's widening projection only."""
    return ".mlp." in f".{name}." and module.out_features != d_model


def to_mixed(model: torch.nn.Module, dtype: torch.dtype, d_model: int, keep: tuple[str, ...] = ("lm_head",)) -> int:
    """Put a Hugging Face model's matmuls in `dtype` around a float32 residual stream, in place.

    Linear layers' weights become `dtype`, except the modules named in `keep` (the unembedding), which
    stay float32, as does the embedding (a lookup, not a matmul: it starts the residual stream). Biases stay float32 and are added after the matmul: Qwen's attention biases reach
    the hundreds, where bfloat16's steps are whole units and would move attention logits. Each linear
    layer casts its input to its weights' format and hands float32 on, unless `narrow_output` says the next
    op is another fast matmul. Returns how many modules changed.

    >>> import transformers
    >>> hf = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(hidden_size=16,
    ...     intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=40))
    >>> to_mixed(hf, torch.bfloat16, d_model=16)   # q, k, v, o, gate, up, down
    7
    >>> hf(torch.tensor([[1, 2, 3]])).logits.dtype
    torch.float32
    """
    changed = 0
    for name, mod in model.named_modules():
        name = hf_name(name)
        if name.split(".")[-1] in keep or not isinstance(mod, torch.nn.Linear):
            continue
        mod.weight = torch.nn.Parameter(mod.weight.detach().to(dtype), requires_grad=False)
        mod.mixed_narrow = narrow_output(name, mod, d_model)
        mod.forward = types.MethodType(mixed_linear, mod)  # this instance only
        changed += 1
    return changed


def own_float32(model: torch.nn.Module) -> int:
    """Copy the float32 parameters left on the CPU after `to_mixed` into memory of their own; returns the bytes.

    A model loaded from safetensors keeps its weights in the file's memory map. After `to_mixed` the
    embedding, norms and biases still point into it, so the whole map stays, with every float32 page a
    float32 pass (a guard's reference) or the conversion touched: on Qwen2.5-0.5B, 2.1 GB of file pages
    for 1.1 GB of float32 tensors still used. Copying those lets the map go. Parameters shared between
    modules stay shared (each is one object, copied once).
    """
    copied = 0
    for p in model.parameters():  # each shared parameter once
        if p.dtype == torch.float32 and p.device.type == "cpu":
            p.data = p.data.clone()
            copied += p.numel() * p.element_size()
    return copied


def hf_name(name: str) -> str:
    """A module's Hugging Face name: TransformerLens's bridge hangs each original module under its wrapper."""
    return ".".join(p for p in name.split(".") if p not in ("_original_component", "original_component"))


def mixed_linear(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """x @ W.T in the weights' format; then float32 (unless narrow) and the float32 bias."""
    out = torch.nn.functional.linear(x.to(self.weight.dtype), self.weight)
    if not self.mixed_narrow:
        out = out.float()
    return out if self.bias is None else out + self.bias


def check_tolerance(model, atol: float, rtol: float = 0.0) -> tuple[float, float]:
    """(atol, rtol) for a fast path's self-check on `model`: as given in float32; in a fast format, whose
    rounding differs with the batch's shape and the cache, `guard_tolerance` for both, which still
    catches a broken cache or kernel (those are off by whole nats or logits).

    >>> check_tolerance(torch.nn.Linear(2, 2), 1e-3)
    (0.001, 0.0)
    """
    dtype = compute_dtype(model)
    if dtype in (torch.float32, torch.float64):
        return atol, rtol
    tol = guard_tolerance(dtype)
    return max(atol, tol), max(rtol, tol)


def compute_dtype(model) -> torch.dtype:
    """The format a model's matmuls run in: its first linear layer's weights (float32 when it has none)."""
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear):
            return mod.weight.dtype
    return torch.float32


__all__ = [
    "Format",
    "check_tolerance",
    "choose_format",
    "compute_dtype",
    "dtype_name",
    "fast_hardware",
    "guard_tolerance",
    "own_float32",
    "slow_format",
    "to_mixed",
]
