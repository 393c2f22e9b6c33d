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
