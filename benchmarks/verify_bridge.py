"""Check the TransformerLens bridge against plain transformers on real models.

    python benchmarks/verify_bridge.py [--model smollm2-135m --model gemma3-270m]

Compatibility mode centres the unembedding, so raw logits shift by a constant
per position; log-probabilities must agree. Prints max |log-prob difference|
and whether the argmax agrees at every position.
"""

from __future__ import annotations

import argparse

import torch

TEXT = "The Neural Turing Machine couples a network to an external memory. 12+35=47\n405+17=422\n1234+4321="


def verify(name: str) -> dict:
    from interp import load_model
    from interp.models.loading import load_hf

    out = {"model": name}
    _, _, hf, tok = load_hf(name, attn_implementation="eager")
    ids = tok(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = hf(ids).logits.log_softmax(-1)
        for fold in (True, False):
            bridge = load_model(name, fold_weights=fold)
            got = bridge(ids).log_softmax(-1)
            key = "folded" if fold else "raw"
            out[f"{key}_max_abs_logprob_diff"] = float((got - ref).abs().max())
            out[f"{key}_argmax_agree"] = bool((got.argmax(-1) == ref.argmax(-1)).all())
            del bridge
    out["tokens"] = int(ids.shape[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append")
    args = ap.parse_args()
    print(
        "| model | tokens | max abs log-prob diff (folded) | argmax agrees | max abs diff (raw weights) | argmax agrees |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.model or ["smollm2-135m", "gemma3-270m"]:
        r = verify(name)
        print(
            f"| {r['model']} | {r['tokens']} | {r['folded_max_abs_logprob_diff']:.2e} | {r['folded_argmax_agree']} "
            f"| {r['raw_max_abs_logprob_diff']:.2e} | {r['raw_argmax_agree']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
