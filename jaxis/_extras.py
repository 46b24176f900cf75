"""Optional dependencies: the ``experiments`` extra behind ``jaxis run``.

Core jaxis (``mpis``, the queries, weighted samples, transforms, diagnostics, learning)
needs only JAX, numpyro and opt_einsum. The experiment runner also needs matplotlib (its
plots, and :mod:`jaxis.plot`), pyyaml (its configs) and tqdm (its progress bar); they
install with ``pip install "jaxis[experiments]"``. Modules that need them import them
through :func:`import_extra`, so a missing one is an :class:`ImportError` that names the
package and the install command, never a bare ``No module named 'yaml'``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

INSTALL = 'pip install "jaxis[experiments]"'
"""The command that installs the experiment runner's dependencies."""

EXPERIMENTS = {"matplotlib": "matplotlib", "yaml": "pyyaml", "tqdm": "tqdm"}
"""Top-level module -> distribution, for every package of the ``experiments`` extra."""


class MissingExtraError(ImportError):
    """A package of the ``experiments`` extra is not installed."""


def import_extra(module: str, needed_by: str) -> ModuleType:
    """Import ``module`` (of a package in :data:`EXPERIMENTS`) for ``needed_by``.

    Raises :class:`MissingExtraError` naming the package and :data:`INSTALL` when the
    package is absent; an import error from inside an installed package propagates as is.
    """
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if error.name is not None and error.name.split(".")[0] != top:
            raise  # the package is there but one of its own imports fails
        raise MissingExtraError(_message([top], needed_by), name=top) from error


def require_experiments(needed_by: str) -> None:
    """Raise :class:`MissingExtraError` naming every package of the ``experiments`` extra
    that is missing (nothing when all are installed)."""
    missing = []
    for top in EXPERIMENTS:
        try:
            import_extra(top, needed_by)
        except MissingExtraError:
            missing.append(top)
    if missing:
        raise MissingExtraError(_message(missing, needed_by), name=missing[0])


def _message(modules: list[str], needed_by: str) -> str:
    names = [EXPERIMENTS[m] for m in modules]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb = "is" if len(names) == 1 else "are"
    return f"{needed_by} needs {listed}, which {verb} not installed. Fix: {INSTALL}"
