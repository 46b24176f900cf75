"""sbibm benchmark tasks as numpyro models: observations 1-10 and exact reference posteriors."""
from ._registry import NAMES as NAMES
from ._registry import get as get
from ._slcp import SLCP as SLCP
from ._task import Task as Task
from ._two_moons import TwoMoons as TwoMoons

__all__ = ["NAMES", "SLCP", "Task", "TwoMoons", "get"]
