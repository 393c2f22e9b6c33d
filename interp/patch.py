"""`python -m interp.patch --model smollm2-135m --task add --digits 2 --n 200`: which sublayers matter.

Thin CLI: argv -> pairs -> `interp.patching.run_patching` -> patch.json, patch.npz, patch.html.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from interp.errors import InterpError

OUTPUTS = ("patch.json", "patch.npz", "patch.html")
LABEL = {"attn_out": "ATT", "mlp_out": "MLP"}


def top_sites(effect: np.ndarray, sites: list[str], k: int = 8) -> list[dict]:
    """The k sublayers with the largest normalised effect, with their execution-order number."""
    rows = [{"site": s, "layer": layer, "sublayer": 2 * layer + (1 if s == "attn_out" else 2),
             "effect": float(effect[i, layer])} for i, s in enumerate(sites) for layer in range(effect.shape[1])]
    rows = [r for r in rows if np.isfinite(r["effect"])]
    return sorted(rows, key=lambda r: -r["effect"])[:k]


def html(res: dict, meta: dict, threshold: float) -> str:
    import html as _html

    from reports.html import assemble
    from reports.sections import patch_sections

    head = f"<pre>{_html.escape(meta['command'])}</pre>"
    return assemble(patch_sections(res, meta, threshold), f"Activation patching: {meta['model']}", head)


def main(argv: list[str] | None = None) -> int:
    from interp.cli.common import Parser, digit_range, fail, refuse_existing
    from interp.patching import PatchConfig
    from tasks.arithmetic import ArithmeticConfig

    ap = Parser(prog="python -m interp.patch", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--task", default="add", choices=["add", "sub", "mul"])
    ap.add_argument("--digits", type=digit_range, default=None, help="operand digits: 2 or 1-4 (default 2)")
    ap.add_argument("--pad", type=int, default=None, help="zero-pad operands (default the model's own)")
    ap.add_argument("--n", type=int, default=200, help="clean/corrupted pairs")
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.1, help="outline sublayers with effect at least this")
    ap.add_argument("--no-positions", action="store_true", help="skip per-position patching")
    ap.add_argument("--rows", type=int, default=PatchConfig.rows_per_forward, help="batch rows per forward")
    ap.add_argument("--out", default=None, help="output folder (default runs/patch-MODEL-TASK)")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    try:
        a = ap.parse_args(argv)
        if a.n < 1 or a.rows < 1 or a.shots < 0:
            ap.error("--n and --rows must be positive, --shots non-negative")
        from interp.models import task_defaults

        own = task_defaults(a.model)
        task = ArithmeticConfig(n=a.n, op=a.task, digits=a.digits or (2, 2), shots=a.shots,
                                pad=a.pad if a.pad is not None else int(own.get("pad", 0)))
    except SystemExit as e:
        return int(e.code or 0)
    except (InterpError, ValueError) as e:
        return fail(str(e))
    out = Path(a.out or f"runs/patch-{Path(a.model).name}-{a.task}")
    if (rc := refuse_existing(out, OUTPUTS, a.overwrite)) is not None:
        return rc
    command = "python -m interp.patch " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        res, meta = run(a.model, task, a.seed, PatchConfig(per_position=not a.no_positions, rows_per_forward=a.rows),
                        progress=False if a.quiet else None)
    except (InterpError, ValueError) as e:
        return fail(str(e))
    meta["command"] = command
    print(f"{meta['n_pairs']} pairs; mean logit difference clean {res['ld_clean']:.3f}, corrupted "
          f"{res['ld_corrupt']:.3f}; patching took {meta['timings']['patch_s']:.1f} s")
    print("top sublayers (normalised effect, 1 = restores the clean answer):")
    for r in meta["top"]:
        print(f"  {LABEL[r['site']]} layer {r['layer']:>2} (#{r['sublayer']}): {r['effect']:+.3f}")
    _write(out, res, meta, a.threshold)
    print(f"wrote {', '.join(str(out / n) for n in OUTPUTS)}")
    return 0


def run(model_name: str, task, seed: int, cfg, progress: bool | None = None) -> tuple[dict, dict]:
    from interp import load_model
    from interp.cli.common import versions
    from interp.patching import pair_tokens, run_patching
    from tasks.arithmetic import make_pairs

    t = time.perf_counter()
    model = load_model(model_name)
    load_s = time.perf_counter() - t
    pairs = make_pairs(task, seed)
    batch, kept = pair_tokens(model, pairs)
    t = time.perf_counter()
    res = run_patching(model, **batch, cfg=cfg, progress=progress)
    patch_s = time.perf_counter() - t
    P = res["prefix_tokens"]
    suffix = [model.tokenizer.decode([i]) for i in batch["clean"][0, P:].tolist()]
    meta = {"model": Path(model_name).name, "task": task.__dict__ | {"digits": list(task.digits)}, "seed": seed,
            "config": cfg.__dict__ | {"sites": list(cfg.sites)}, "n_pairs": len(kept),
            "dropped_pairs": len(pairs) - len(kept), "suffix_tokens": [f"{q}:{s!r}" for q, s in enumerate(suffix)],
            "example": [pairs.clean[kept[0]].rsplit("\n", 1)[-1], pairs.corrupt[kept[0]].rsplit("\n", 1)[-1]],
            "ld_clean": res["ld_clean"], "ld_corrupt": res["ld_corrupt"],
            "top": top_sites(res["effect"], res["sites"]), "timings": {"load_s": load_s, "patch_s": patch_s},
            "versions": versions()}
    return res, meta


def _write(out: Path, res: dict, meta: dict, threshold: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in res.items() if isinstance(v, np.ndarray)}
    with tempfile.TemporaryDirectory(prefix=".patch-", dir=out) as tmp:
        tmp = Path(tmp)
        (tmp / "patch.json").write_text(json.dumps(meta | {"effect": res["effect"].tolist()}, indent=1))
        np.savez_compressed(tmp / "patch.npz", **arrays)
        (tmp / "patch.html").write_text(html(res, meta, threshold))
        for n in OUTPUTS:
            os.replace(tmp / n, out / n)


if __name__ == "__main__":
    raise SystemExit(main())
