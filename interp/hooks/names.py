"""Sites and layers in words -> TransformerLens hook names.

Users say `sites=["mlp_out"], layers="all"`; underneath that is a list of hook
names such as `blocks.3.hook_mlp_out`. Both spellings are accepted everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol, Union, runtime_checkable

from interp.core.errors import InterpError

# Per-layer sites. `z` is the per-head attention output before W_O: [.., head, d_head].
SITES: dict[str, str] = {
    "resid_pre": "blocks.{l}.hook_resid_pre",
    "attn_out": "blocks.{l}.hook_attn_out",
    "resid_mid": "blocks.{l}.hook_resid_mid",
    "mlp_out": "blocks.{l}.hook_mlp_out",
    "resid_post": "blocks.{l}.hook_resid_post",
    "z": "blocks.{l}.attn.hook_z",
}

LayerSpec = Union[str, int, Sequence[int], range]


@runtime_checkable
class HookedModel(Protocol):
    """Anything with TransformerLens hook points: a TransformerBridge, an NTM, ..."""

    hook_dict: dict

    def hooks(self, fwd_hooks=..., bwd_hooks=..., reset_hooks_end=..., clear_contexts=...): ...


def n_layers(model: HookedModel) -> int:
    cfg = getattr(model, "cfg", None)
    n = getattr(cfg, "n_layers", None)
    if n is None:
        raise InterpError(f"{type(model).__name__} has no cfg.n_layers; pass hook names directly")
    return int(n)


def parse_layers(spec: LayerSpec, n: int) -> list[int]:
    """`"all"`, `3`, `[0, 4]`, `range(2, 5)`, `"0,4,8"`, `"10-20"` (inclusive) -> sorted list.

    Negative indices count from the end, as in Python.

    >>> parse_layers("10-12", 30), parse_layers("all", 3), parse_layers([0, -1], 30)
    ([10, 11, 12], [0, 1, 2], [0, 29])
    """
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text == "all":
            return list(range(n))
        layers: list[int] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                raise InterpError(f"cannot read layers {spec!r}: an empty item between commas")
            m = re.fullmatch(r"(-?\d+)\s*-\s*(-?\d+)", part)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if hi < lo:
                    raise InterpError(f"layer range {part!r} is empty (end before start)")
                layers.extend(range(lo, hi + 1))
            elif re.fullmatch(r"-?\d+", part):
                layers.append(int(part))
            else:
                raise InterpError(f"cannot read layers {spec!r}: use 'all', '0,4,8' or '10-20'")
    elif isinstance(spec, int):
        layers = [spec]
    else:
        layers = [int(x) for x in spec]
    if not layers:
        raise InterpError("no layers selected")
    out = []
    for layer in layers:
        if not -n <= layer < n:
            raise InterpError(f"layer {layer} is out of range: the model has {n} layers (0-{n - 1})")
        out.append(layer % n)
    return sorted(set(out))


def hook_names(model: HookedModel, site: str, layers: LayerSpec = "all") -> list[str]:
    """Hook names of one site at the given layers, e.g. `blocks.0.hook_mlp_out`.

    >>> hook_names(model, "mlp_out", layers="0,1")
    ['blocks.0.hook_mlp_out', 'blocks.1.hook_mlp_out']
    """
    if site not in SITES:
        raise InterpError(f"unknown site {site!r}; known sites: {', '.join(SITES)}")
    names = [SITES[site].format(l=layer) for layer in parse_layers(layers, n_layers(model))]
    check_names(model, names)
    return names


def check_names(model: HookedModel, names: Iterable[str]) -> None:
    known = model.hook_dict
    missing = [n for n in names if n not in known]
    if missing:
        raise InterpError(
            f"{type(model).__name__} has no hook {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
