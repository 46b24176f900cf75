"""Weight diagnostics: the stability slope, ESS growth, a one-call summary."""
from ._weight_diagnostics import WeightSummary as WeightSummary
from ._weight_diagnostics import ess_curve as ess_curve
from ._weight_diagnostics import weight_summary as weight_summary
from ._weight_diagnostics import Stability as Stability
from ._weight_diagnostics import stability as stability

__all__ = ["Stability", "WeightSummary", "ess_curve", "stability", "weight_summary"]
