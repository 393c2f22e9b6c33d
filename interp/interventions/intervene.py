"""Write activations: replace or transform named hook points during any code in a block.

`record` reads hook points; `intervene` writes them. Together they cover ablation, steering
and activation patching by hand on any TransformerLens model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from torch import Tensor

from interp.core.errors import InterpError
from interp.hooks.names import HookedModel, check_names

Edit = Tensor | Callable[[Tensor], Tensor]


@contextmanager
def intervene(model: HookedModel, edits: Mapping[str, Edit]) -> Iterator[None]:
    """Inside the block, each named hook's output is replaced or transformed; hooks go on exit, even on error.

    A tensor replaces the activation (it must broadcast to the activation's shape, e.g. a
    `[d_model]` direction or a full `[batch, pos, d_model]` value). A function receives the
    activation and returns the new one.

    >>> tokens = model.tokenizer(["12+35="], add_special_tokens=False, return_tensors="pt")["input_ids"]
    >>> with intervene(model, {"blocks.1.hook_mlp_out": torch.zeros(model.cfg.d_model)}):  # zero-ablate
    ...     ablated = model(tokens)
    >>> v = torch.randn(model.cfg.d_model)
    >>> with intervene(model, {"blocks.0.hook_resid_post": lambda a: a + 4 * v}):  # steer
    ...     steered = model(tokens)
    >>> ablated.shape == steered.shape
    True
    """
    if not edits:
        raise InterpError("edits is empty")
    check_names(model, edits)

    def make_hook(name: str, edit: Edit):
        def hook(act: Tensor, hook=None) -> Tensor:
            if callable(edit):
                new = edit(act)
            else:
                try:  # a tensor of its own: never the caller's, never a stride-0 view a later hook can't write
                    new = edit.to(act.device, act.dtype).expand_as(act).clone()
                except RuntimeError:
                    new = edit
            if not isinstance(new, Tensor) or new.shape != act.shape:
                raise InterpError(
                    f"edit for {name} gives shape {tuple(getattr(new, 'shape', ()))}, expected {tuple(act.shape)}"
                )
            return new

        return hook

    for name, edit in edits.items():
        if not callable(edit) and not isinstance(edit, Tensor):
            raise InterpError(f"edit for {name} must be a tensor or a function, got {type(edit).__name__}")
    with model.hooks(fwd_hooks=[(n, make_hook(n, e)) for n, e in edits.items()]):
        yield


__all__ = ["Edit", "intervene"]
