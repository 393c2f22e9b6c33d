"""The public API: one list (`interp.EXPORTS`), every name importable, `import interp` light, and every object
the README names reachable from it."""

import re
import subprocess
import sys
from pathlib import Path

import interp

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_public_name_resolves_to_its_module():
    for module, names in interp.EXPORTS.items():
        for name in names:
            obj = getattr(interp, name)
            assert getattr(obj, "__module__", module) == module or not callable(obj), (name, module)
    assert sorted(interp.__all__) == sorted(n for names in interp.EXPORTS.values() for n in names)


def test_importing_interp_is_light():
    heavy = ("torch", "transformer_lens", "plotly", "sklearn", "datasets", "transformers")
    code = f"import sys, interp; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "[]"


def test_objects_the_readme_names_are_exported():
    """`from interp import a, b` lines and the backticked API names of the README's library section."""
    named = {n.strip() for line in re.findall(r"from interp import ([\w, ]+)", README) for n in line.split(",")}
    for name in (
        "sweep", "ProbeResults", "CausalResult", "causal_probe_tests", "digit_logits_under_edits", "patch_path",
        "graddrop", "diagnose", "ProbeRun", "PatchRun", "NLLRun", "MemoryEval", "thread_cache", "naive_patch",
        "pair_tokens",
    ):  # fmt: skip
        named.add(name)
    missing = sorted(n for n in named if n and n not in interp.__all__)
    assert not missing, missing


def test_results_share_one_shape():
    """Every method's result: a frozen dataclass with arrays(), to_json() and _repr_html_()."""
    import dataclasses

    for name in ("PatchResult", "HeadPatchResult", "AtPResult", "CausalResult", "ProbeResults", "ProbeRun",
                 "PatchRun", "NLLRun"):  # fmt: skip
        cls = getattr(interp, name)
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, name
        assert all(callable(getattr(cls, m, None)) for m in ("arrays", "to_json", "_repr_html_")), name


def test_head_and_atp_results_draw_and_serialise(tiny_model):
    import json

    from interp import AtPConfig, HeadPatchConfig, attribution_patch, pair_tokens, run_head_patching
    from interp.tasks.arithmetic import ArithmeticConfig, make_pairs

    batch, _ = pair_tokens(tiny_model, make_pairs(ArithmeticConfig(n=4, digits=(2, 2), shots=1), seed=0))
    for res in (
        run_head_patching(tiny_model, **batch, cfg=HeadPatchConfig(top_k=2), progress=False),
        attribution_patch(tiny_model, **batch, cfg=AtPConfig(batch=2), progress=False),
    ):
        assert json.loads(json.dumps(res.to_json()))["n_pairs"] == 4
        assert res.arrays() and "plotly" in res._repr_html_()


def test_every_public_callable_has_a_docstring_with_an_example():
    """What it takes, what it returns, and a runnable example (tests/test_doctests.py runs them)."""
    bare = [
        n for n in interp.__all__ if callable(getattr(interp, n)) and ">>>" not in (getattr(interp, n).__doc__ or "")
    ]
    assert not bare, bare
