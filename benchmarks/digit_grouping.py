"""A digit-grouping BPE, trained in memory: do `emit` read positions ever hold their own label?

    python benchmarks/digit_grouping.py [--n 200] [--json out.json]

Trains a byte-pair tokenizer on arithmetic text (digits merge into multi-digit tokens, as in
GPT-2 or Llama 3), builds a 2-layer random Llama with it, and counts, over 2-digit addition
problems, the read positions whose token already contains the digit being probed: under the
rule the toolkit used before (the token covering the character before the digit) and under
`read_plan` (the last token ending before the digit). Then runs the probe command on the
random model: with no label in view, its digit probes should sit near the majority baseline.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from interp.cli.probe import main as probe_main
from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic
from interp.tasks.reading import probe_texts, read_plan


def grouping_tokenizer() -> PreTrainedTokenizerFast:
    """BPE over single characters; only digit runs are merged (non-digits are split off first)."""
    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"\D"), behavior="isolated")
    tk.decoder = decoders.Fuse()
    rng = np.random.default_rng(123)
    corpus = [f"{a}+{b}={a + b}\n" for a, b in rng.integers(0, 10_000, size=(20_000, 2))]
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<pad>", "<s>", "</s>", "<unk>"])
    tk.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def leaks(tok, problems, pos_of) -> tuple[int, int, list[int]]:
    """(read positions holding their digit, read positions, per scale) over written scales."""
    total, bad, per_scale = 0, 0, [0] * problems.cfg.scales
    for i, (prompt, text) in enumerate(zip(problems.prompts, probe_texts(problems), strict=True)):
        offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        for k in range(1, min(len(text) - len(prompt), problems.cfg.scales) + 1):
            total += 1
            if offsets[pos_of(i, k, text, offsets)][1] > len(text) - k:
                bad += 1
                per_scale[k - 1] += 1
    return bad, total, per_scale


def old_rule(i, k, text, offsets) -> int:
    """The rule before: the token covering the character just before the scale-k digit."""
    char = len(text) - k - 1
    return next(t for t, (s, e) in enumerate(offsets) if s <= char < e)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    tok = grouping_tokenizer()
    print("tokens of 12+35=47:", [tok.decode([t]) for t in tok("12+35=47", add_special_tokens=False)["input_ids"]])
    problems = make_arithmetic(ArithmeticConfig(n=a.n, digits=(2, 2), shots=3, scales=3), 0)
    reads = read_plan(tok, problems, prepend_bos=False)
    before = leaks(tok, problems, old_rule)
    after = leaks(tok, problems, lambda i, k, text, offsets: int(reads.pos[i, k - 1]))
    print(f"read positions holding their own digit, previous rule: {before[0]} of {before[1]} (by scale {before[2]})")
    print(f"read positions holding their own digit, read_plan: {after[0]} of {after[1]} (by scale {after[2]})")
    print(f"scales sharing a read position: {reads.sharing()}; one token per digit: {reads.digits_split}")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "grouped-llama"
        cfg = LlamaConfig(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        )  # fmt: skip
        torch.manual_seed(0)
        LlamaForCausalLM(cfg).save_pretrained(path)
        tok.save_pretrained(path)
        argv = ["--model", str(path), "--n", str(a.n), "--digits", "2", "--behaviour-n", "0", "--quiet"]
        assert probe_main([*argv, "--out", str(Path(d) / "run")]) == 0
        res = json.loads((Path(d) / "run" / "results.json").read_text())
    acc = np.asarray(res["probes"]["accuracy"]).mean(-1).max(axis=(0, 1))  # best cell per scale
    print("random model, best probe accuracy by scale:", np.round(acc, 2).tolist(), "majority:",
          np.round(res["probes"]["majority"], 2).tolist(), "reads:", res["reads"])  # fmt: skip
    if a.json:
        Path(a.json).write_text(
            json.dumps({"before": before, "after": after, "accuracy": acc.tolist(), **res["reads"]})
        )


if __name__ == "__main__":
    main()
