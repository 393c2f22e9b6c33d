"""interp: look inside real language models and small memory networks, offline.

>>> from interp import load_model, capture
>>> model = load_model("smollm2-135m")  # doctest: +SKIP
>>> acts = capture(model, ["12+35="], sites=["mlp_out"], layers="all", positions="last")
>>> acts["mlp_out"].shape        # [n_prompts, n_layers, d_model]: [1, 30, 576] on SmolLM2
torch.Size([1, ...])

Every public name is listed in `EXPORTS` below, by the module that defines it, and is imported on first
use: `import interp` loads none of torch, transformer_lens, plotly, scikit-learn or datasets, and changes
nothing in the process (the offline switches are on only while a model loads, or in a command).

The package's layout, by concept:
- `interp.models`: built-in weights, `load_model`, devices, offline switches, KV-cache continuation;
- `interp.hooks`: hook names, tokenizing, `capture` / `record`, activations on disk;
- `interp.interventions`: `intervene`, the logit lens, activation patching, attribution patching,
  causal tests of probe directions;
- `interp.context`: long-context NLL and activation statistics;
- `interp.runs`: one frozen config in, one frozen result out, per command;
- `interp.cli`: the commands (`python -m interp.probe` and the other `interp/<command>.py` shims);
- `interp.core`: errors, atomic writes, stage timings, versions, the self-check;
- `interp.tasks`, `interp.probes`, `interp.reports`: task generators and the memory models, the
  probes, and figures and pages.
"""

from __future__ import annotations

import importlib

# module -> the public names it defines
EXPORTS: dict[str, tuple[str, ...]] = {
    "interp.core.errors": ("InterpError",),
    "interp.models.loading": ("ModelInfo", "available_models", "load_hf", "load_model", "model_info"),
    "interp.models.kv": ("PrefixCache", "thread_cache", "threaded_cache"),
    "interp.models.offline": ("offline",),
    "interp.hooks.names": ("SITES", "hook_names", "parse_layers"),
    "interp.hooks.tokens": ("TokenMatch",),
    "interp.hooks.capture": ("Activations", "Recording", "capture", "record"),
    "interp.hooks.store": ("ActivationStore", "capture_to_disk"),
    "interp.interventions.intervene": ("intervene",),
    "interp.interventions.lens": ("digit_token_ids", "logit_lens"),
    "interp.interventions.pairs": ("pair_tokens",),
    "interp.interventions.patching": ("PatchConfig", "Site", "naive_patch"),
    "interp.interventions.sublayers": ("PatchResult", "run_patching"),
    "interp.interventions.heads": ("HeadPatchConfig", "HeadPatchResult", "run_head_patching"),
    "interp.interventions.atp": ("AtPConfig", "AtPResult", "attribution_patch"),
    "interp.interventions.atp_checks": ("diagnose", "graddrop", "patch_path"),
    "interp.interventions.causal": ("CausalConfig", "CausalResult", "causal_probe_tests"),
    "interp.interventions.edits": ("digit_logits_under_edits",),
    "interp.probes.linear": ("LinearProbe",),
    "interp.probes.sweep": ("ProbeResults", "SweepConfig", "sweep"),
    "interp.tasks.arithmetic": ("ArithmeticConfig", "make_arithmetic", "make_pairs"),
    "interp.tasks.reading": ("probe_texts", "read_plan", "read_positions"),
    "interp.runs.probe": ("ProbeRun", "ProbeRunConfig"),
    "interp.runs.patch": ("PatchRun", "PatchRunConfig"),
    "interp.runs.nll": ("NLLRun", "NLLRunConfig"),
    "interp.runs.memory": ("MemoryEval",),
}  # fmt: skip
_WHERE = {name: module for module, names in EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    """Import a public name's module on first use (PEP 562), then keep the name here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'interp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
