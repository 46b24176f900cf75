"""The task registry: ``get(name)`` builds a :class:`Task` by name."""
from __future__ import annotations

from ._gaussian import gaussian_linear, gaussian_linear_uniform, gaussian_mixture
from ._slcp import slcp
from ._task import Task
from ._two_moons import two_moons

__all__ = ["NAMES", "get"]

_BUILDERS = {
    "gaussian_linear": gaussian_linear,
    "gaussian_linear_uniform": gaussian_linear_uniform,
    "gaussian_mixture": gaussian_mixture,
    "two_moons": two_moons,
    "slcp": slcp,
}
NAMES = tuple(_BUILDERS)
"""The available task names."""


def get(name: str) -> Task:
    """The sbibm task ``name`` (one of :data:`NAMES`) as a :class:`Task`.

    Example:
        >>> from jaxis.sbi import tasks
        >>> tasks.get("two_moons").dim_parameters
        2
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown task {name!r}; choose one of {list(NAMES)}.")
    return _BUILDERS[name]()
