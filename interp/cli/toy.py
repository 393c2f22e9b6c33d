"""`python -m interp.toy --out DIR`: train the arith-toy adder from scratch (see `interp.models.arith_toy`)."""

from __future__ import annotations

from pathlib import Path

from interp.cli.common import Parser, add_device_args, command_line, fail, parse, seed
from interp.models.arith_toy import ToyConfig, evaluate, save, train
from interp.models.devices import resolve_device


def main(argv: list[str] | None = None) -> int:
    ap = Parser(prog="python -m interp.toy", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for the trained model")
    ap.add_argument("--steps", type=int, default=ToyConfig.steps)
    ap.add_argument("--layers", type=int, default=ToyConfig.n_layers)
    ap.add_argument("--d-model", type=int, default=ToyConfig.d_model)
    ap.add_argument("--seed", type=seed, default=ToyConfig.seed)
    add_device_args(ap, split=False, formats=False)
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    a = parse(ap, argv)
    if isinstance(a, int):
        return a
    if a.dtype != "float32":
        return fail("--dtype: arith-toy trains in float32")
    out = Path(a.out)
    if out.exists() and not a.overwrite:
        return fail(f"{out} exists; use --overwrite or another --out")
    if a.steps < 1 or a.layers < 1 or a.d_model < 8 or a.d_model % ToyConfig.n_heads:
        return fail(f"--steps and --layers must be positive, --d-model a multiple of {ToyConfig.n_heads}")
    cfg = ToyConfig(steps=a.steps, n_layers=a.layers, d_model=a.d_model, d_mlp=4 * a.d_model, seed=a.seed)
    model, log = train(cfg, progress=False if a.quiet else None, device=resolve_device(a.device))
    report = evaluate(model, cfg)
    save(model, cfg, log, report, out, command_line("python -m interp.toy", argv))
    print(
        f"held-out exact match {report['heldout_exact']:.4f} on {report['n']} problems "
        f"{report['by_operand_digits']}; trained {log['train_seconds']:.0f} s; wrote {out}"
    )
    return 0
