"""interp: look inside real language models and small memory networks, offline.

>>> from interp import load_model, capture
>>> model = load_model("smollm2-135m")
>>> acts = capture(model, ["12+35="], sites=["mlp_out"], layers="all", positions="last")
>>> acts["mlp_out"].shape        # [n_prompts, n_layers, d_model]

Importing the package changes nothing in the process: the offline switches are
set when a model is loaded or a command starts.
"""

from interp.atp import AtPResult, attribution_patch
from interp.errors import InterpError
from interp.heads import HeadPatchResult, run_head_patching
from interp.hooks.capture import Activations, capture, record
from interp.intervene import intervene
from interp.lens import digit_token_ids, logit_lens
from interp.models import available_models, load_model
from interp.names import SITES, hook_names, parse_layers
from interp.patching import PatchConfig
from interp.probes.linear import LinearProbe
from interp.store import ActivationStore, capture_to_disk
from interp.sublayers import PatchResult, run_patching
from interp.tokens import TokenMatch

__all__ = [
    "ActivationStore",
    "Activations",
    "AtPResult",
    "HeadPatchResult",
    "InterpError",
    "LinearProbe",
    "PatchConfig",
    "PatchResult",
    "SITES",
    "TokenMatch",
    "attribution_patch",
    "available_models",
    "capture",
    "capture_to_disk",
    "digit_token_ids",
    "hook_names",
    "intervene",
    "logit_lens",
    "load_model",
    "parse_layers",
    "record",
    "run_head_patching",
    "run_patching",
]
