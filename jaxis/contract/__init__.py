"""Stage 3: plated contraction of log factors in log space."""
from ._log_z import Source as Source
from ._log_z import log_z as log_z
from ._plan import plan_contraction as plan_contraction

__all__ = [
    "Source",
    "log_z",
    "plan_contraction",
]
