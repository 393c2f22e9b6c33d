"""Where the main job's memory goes while the default model loads: RSS and peak RSS after each step.

    python benchmarks/memory_profile.py [--dtype float32|bfloat16] [--no-processing]

Loads Qwen2.5-Coder-0.5B as `load_model` does, one step at a time: the Hugging Face model, the
TransformerBridge around it, then compatibility mode with TransformerLens's weight processing (fold
LayerNorm, centre writing weights and unembedding), or without it.
"""

from __future__ import annotations

import argparse
import resource
from pathlib import Path


def rss_gb() -> tuple[float, float]:
    """(resident now, peak so far) in GB, from /proc and getrusage (Linux)."""
    status = Path("/proc/self/status").read_text().split("\n")
    now = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return now / 1e6, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--no-processing", action="store_true", help="compatibility mode without weight processing")
    a = ap.parse_args()

    def step(tag: str) -> None:
        now, peak = rss_gb()
        print(f"{tag:44s} RSS {now:5.2f} GB   peak {peak:5.2f} GB", flush=True)

    step("start")
    import torch
    from transformer_lens.model_bridge import TransformerBridge

    from interp.models.loading import load_hf

    step("imports")
    _, path, hf, tok = load_hf("qwen2.5-coder-0.5b", getattr(torch, a.dtype))
    step("load_hf: the Hugging Face model")
    bridge = TransformerBridge.boot_transformers(str(path), hf_model=hf, tokenizer=tok, device="cpu", dtype=hf.dtype)
    step("boot_transformers: the bridge")
    bridge.enable_compatibility_mode(disable_warnings=True, no_processing=a.no_processing)
    step("enable_compatibility_mode" + (" (no processing)" if a.no_processing else ": weight processing"))
    params = sum(p.numel() * p.element_size() for p in bridge.parameters())
    print(f"bridge parameters: {params / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
