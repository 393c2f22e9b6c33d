"""Activations larger than RAM: captured in shards to disk, read back lazily.

Each shard is a safetensors file written under a temporary name and renamed
into place, so an interrupted run never leaves a half-written shard that reads
as valid. Re-running the same capture into the same folder resumes: finished
shards are kept, the rest are computed.

Under `torch.distributed` (e.g. `torchrun --nproc-per-node N -m interp capture ...`), rank r captures
shards r, r + N, r + 2N, ... into the same folder; rank 0 alone prepares the folder (and clears a killed
run's partial files) before the others start. The folder is the same as a single process would write.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save
from torch import Tensor
from tqdm.auto import tqdm

from interp.core.errors import InterpError
from interp.core.files import atomic_write_bytes, atomic_write_text, remove_partials
from interp.hooks.capture import capture
from interp.hooks.tokens import Inputs, Positions, tokenize

_META = "meta.json"


def _check_folder(out: Path, meta: dict) -> None:
    """Resume a capture with the same meta (removing a killed run's partial shard), or refuse the folder."""
    if (out / _META).exists():
        if json.loads((out / _META).read_text()) != meta:
            raise InterpError(f"{out} holds a different capture; choose another folder or delete it")
        remove_partials(out)
    elif out.exists() and not out.is_dir():
        raise InterpError(f"{out} is a file, not a folder; choose an empty folder")
    elif out.exists() and any(out.iterdir()):
        raise InterpError(f"{out} is not empty and holds no capture; choose an empty folder")


def capture_to_disk(
    model,
    inputs: Inputs,
    out_dir: str | os.PathLike,
    names: Sequence[str] | None = None,
    *,
    sites: Sequence[str] | None = None,
    layers="all",
    positions: Positions = "last",
    shard_size: int = 1024,
    batch_size: int = 32,
    dtype: torch.dtype = torch.float32,
    progress: bool | None = None,
    attention_mask: Tensor | None = None,
) -> ActivationStore:
    """`capture()` in shards of `shard_size` inputs, each saved as it completes (padded ids need their mask).

    >>> store = capture_to_disk(model, ["1+1=", "2+3="], "acts", sites=["resid_post"], shard_size=1, progress=False)
    >>> store["resid_post"].shape                 # [n_prompts, layer, d_model], read back lazily
    torch.Size([2, ...])
    """
    if shard_size < 1:
        raise InterpError(f"shard_size must be at least 1, got {shard_size}")
    inputs = _unpadded(model, inputs, attention_mask)
    if isinstance(positions, str) and positions == "all":
        raise InterpError("capture_to_disk stores one position per input; use positions='last', indices or TokenMatch")
    n = len(inputs)
    if n == 0:
        raise InterpError("inputs are empty")
    out = Path(out_dir)
    meta = _meta(model, n, shard_size, names, sites, layers, positions, dtype)
    rank, world = process_group()
    if world == 1:
        _check_folder(out, meta)
    else:
        _prepare_together(out, meta, rank)

    starts = list(enumerate(range(0, n, shard_size)))[rank::world]
    for k, start in tqdm(starts, desc="shards", unit="shard", disable=None if progress is None else not progress):
        path = out / f"shard-{k:05d}.safetensors"
        if path.exists():
            continue  # finished by an earlier run
        chunk = inputs[start : start + shard_size]
        sliceable = isinstance(positions, (Tensor, np.ndarray, list, tuple))
        pos_chunk = positions[start : start + shard_size] if sliceable else positions
        acts = capture(
            model,
            chunk,
            names,
            sites=sites,
            layers=layers,
            positions=pos_chunk,
            batch_size=batch_size,
            dtype=dtype,
            progress=False,
        )
        _write_shard(out, meta, path, acts)
    if world > 1:
        torch.distributed.barrier()  # every rank's shards are in place before anyone reads the store
    return ActivationStore(out)


def _unpadded(model, inputs: Inputs, attention_mask: Tensor | None) -> Inputs:
    """Token ids as one 1-D tensor per input (pads dropped, or a padded tensor refused); other inputs as given."""
    if isinstance(inputs, Mapping) or (isinstance(inputs, Tensor) and not inputs.is_floating_point()):
        return [torch.tensor(r) for r in tokenize(model, inputs, attention_mask=attention_mask).ids]
    return inputs


def _meta(model, n, shard_size, names, sites, layers, positions, dtype) -> dict[str, Any]:
    """What identifies a capture: a folder holding another one is refused, the same one resumes."""
    return {
        "n": n,
        "shard_size": shard_size,
        "names": list(names) if names is not None else None,
        "sites": list(sites) if sites is not None else None,
        "layers": layers if isinstance(layers, (str, int)) else list(layers),
        "positions": positions if isinstance(positions, str) else repr(positions),
        "dtype": str(dtype),
        "model": getattr(getattr(model, "interp_info", None), "name", type(model).__name__),
    }


def process_group() -> tuple[int, int]:
    """(rank, world size) of the initialised `torch.distributed` group, or (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _prepare_together(out: Path, meta: dict, rank: int) -> None:
    """Rank 0 checks and prepares the folder, then every rank learns the outcome (an error is raised by all)."""
    msg = [None]
    if rank == 0:
        try:
            _check_folder(out, meta)
            out.mkdir(parents=True, exist_ok=True)
            if not (out / _META).exists():
                atomic_write_text(out / _META, json.dumps(meta, indent=1))
        except InterpError as e:
            msg = [str(e)]
    torch.distributed.broadcast_object_list(msg, src=0)
    if msg[0] is not None:
        raise InterpError(msg[0])


def _write_shard(out: Path, meta: dict, path: Path, acts: dict[str, Tensor]) -> None:
    data = save({key: t.contiguous() for key, t in acts.items()})
    if not (out / _META).exists():  # the folder appears only once there is a shard to put in it
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / _META, json.dumps(meta, indent=1))
    atomic_write_bytes(path, data)


class ActivationStore:
    """Read-only view of a `capture_to_disk` folder; tensors load only when asked.

    >>> _ = capture_to_disk(model, ["1+1=", "2+3="], "acts", sites=["mlp_out"], progress=False)
    >>> ActivationStore("acts")["mlp_out"].shape[0]
    2
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.meta = json.loads((self.path / _META).read_text())
        except (OSError, ValueError) as e:
            raise InterpError(f"{self.path} is not an activation store ({e})") from e
        self.n = int(self.meta["n"])
        size = int(self.meta["shard_size"])
        self.shards = [self.path / f"shard-{k:05d}.safetensors" for k in range(-(-self.n // size))]
        missing = [p.name for p in self.shards if not p.exists()]
        if missing:
            raise InterpError(
                f"{self.path} is incomplete: {len(missing)} of {len(self.shards)} shards missing "
                "(re-run the same capture to resume)"
            )

    def __len__(self) -> int:
        return self.n

    @property
    def keys(self) -> list[str]:
        with safe_open(self.shards[0], "pt") as f:
            return list(f.keys())

    def iter_shards(self, key: str) -> Iterator[Tensor]:
        """One shard's tensor at a time: memory stays at one shard."""
        for p in self.shards:
            with safe_open(p, "pt") as f:
                yield f.get_tensor(key)

    def __getitem__(self, key: str) -> Tensor:
        """The whole tensor for `key`, concatenated over shards."""
        if key not in self.keys:
            raise KeyError(f"{key!r} not in store; keys: {self.keys}")
        return torch.cat(list(self.iter_shards(key)))
