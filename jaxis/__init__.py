"""jaxis: JAX-native massively parallel importance sampling for numpyro models."""
from ._mpis import MPTrace as MPTrace
from ._mpis import mpis as mpis
from .contract import log_z as log_z
from .trace._global_is import global_is as global_is
from .queries import JointMarginal as JointMarginal
from .queries import conditionals as conditionals
from .queries import ess as ess
from .queries import joint_marginals as joint_marginals
from .queries import log_evidence as log_evidence
from .queries import marginals as marginals
from .queries import moments as moments
from .queries import mp_ess as mp_ess
from .queries import predictive as predictive
from .queries import predictive_log_likelihood as predictive_log_likelihood
from .queries import sample_indices as sample_indices
from .queries import sample_posterior as sample_posterior
from .queries import to_arviz as to_arviz
from .weighted import WeightedSamples as WeightedSamples

__version__ = "0.1.0"
