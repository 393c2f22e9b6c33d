"""The architecture, checked mechanically: imports point one way, no private name crosses a module,
modules and functions stay small, and the tree is formatted."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Installed name -> folder (pyproject's package-dir mapping).
PACKAGES = {
    "interp": ROOT / "interp",
    "interp.tasks": ROOT / "tasks",
    "interp.probes": ROOT / "probes",
    "interp.reports": ROOT / "reports",
}
# Higher layers may import lower ones, never the reverse. reports/ is a leaf: data in, figures out.
LAYERS = [
    (
        "commands",
        (
            "interp.cli",
            "interp.__main__",
            "interp.probe",
            "interp.capture",
            "interp.patch",
            "interp.nll",
            "interp.report",
            "interp.memory",
            "interp.toy",
            "interp.reproduce",
        ),
    ),
    ("runs", ("interp.runs",)),
    ("library", ("interp",)),
    ("tasks and probes", ("interp.tasks", "interp.probes")),
    ("reports", ("interp.reports",)),
]
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((pkg, *parts))
            if pkg == "interp" and parts and parts[0] in ("tasks", "probes", "reports"):
                continue
            out[name.removesuffix(".__init__")] = path
    return out


def layer(name: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if name == p or name.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (i, len(p))
    assert best is not None, name
    return best[0]


def imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, names, at module level) for every import of our own code."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names], id(node) in top))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], id(node) in top) for a in node.names]
    return [
        (m, names, lvl)
        for m, names, lvl in out
        if m == "interp" or m.startswith("interp.") or m.split(".")[0] in ("tasks", "probes", "reports")
    ]


def target(module: str, names: list[str], known: dict[str, Path]) -> list[str]:
    """The modules an import statement depends on (a name may itself be a submodule)."""
    subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in known]
    return subs or [module]


def test_only_installed_names_are_imported():
    """tasks, probes and reports install as interp.tasks, ...: the bare names would be a second copy."""
    bad = [(n, m) for n, p in modules().items() for m, _, _ in imports(p) if not m.startswith("interp")]
    assert not bad, bad


def test_imports_point_down_and_form_no_circle():
    known = modules()
    graph: dict[str, set[str]] = {n: set() for n in known}
    wrong = []
    for name, path in known.items():
        for module, names, _ in imports(path):
            for dep in target(module, names, known):
                if dep == "interp" and name.startswith("interp.") and layer(name) <= layer("interp"):
                    dep = "interp"  # the package's public face: counts as the library
                graph[name].add(dep)
                if layer(dep) < layer(name):
                    wrong.append(f"{name} ({LAYERS[layer(name)][0]}) imports {dep} ({LAYERS[layer(dep)][0]})")
    assert not wrong, wrong
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for d in graph.get(n, ()):
            if d == n or d not in graph:
                continue
            if state.get(d) == 1:
                raise AssertionError("import circle: " + " -> ".join([*stack[stack.index(d) :], d]))
            if d not in state:
                visit(d, [*stack, d])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [n])


def test_no_private_name_crosses_a_module():
    bad = [(n, m, x) for n, p in modules().items() for m, names, _ in imports(p) for x in names if x.startswith("_")]
    assert not bad, bad


def test_project_imports_sit_in_the_header():
    """A file's header says what it depends on (the command dispatcher imports by name, on purpose)."""
    bad = [(n, m) for n, p in modules().items() for m, _, top in imports(p) if not top]
    assert not bad, bad


def _long_functions(tree: ast.AST) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            doc = ast.get_docstring(node) or ""
            if n > MAX_FUNCTION_LINES and "long because" not in doc.lower():
                out.append((node.name, n))
    return out


def test_modules_and_functions_stay_small():
    long_modules = [
        (n, len(p.read_text().splitlines()))
        for n, p in modules().items()
        if len(p.read_text().splitlines()) > MAX_MODULE_LINES
        and "long because" not in (ast.get_docstring(ast.parse(p.read_text())) or "")
    ]
    long_functions = [(n, f) for n, p in modules().items() for f in _long_functions(ast.parse(p.read_text()))]
    assert not long_modules and not long_functions, (long_modules, long_functions)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is in the test extra")
def test_ruff_lint_and_format_are_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        out = subprocess.run(["ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
