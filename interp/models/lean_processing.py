"""TransformerLens's weight processing without its full copies: the first load of a model peaks lower.

`ProcessWeights.process_weights` chains steps that each begin by cloning every tensor of the state dict they
are given, so that they never modify their input. Centring the unembedding thus copies all 2.5 GB of Qwen2.5's
weights to change one 0.54 GB matrix, and folding the value biases copies them again to change the attention
biases. Inside `lean_processing()` those two steps are handed only the tensors they read (the unembedding; the
attention's), clone and change just those, and the rest of the state dict is passed on as it was: the same
tensors, the same values and key order as the full copy would have held. `check_processed` then checks the
two steps' results against what they must give, at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from interp.core.selfcheck import SelfCheckError
from interp.models.processed import check_logprobs

# The state-dict keys each narrowed step reads and writes (TransformerBridge names).
STEP_KEYS: dict[str, Callable[[str], bool]] = {
    "center_unembed": lambda k: k.startswith("unembed."),
    "fold_value_biases": lambda k: ".attn." in k,
}


def narrowed(step: Callable, wanted: Callable[[str], bool]) -> Callable:
    """`step(state_dict, ...)` run on the keys `wanted` picks, merged back into the whole state dict: keys it
    returns replace or follow the others, keys it drops go."""

    def run(state_dict: dict, *args, **kwargs) -> dict:
        part = {k: v for k, v in state_dict.items() if wanted(k)}
        done = step(part, *args, **kwargs)
        out = {k: v for k, v in state_dict.items() if not wanted(k) or k in done}
        out.update(done)
        return out

    return run


@contextmanager
def lean_processing() -> Iterator[None]:
    """Narrow `ProcessWeights.center_unembed` and `fold_value_biases` to their own keys for the block; they are
    put back on exit, so a bridge booted afterwards, by us or by the researcher, processes as TransformerLens
    does."""
    from transformer_lens.weight_processing import ProcessWeights

    saved = {name: ProcessWeights.__dict__[name] for name in STEP_KEYS}
    try:
        for name, wanted in STEP_KEYS.items():
            setattr(ProcessWeights, name, staticmethod(narrowed(saved[name].__func__, wanted)))
        yield
    finally:
        for name, original in saved.items():
            setattr(ProcessWeights, name, original)


def process_checked(bridge, ids: torch.Tensor, raw: torch.Tensor) -> float:
    """Process a freshly booted `bridge` (compatibility mode) under `lean_processing`, then `check_processed`
    it against the raw model's log-probs `raw` on `ids`. Returns the largest log-prob difference."""
    with lean_processing():
        bridge.enable_compatibility_mode(disable_warnings=True, no_processing=False)
    return check_processed(bridge, ids, raw)


def check_processed(bridge, ids: torch.Tensor, raw: torch.Tensor) -> float:
    """Raise `SelfCheckError` unless the processed `bridge` computes what the raw model did (`ids`, `raw`: its
    `raw_logprobs`; within 1e-3), with its unembedding centred (where TransformerLens centres it: not under
    logit soft-capping) and every attention value bias folded away. Returns the largest log-prob difference."""
    sd = bridge.state_dict()
    diff = float((check_logprobs(bridge, ids) - raw).abs().max())
    problems = [] if diff <= 1e-3 else [f"its log-probs differ from the raw model's by {diff:.3g}"]
    w_u, cap = sd.get("unembed.weight"), getattr(bridge.cfg, "output_logits_soft_cap", None)
    if w_u is not None and not (cap and cap > 0):
        off = float(w_u.mean(0 if w_u.shape[0] == bridge.cfg.d_vocab else -1).abs().max())
        if not off <= 1e-5 * max(1.0, float(w_u.abs().max())):
            problems.append(f"its unembedding is not centred (mean {off:.3g})")
    unfolded = [k for k, v in sd.items() if k.endswith(".attn.v.bias") and bool(v.abs().max() > 0)]
    if unfolded:
        problems.append(f"{unfolded[0]} was not folded ({len(unfolded)} in all)")
    if problems:
        raise SelfCheckError(f"processing the weights went wrong: {'; '.join(problems)}")
    return diff


__all__ = ["check_processed", "lean_processing", "narrowed", "process_checked"]
