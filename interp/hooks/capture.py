"""Two verbs: `capture()` returns activations; `record()` wraps any code.

Hooks keep only what was asked: a hook reading `positions="last"` stores
[batch, d_model] per site, never [batch, pos, d_model] for every hook. Once
every requested hook has fired, the forward stops (no later layers, no unembed).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from jaxtyping import Int
from torch import Tensor
from tqdm.auto import tqdm

from interp.core.errors import InterpError
from interp.core.selfcheck import agree, agree_relative
from interp.core.stop import StopForward
from interp.hooks.names import HookedModel, LayerSpec, check_names, hook_names, n_layers, parse_layers
from interp.hooks.tokens import Inputs, Positions, Tokenized, pad, resolve_positions, tokenize
from interp.models.devices import HOST, model_device
from interp.models.paging import release_unembedding
from interp.models.precision import compute_dtype, guard_tolerance


class Activations(dict):
    """`{key: tensor}` plus how it was read.

    Keyed by site (`"mlp_out"` -> [batch, layer, d_model]) when `sites=` was
    given, else by the requested hook name (-> [batch, d_model]). With
    `positions="all"` a `pos` axis follows the layer axis, zero-padded past
    each input's `lengths`.

    >>> acts = capture(model, ["12+35=", "7+8="], sites=["resid_post"], positions="all")
    >>> acts.lengths.tolist(), acts["resid_post"].shape[:3]   # [batch, layer, pos, d_model]
    ([6, 4], torch.Size([2, 2, 6]))
    """

    def __init__(self, data, *, layers, positions, lengths):
        super().__init__(data)
        self.layers: list[int] | None = layers
        self.positions: Int[Tensor, " batch"] | None = positions
        self.lengths: Int[Tensor, " batch"] = lengths


def capture(
    model: HookedModel,
    inputs: Inputs,
    names: Sequence[str] | None = None,
    *,
    sites: Sequence[str] | str | None = None,
    layers: LayerSpec = "all",
    positions: Positions = "last",
    batch_size: int = 32,
    dtype: torch.dtype = torch.float32,
    prepend_bos: bool | None = None,
    progress: bool | None = None,
    check: bool = True,
    attention_mask: Int[Tensor, "batch pos"] | None = None,
) -> Activations:
    """Run `model` on `inputs` and return the activations asked for, on CPU.

    Either `names` (hook names) or `sites` (+ `layers`) says what to keep. The first rows are checked against
    a whole forward (`check=False` skips that: benchmarks only); the pages of a kept model's unembedding that
    it touches are then handed back (`interp.models.paging`: values unchanged, reread on the next logits).

    `inputs`: strings, a `[batch, pos]` id tensor, 1-D id tensors, or a tokenizer's output. Strings get BOS when
    the model's own tokenizer adds one (`prepend_bos=None`; True or False overrides); ids are used as given.
    A padded id tensor needs `attention_mask` (a tokenizer's output carries it): pads are dropped and
    positions count from each row's first real token. Without a mask, rows that end in pad runs of
    different lengths are refused rather than read at a pad.

    >>> acts = capture(model, ["12+35=", "7+8="], sites=["mlp_out"], layers="all")
    >>> acts["mlp_out"].shape            # [batch, layer, d_model]
    torch.Size([2, ...])
    >>> acts = capture(model, tokenizer_output, sites=["resid_post"])  # padded ids with their mask  # doctest: +SKIP
    """
    if batch_size < 1:
        raise InterpError(f"batch_size must be at least 1, got {batch_size}")
    names, by_site = _requested(model, names, sites, layers)
    layer_list = parse_layers(layers, n_layers(model)) if by_site else None

    if isinstance(inputs, Tensor) and inputs.is_floating_point():
        # Raw inputs (e.g. bit sequences for memory models): batched as given, no padding.
        if len(inputs) == 0:
            raise InterpError("inputs are empty")
        lengths = torch.full((len(inputs),), inputs.shape[1] if inputs.ndim > 1 else 1, device=HOST)
        toks = None
        pos = resolve_positions(model, Tokenized([[0] * int(k) for k in lengths]), positions)
        order, make_batch = list(range(len(inputs))), lambda idx: inputs[idx]  # noqa: E731
    else:
        toks = tokenize(model, inputs, prepend_bos, attention_mask)
        lengths = toks.lengths
        pos = resolve_positions(model, toks, positions)
        order = sorted(range(len(toks.ids)), key=lambda i: len(toks.ids[i]))  # less padding
        pad_id = _pad_id(model)
        make_batch = lambda idx: pad([toks.ids[i] for i in idx], pad_id)  # noqa: E731
    width = int(lengths.max()) if pos is None else None
    store = SiteBuffers(dtype, {n: (s, i, len(hooks)) for s, hooks in by_site.items() for i, n in enumerate(hooks)})
    flat = _run(model, order, make_batch, width, lengths, pos, names, batch_size, dtype, progress, check, store)
    if by_site:
        flat = {s: store.buffers[s] for s in by_site}
    return Activations(flat, layers=layer_list, positions=pos, lengths=lengths)


def _requested(model, names, sites, layers) -> tuple[list[str], dict[str, list[str]]]:
    """(hook names to keep, {site: its hook names} when asked by site)."""
    if (names is None) == (sites is None):
        raise InterpError("give either hook names or sites=, not both or neither")
    if sites is not None:
        sites = [sites] if isinstance(sites, str) else list(sites)
        if not sites:
            raise InterpError("sites is empty")
        by_site = {s: hook_names(model, s, layers) for s in sites}
        return [n for s in sites for n in by_site[s]], by_site
    names = list(names)
    if not names:
        raise InterpError("names is empty")
    check_names(model, names)
    return names, {}


def _run(
    model, order, make_batch, width, lengths, pos, names, batch_size, dtype, progress, check, store
) -> dict[str, Tensor]:
    n = len(order)
    wanted = set(names)
    out: dict[str, Tensor] = {}

    batch_rows: Tensor = torch.empty(0, dtype=torch.long, device=HOST)
    batch_pos: Tensor | None = None
    seen: set[str] = set()

    def make_hook(name: str):
        def hook(act: Tensor, hook=None) -> Tensor:
            rows = torch.arange(act.shape[0], device=act.device)
            at = None if batch_pos is None else batch_pos.to(act.device)
            picked = act if at is None else act[rows.view(-1, *[1] * (at.ndim - 1)), at]
            picked = picked.detach().to("cpu", dtype)
            if name not in out:
                shape = (n, width, *picked.shape[2:]) if batch_pos is None else (n, *picked.shape[1:])
                out[name] = store.tensor(name, shape)
            if batch_pos is None:  # keep padding at zero, not the model's output on pad tokens
                real = torch.arange(picked.shape[1], device=HOST) < lengths[batch_rows, None]
                picked = picked * real.reshape(*real.shape, *[1] * (picked.ndim - 2))
                out[name][batch_rows, : picked.shape[1]] = picked
            else:
                out[name][batch_rows] = picked
            seen.add(name)
            if seen == wanted:
                raise StopForward
            return act

        return hook

    device = model_device(model)
    plain = _plain_first_rows(model, order[:2], make_batch, names, device) if check else None
    bar = tqdm(total=n, unit="input", desc="capture", disable=None if progress is None else not progress, leave=False)
    try:
        with torch.no_grad(), model.hooks(fwd_hooks=[(nm, make_hook(nm)) for nm in names]):
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                batch_rows = torch.tensor(idx, dtype=torch.long, device=HOST)
                batch_pos = None if pos is None else pos[batch_rows]
                seen.clear()
                batch = make_batch(batch_rows).to(device)
                try:
                    model(batch)
                except StopForward:
                    pass
                if seen != wanted:
                    missing = sorted(wanted - seen)[0]
                    raise InterpError(f"hook {missing!r} never fired in a forward pass")
                bar.update(len(idx))
    finally:
        bar.close()
    if plain is not None:
        _check_first_rows(model, *plain, lengths, pos, names, out, dtype)
    return out


@dataclass
class SiteBuffers:
    """Where each hook's activations go: a tensor of its own, or, for a hook in `slots` ({name: (site,
    layer index, layers)}), its layer's slice of its site's [n, layer, ...] tensor, so that no stacking copy
    doubles the memory at the end."""

    dtype: torch.dtype
    slots: dict[str, tuple[str, int, int]]
    buffers: dict[str, Tensor] = field(default_factory=dict)

    def tensor(self, name: str, shape: tuple[int, ...]) -> Tensor:
        if name not in self.slots:
            return torch.zeros(shape, dtype=self.dtype, device=HOST)
        site, i, count = self.slots[name]
        if site not in self.buffers:
            self.buffers[site] = torch.zeros((shape[0], count, *shape[1:]), dtype=self.dtype, device=HOST)
        return self.buffers[site][:, i]


def _plain_first_rows(model, rows, make_batch, names, device) -> tuple[Tensor, dict[str, Tensor]]:
    """(row indices, {name: activation}) of a whole forward of the first rows, read with `record`: what the
    early-stopped capture must reproduce. It runs first and touches the unembedding, which the capture
    never reads, so those pages are handed back (`release_unembedding`: 0.54 GB of Qwen2.5-0.5B's)."""
    idx = torch.tensor(rows, dtype=torch.long, device=HOST)
    with torch.no_grad(), record(model, names) as rec:
        model(make_batch(idx).to(device))
    release_unembedding(model)
    return idx, {name: rec.acts[name][0] for name in names}


def _check_first_rows(model, idx, plain_acts, lengths, pos, names, out, dtype) -> None:
    """The early-stopped capture against the whole forward of its first rows."""
    fmt = compute_dtype(model)  # a fast format rounds differently with the batch's shape: judged as the guard is
    tol = 1e-4 if dtype in (torch.float32, torch.float64) else 1e-2
    for name in names:
        act = plain_acts[name].float().to(HOST)
        if pos is None:  # padding is kept at zero in the capture
            real = torch.arange(act.shape[1], device=HOST) < lengths[idx, None]
            plain = act * real.reshape(*real.shape, *[1] * (act.ndim - 2))
            fast = out[name][idx, : act.shape[1]].float()
        else:
            at = pos[idx]
            rows = torch.arange(len(idx), device=HOST).view(-1, *[1] * (at.ndim - 1))
            fast, plain = out[name][idx].float(), act[rows, at]
        if fmt in (torch.float32, torch.float64):
            agree(f"capture stopped early at {name!r}", fast, plain, atol=tol * (1 + float(plain.abs().max())))
        else:
            agree_relative(f"capture stopped early at {name!r}", fast, plain, guard_tolerance(fmt))


def _pad_id(model) -> int:
    tok = getattr(model, "tokenizer", None)
    pad_id = getattr(tok, "pad_token_id", None)
    return int(pad_id) if pad_id is not None else 0


@dataclass
class Recording:
    """What `record()` saw: one tensor per forward call, per requested name.

    >>> with record(model, ["blocks.1.hook_resid_post"]) as rec:
    ...     _ = model(torch.tensor([[5, 6, 7]]))
    >>> len(rec.acts["blocks.1.hook_resid_post"])   # one tensor per forward call
    1
    """

    acts: dict[str, list[Tensor]] = field(default_factory=dict)


@contextmanager
def record(model: HookedModel, names: Sequence[str], detach: bool = True) -> Iterator[Recording]:
    """Record the named hooks during any code in the body; hooks are removed on exit.

    >>> tokens = model.tokenizer(["12+35="], add_special_tokens=False, return_tensors="pt")["input_ids"]
    >>> with record(model, ["blocks.0.hook_mlp_out"]) as rec:
    ...     _ = model(tokens)
    >>> rec.acts["blocks.0.hook_mlp_out"][0].shape   # [batch, pos, d_model]
    torch.Size([1, 6, ...])
    """
    names = list(names)
    if not names:
        raise InterpError("names is empty")
    check_names(model, names)
    rec = Recording({n: [] for n in names})

    def make_hook(name: str):
        def hook(act: Tensor, hook=None) -> Tensor:
            rec.acts[name].append(act.detach().cpu() if detach else act)
            return act

        return hook

    with model.hooks(fwd_hooks=[(n, make_hook(n)) for n in names]):
        yield rec


__all__ = ["Activations", "capture", "record", "Recording"]
