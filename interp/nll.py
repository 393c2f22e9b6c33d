"""Per-token NLL on long documents, several models on one plot.

    python -m interp.nll --model smollm2-135m --model gemma3-270m --tokens 8192

No hooks are needed, so this runs the plain Hugging Face model with SDPA
attention (the bridge computes attention eagerly: ~3x slower at 8K tokens).
The sequence goes through in query chunks with a KV cache, and log-softmax
is taken chunk by chunk from the final hidden states: full-precision logits
for 32K positions of Gemma 3's 262K vocabulary would be 34 GB.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InterpError

BUCKETS = ((1, 8), (9, 64), (65, 512), (513, 2048), (2049, 8192), (8193, 32768))
OUTPUTS = ("nll.json", "nll.npz", "nll.html")


def _head(hf) -> tuple[torch.nn.Module, float | None]:
    cap = getattr(hf.config, "final_logit_softcapping", None)
    return hf.get_output_embeddings(), cap


@torch.no_grad()
def token_nll(hf, ids: Int[Tensor, "batch pos"], chunk: int = 1024) -> Float[Tensor, "batch pos_minus_1"]:
    """NLL (nats) of tokens 1..T-1 given their prefixes; never holds more than `chunk` positions of logits."""
    head, cap = _head(hf)
    body = hf.get_decoder() if hasattr(hf, "get_decoder") else hf.model
    from transformers import DynamicCache

    cache = DynamicCache(config=hf.config)
    out = []
    T = ids.shape[1]
    for s in range(0, T - 1, chunk):
        e = min(s + chunk, T - 1)
        h = body(input_ids=ids[:, s:e], past_key_values=cache, use_cache=True).last_hidden_state
        logits = head(h).float()
        if cap:
            logits = torch.tanh(logits / cap) * cap
        lp = logits.log_softmax(-1)
        out.append(-lp.gather(-1, ids[:, s + 1 : e + 1, None])[..., 0])
        del logits, lp
    return torch.cat(out, 1)


def check_chunked(hf, ids: Int[Tensor, "1 pos"], tokens: int = 256, chunk: int = 64) -> float:
    """Chunked NLL through the KV cache against one uncached forward, on the first `tokens` tokens."""
    ids = ids[:, :tokens]
    chunk = min(chunk, max(1, (ids.shape[1] - 1) // 2))  # at least two chunks, so the cache is used
    from interp.selfcheck import agree

    return agree("chunked NLL continuing from the KV cache", token_nll(hf, ids, chunk),
                 token_nll(hf, ids, ids.shape[1]), atol=1e-3)


def cumulative(nll: Float[np.ndarray, "doc pos"]) -> Float[np.ndarray, "doc pos"]:
    """cum[t] = mean NLL over positions <= t, per document."""
    return np.cumsum(nll, 1) / np.arange(1, nll.shape[1] + 1)


def bucket_means(nll: Float[np.ndarray, "doc pos"]) -> dict[str, float]:
    """Mean NLL by position bucket (1-based predicted-token positions); buckets past the end are left out."""
    out = {}
    for lo, hi in BUCKETS:
        if lo <= nll.shape[1]:
            out[f"{lo}-{hi}"] = float(nll[:, lo - 1 : hi].mean())
    return out


def power_law_fit(curve: Float[np.ndarray, " pos"], start: int = 8) -> dict | None:
    """L(t) = a t^b + c fitted to the mean cumulative curve from position `start`; None if it fails."""
    from scipy.optimize import curve_fit

    t = np.arange(1, len(curve) + 1, dtype=float)[start - 1 :]
    y = curve[start - 1 :]
    idx = np.unique(np.geomspace(1, len(t), 200).astype(int) - 1)  # even weight on a log axis
    try:
        (a, b, c), _ = curve_fit(lambda x, a, b, c: a * x**b + c, t[idx], y[idx], p0=(y[0] - y[-1], -0.5, y[-1]),
                                 maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    pred = a * t[idx] ** b + c
    r2 = 1 - np.sum((y[idx] - pred) ** 2) / np.sum((y[idx] - y[idx].mean()) ** 2)
    return {"alpha": float(a), "beta": float(b), "gamma": float(c), "r2": float(r2), "from_position": start}


def run_model(name: str, cfg, docs, chunk: int, progress: bool | None, stats: bool = False) -> dict:
    """NLL per document window; with `stats`, also activation statistics along the context.

    Stats need the attention weights, so they switch to eager attention (slower, same NLL within 1e-4).
    """
    from contextlib import nullcontext

    from tqdm.auto import tqdm

    from interp.context_stats import ContextStats
    from interp.models import _tokenizer_adds_bos, load_hf
    from tasks.long_context import make_windows

    name, path, hf, tok = load_hf(name, attn_implementation="eager" if stats else "sdpa")
    acc = ContextStats(hf.config.num_hidden_layers) if stats else None
    n_ctx = int(getattr(hf.config, "max_position_embeddings", 0) or 0)
    if n_ctx and cfg.tokens > n_ctx:
        raise InterpError(f"--tokens {cfg.tokens} is more than {name}'s context of {n_ctx} tokens")
    bos = [tok.bos_token_id] if _tokenizer_adds_bos(tok) else []
    ids = [bos + tok(d.text, add_special_tokens=False)["input_ids"] for d in docs]
    win = make_windows(ids, [d.name for d in docs], cfg)
    if bos:  # every window starts with BOS, as the model saw text in training
        win_ids = np.concatenate([np.full((len(win.ids), 1), bos[0]), win.ids[:, :-1]], 1)
    else:
        win_ids = win.ids
    t0 = time.perf_counter()
    check_chunked(hf, torch.as_tensor(win_ids[0])[None])
    rows = []
    with acc.attach(hf) if acc else nullcontext():
        for row in tqdm(win_ids, desc=f"nll {name}", disable=None if progress is None else not progress):
            rows.append(token_nll(hf, torch.as_tensor(row)[None], chunk)[0].numpy())
    secs = time.perf_counter() - t0
    nll = np.stack(rows)  # [doc, tokens-1]
    return {"model": name, "path": str(path), "n_ctx": n_ctx, "bos": bool(bos), "nll": nll,
            "documents": win.names, "starts": win.starts.tolist(), "seconds": secs,
            "tokens_per_s": float(nll.size / secs), "attention": "eager" if stats else "sdpa",
            "stats": acc.result() if acc else None}


def summarise(res: dict) -> dict:
    cum = cumulative(res["nll"])
    mean_cum = cum.mean(0)
    return {"buckets": bucket_means(res["nll"]), "final_cumulative": float(mean_cum[-1]),
            "fit": power_law_fit(mean_cum)}


def table(results: list[dict]) -> str:
    names = [f"{lo}-{hi}" for lo, hi in BUCKETS]
    head = ["model"] + names
    rows = [head] + [[r["model"]] + [f"{r['summary']['buckets'][k]:.3f}" if k in r["summary"]["buckets"] else "-"
                                      for k in names] for r in results]
    w = max(len(c) for r in rows for c in r)
    return "\n".join(" ".join(c.rjust(w) for c in r) for r in rows)


def stats_table(model: str, st: dict) -> str:
    """Layer-averaged stats per position bucket, one row each."""
    rows = [[model] + st["buckets"]]
    rows += [[f"{site} norm"] + [f"{v:.2f}" for v in st["norm"][i].mean(0)] for i, site in enumerate(st["sites"])]
    rows += [[f"attn >{k} back"] + [f"{v:.3f}" for v in st["far"][i].mean(0)] for i, k in enumerate(st["far_k"])]
    rows += [["attn to first"] + [f"{v:.3f}" for v in st["first"].mean(0)]]
    w = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    return "\n".join(" ".join(c.rjust(w[j]) for j, c in enumerate(r)) for r in rows)


def html(meta: dict, arrays: dict) -> str:
    import html as _html

    from reports.html import assemble
    from reports.sections import nll_sections

    return assemble(nll_sections(meta, arrays), "Long-context NLL", f"<pre>{_html.escape(meta['command'])}</pre>")


def main(argv: list[str] | None = None) -> int:
    from interp.cli.common import Parser, fail, refuse_existing
    from tasks.long_context import LongContextConfig, TextSourceError, load_documents

    ap = Parser(prog="python -m interp.nll", description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", help="repeat for several models (default smollm2-135m)")
    ap.add_argument("--tokens", type=int, default=LongContextConfig.tokens)
    ap.add_argument("--documents", type=int, default=LongContextConfig.documents)
    ap.add_argument("--text", action="append", help="text source: kjv, jargon, gnu-standards or a local path "
                    "(repeatable; default all three built-ins)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=1024, help="positions per forward chunk")
    ap.add_argument("--out", default="runs/nll")
    ap.add_argument("--stats", action="store_true", help="also activation norms and attention distance by "
                    "position (eager attention: slower)")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if a.tokens < 16 or a.documents < 1 or a.chunk < 1:
        return fail("--tokens must be at least 16, --documents and --chunk positive")
    out = Path(a.out)
    if (rc := refuse_existing(out, OUTPUTS, a.overwrite)) is not None:
        return rc
    cfg = LongContextConfig(tokens=a.tokens, documents=a.documents, seed=a.seed,
                            sources=tuple(a.text) if a.text else LongContextConfig.sources)
    models = a.model or ["smollm2-135m"]
    command = "python -m interp.nll " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        from interp.models import cache_dir, resolve

        for m in models:  # fail fast, before any work
            resolve(m)
        docs = load_documents(cfg.sources, cache_dir())
        results = []
        for m in models:
            r = run_model(m, cfg, docs, a.chunk, False if a.quiet else None, stats=a.stats)
            r["summary"] = summarise(r)
            results.append(r)
    except (InterpError, TextSourceError) as e:
        return fail(str(e))
    print(table(results))
    for r in results:
        fit = r["summary"]["fit"]
        print(f"{r['model']}: {r['tokens_per_s']:.0f} tokens/s"
              + (f"; fit L(t) = {fit['alpha']:.3f} t^{fit['beta']:.3f} + {fit['gamma']:.3f}, R^2 {fit['r2']:.3f}"
                 if fit else ""))
        if r["stats"]:
            print(stats_table(r["model"], r["stats"]))
    _write(out, results, cfg, command)
    print(f"wrote {', '.join(str(out / n) for n in OUTPUTS)}")
    return 0


def _write(out: Path, results: list[dict], cfg, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    from interp.cli.common import versions

    meta = {"config": asdict(cfg), "command": command, "versions": versions(),
            "models": [{k: v for k, v in r.items() if k not in ("nll", "stats")} for r in results]}
    arrays = {r["model"]: r["nll"].astype(np.float32) for r in results}
    for r in results:
        if r.get("stats"):
            st = r["stats"]
            meta["models"][results.index(r)]["stats"] = {k: st[k] for k in ("sites", "far_k", "buckets")}
            arrays.update({f"{r['model']}/{k}": st[k] for k in ("norm", "far", "first", "count")})
    with tempfile.TemporaryDirectory(prefix=".nll-", dir=out) as tmp:
        tmp = Path(tmp)
        (tmp / "nll.json").write_text(json.dumps(meta, indent=1))
        np.savez_compressed(tmp / "nll.npz", **arrays)
        (tmp / "nll.html").write_text(html(meta, arrays))
        for n in OUTPUTS:
            os.replace(tmp / n, out / n)


if __name__ == "__main__":
    raise SystemExit(main())
