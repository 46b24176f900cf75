"""Simulation-based inference on numpyro simulators: benchmark tasks and ABC."""
from . import tasks as tasks
from ._abc import ABCSamples as ABCSamples
from ._abc import rejection_abc as rejection_abc
from ._smc_abc import smc_abc as smc_abc

__all__ = ["tasks", "ABCSamples", "rejection_abc", "smc_abc"]
