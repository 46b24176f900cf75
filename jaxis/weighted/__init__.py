"""Weighted samples (a pytree), nested samples, evidence bounds and PSIS numerics."""
from ._bounds import EvidenceBounds as EvidenceBounds
from ._bounds import evidence_bounds as evidence_bounds
from ._nested_samples import NestedEvidence as NestedEvidence
from ._nested_samples import NestedSamples as NestedSamples
from ._nested_samples import simulate_log_evidence as simulate_log_evidence
from ._psis import ParetoK as ParetoK
from ._psis import PSISResult as PSISResult
from ._psis import pareto_k_threshold as pareto_k_threshold
from ._psis import psis_log_weights as psis_log_weights
from ._weighted_samples import WeightedSamples as WeightedSamples

__all__ = [
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
