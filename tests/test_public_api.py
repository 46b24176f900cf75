"""The public API: every package lists its names in ``__all__``, and each is documented."""
import importlib
import inspect

import pytest

import jaxis

PACKAGES = ["jaxis", "jaxis.contract", "jaxis.diagnostics", "jaxis.graph", "jaxis.learn",
            "jaxis.queries", "jaxis.sbi", "jaxis.sbi.tasks", "jaxis.trace", "jaxis.transforms",
            "jaxis.weighted"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_names(name):
    module = importlib.import_module(name)
    assert all(hasattr(module, n) for n in module.__all__)
    public = {n for n in vars(module) if not n.startswith("_")
              and not inspect.ismodule(getattr(module, n))}  # subpackages appear by import
    listed = {n for n in module.__all__ if not inspect.ismodule(getattr(module, n))}
    assert sorted(listed) == sorted(public - {"annotations"})


@pytest.mark.parametrize("name", sorted(jaxis.__all__))
def test_every_top_level_name_is_documented(name):
    obj = getattr(jaxis, name)
    assert inspect.getdoc(obj), f"jaxis.{name} has no docstring"
