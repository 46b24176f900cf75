"""jaxis: JAX-native massively parallel importance sampling for numpyro models.

Pipeline (``mpis``): trace -> graph -> contract -> queries. Around it: weighted samples and
composable importance-weight transforms, diagnostics, plots.
"""
from . import plot as plot
from . import sbi as sbi
from ._mpis import MPTrace as MPTrace
from ._mpis import mpis as mpis
from .contract import log_z as log_z
from .diagnostics import Stability as Stability
from .diagnostics import WeightSummary as WeightSummary
from .diagnostics import ess_curve as ess_curve
from .learn import IWELBO as IWELBO
from .learn import MPELBO as MPELBO
from .learn import MPRWS as MPRWS
from .learn import RWS as RWS
from .learn import QEMInfo as QEMInfo
from .learn import QEMState as QEMState
from .learn import qem as qem
from .learn import qem_guide as qem_guide
from .diagnostics import stability as stability
from .diagnostics import weight_summary as weight_summary
from .queries import JointMarginal as JointMarginal
from .queries import conditionals as conditionals
from .queries import ess as ess
from .queries import joint_ess as joint_ess
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
from .trace._global_is import global_is as global_is
from .transforms import PopulationLikelihood as PopulationLikelihood
from .transforms import SelectionEfficiency as SelectionEfficiency
from .transforms import detection_efficiency as detection_efficiency
from .transforms import from_blackjax as from_blackjax
from .transforms import from_dynesty as from_dynesty
from .transforms import from_jaxns as from_jaxns
from .transforms import from_nested as from_nested
from .transforms import from_ultranest as from_ultranest
from .transforms import log_marginal_quadrature as log_marginal_quadrature
from .transforms import marginal_replace as marginal_replace
from .transforms import population_factor as population_factor
from .transforms import population_log_likelihood as population_log_likelihood
from .transforms import power_scale as power_scale
from .transforms import prior_swap as prior_swap
from .transforms import psis as psis
from .transforms import reweight as reweight
from .weighted import EvidenceBounds as EvidenceBounds
from .weighted import NestedEvidence as NestedEvidence
from .weighted import NestedSamples as NestedSamples
from .weighted import ParetoK as ParetoK
from .weighted import PSISResult as PSISResult
from .weighted import WeightedSamples as WeightedSamples
from .weighted import evidence_bounds as evidence_bounds
from .weighted import pareto_k_threshold as pareto_k_threshold
from .weighted import psis_log_weights as psis_log_weights
from .weighted import simulate_log_evidence as simulate_log_evidence

__all__ = [
    "plot",
    "sbi",
    "MPTrace",
    "mpis",
    "log_z",
    "Stability",
    "WeightSummary",
    "ess_curve",
    "IWELBO",
    "MPELBO",
    "MPRWS",
    "RWS",
    "QEMInfo",
    "QEMState",
    "qem",
    "qem_guide",
    "stability",
    "weight_summary",
    "JointMarginal",
    "conditionals",
    "ess",
    "joint_ess",
    "joint_marginals",
    "log_evidence",
    "marginals",
    "moments",
    "mp_ess",
    "predictive",
    "predictive_log_likelihood",
    "sample_indices",
    "sample_posterior",
    "to_arviz",
    "global_is",
    "PopulationLikelihood",
    "SelectionEfficiency",
    "detection_efficiency",
    "from_blackjax",
    "from_dynesty",
    "from_jaxns",
    "from_nested",
    "from_ultranest",
    "log_marginal_quadrature",
    "marginal_replace",
    "population_factor",
    "population_log_likelihood",
    "power_scale",
    "prior_swap",
    "psis",
    "reweight",
    "EvidenceBounds",
    "NestedEvidence",
    "NestedSamples",
    "ParetoK",
    "PSISResult",
    "WeightedSamples",
    "evidence_bounds",
    "pareto_k_threshold",
    "psis_log_weights",
    "simulate_log_evidence",
]

__version__ = "0.1.0"
