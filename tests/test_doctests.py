"""Every public object's docstring examples run, on the tiny random model (`model` in their namespace).

A line that loads a real model is marked `# doctest: +SKIP`; everything after it runs on the tiny model,
so outputs that depend on the model's size are written with `...`.
"""

import doctest

import numpy as np
import pytest
import torch

import interp

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _objects():
    seen = set()
    for name in interp.__all__:
        obj = getattr(interp, name)
        if id(obj) not in seen and getattr(obj, "__doc__", None) and ">>>" in obj.__doc__:
            seen.add(id(obj))
            yield name, obj
    yield "interp", interp


@pytest.mark.parametrize("name, obj", list(_objects()), ids=lambda x: x if isinstance(x, str) else "")
def test_docstring_examples_run(name, obj, tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    globs = {n: getattr(interp, n) for n in interp.__all__} | {"model": tiny_model, "torch": torch, "np": np}
    finder, runner = doctest.DocTestFinder(recurse=False), doctest.DocTestRunner(optionflags=FLAGS)
    for test in finder.find(obj, name, globs=globs):
        result = runner.run(test)
        assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (see above)"
