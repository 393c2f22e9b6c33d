"""Where the main job's memory goes while the default model loads: RSS and peak RSS after each step.

    python benchmarks/memory_profile.py [float32|bfloat16]      # NOPROC=1: without weight processing

Loads Qwen2.5-Coder-0.5B as `load_model` does, one step at a time: the Hugging Face model, the
TransformerBridge around it, then compatibility mode with TransformerLens's weight processing (fold
LayerNorm, centre writing weights and unembedding).
"""

import gc
import os
import resource
import sys

import psutil

proc = psutil.Process()


def rss(tag):
    print(
        f"{tag:40s} rss {proc.memory_info().rss / 1e9:6.2f} GB  peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:6.2f} GB",
        flush=True,
    )


import torch

dtype = sys.argv[1] if len(sys.argv) > 1 else "float32"
rss("start")
from transformer_lens.model_bridge import TransformerBridge

from interp.models.loading import load_hf

rss("imports")
name, path, hf, tok = load_hf("qwen2.5-coder-0.5b", getattr(torch, dtype))
rss("load_hf")
b = TransformerBridge.boot_transformers(str(path), hf_model=hf, tokenizer=tok, device="cpu", dtype=hf.dtype)
rss("boot")
b.enable_compatibility_mode(disable_warnings=True, no_processing=os.environ.get("NOPROC") == "1")
rss("compat (fold)")
n = sum(p.numel() * p.element_size() for p in b.parameters())
print("bridge params GB", n / 1e9)
ids = {id(p) for p in b.parameters()}
print(
    "distinct hf params shared with bridge:",
    sum(1 for p in hf.parameters() if id(p) in ids),
    "of",
    len(list(hf.parameters())),
)
gc.collect()
rss("gc")
