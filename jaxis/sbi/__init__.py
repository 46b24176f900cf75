"""Simulation-based inference on numpyro simulators: benchmark tasks and ABC."""
from . import tasks as tasks

__all__ = ["tasks"]
