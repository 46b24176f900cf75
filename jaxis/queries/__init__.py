"""Stage 4: queries as derivatives of ``log_z`` (and exact draws along its schedule)."""
from ._arviz import to_arviz as to_arviz
from ._joint import JointMarginal as JointMarginal
from ._joint import conditionals as conditionals
from ._joint import ess as ess
from ._joint import joint_ess as joint_ess
from ._joint import joint_marginals as joint_marginals
from ._joint import mp_ess as mp_ess
from ._moments import log_evidence as log_evidence
from ._moments import marginals as marginals
from ._moments import moments as moments
from ._predictive import predictive as predictive
from ._predictive import predictive_log_likelihood as predictive_log_likelihood
from ._predictive import (
    predictive_log_likelihood_from_draws as predictive_log_likelihood_from_draws,
)
from ._sample import sample_indices as sample_indices
from ._sample import sample_posterior as sample_posterior

__all__ = [
    "to_arviz",
    "JointMarginal",
    "conditionals",
    "ess",
    "joint_ess",
    "joint_marginals",
    "mp_ess",
    "log_evidence",
    "marginals",
    "moments",
    "predictive",
    "predictive_log_likelihood",
    "predictive_log_likelihood_from_draws",
    "sample_indices",
    "sample_posterior",
]
