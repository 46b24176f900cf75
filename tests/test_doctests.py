"""Every ``>>>`` example in jaxis's docstrings runs and shows what it prints.

One test per module: doctest's finder collects the module's own docstrings (not those of
the names it imports) and the runner checks each example's output, with ``ELLIPSIS`` and
``NORMALIZE_WHITESPACE``. CI runs ``tests/`` only, so this module is how the examples reach
it. They run under this suite's settings (CPU, x64 on), and print shapes, booleans and
exact quantities, not floats that a JAX version could change.
"""
import doctest
import importlib
import inspect
import pkgutil

import pytest

import jaxis

MODULES = ["jaxis", *sorted(m.name for m in pkgutil.walk_packages(jaxis.__path__, "jaxis."))]
ENTRY_POINTS = ["mpis", "log_evidence", "moments", "marginals", "sample_posterior",
                "global_is", "WeightedSamples", "to_arviz", "predictive", "MPELBO", "IWELBO",
                "ess", "joint_ess", "reweight", "prior_swap", "power_scale", "psis"]
OPTIONAL = {"jaxis.queries._arviz": "arviz"}  # module -> the package its examples need


@pytest.mark.filterwarnings("ignore::UserWarning")  # arviz's notice on import
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    failed = sum(runner.run(test, out=report.append).failed
                 for test in doctest.DocTestFinder().find(module, name))
    assert failed == 0, "".join(report)


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_main_entry_points_have_a_checked_example(name):
    obj = getattr(jaxis, name)
    examples = doctest.DocTestFinder(recurse=False).find(obj, name)[0].examples
    assert any(e.want for e in examples), f"jaxis.{name}: no example with checked output"


PACKAGES = ["jaxis", "jaxis.contract", "jaxis.datasets", "jaxis.diagnostics", "jaxis.graph",
            "jaxis.learn", "jaxis.models", "jaxis.plot", "jaxis.queries", "jaxis.trace",
            "jaxis.transforms", "jaxis.weighted"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_function_and_class_is_documented(package):
    module = importlib.import_module(package)
    public = [getattr(module, n) for n in module.__all__]
    undocumented = [obj.__name__ for obj in public
                    if (inspect.isfunction(obj) or inspect.isclass(obj)) and not inspect.getdoc(obj)]
    assert not undocumented, f"{package}: no docstring for {undocumented}"
