"""jaxis: JAX-native massively parallel importance sampling for numpyro models."""
from ._mpis import MPTrace as MPTrace
from ._mpis import mpis as mpis
from .contract import log_z as log_z
from .trace._global_is import global_is as global_is
from .queries import log_evidence as log_evidence
from .queries import marginals as marginals
from .queries import moments as moments
from .weighted import WeightedSamples as WeightedSamples

__version__ = "0.1.0"
