"""Weighted samples and their diagnostics."""
from ._weighted_samples import WeightedSamples as WeightedSamples

__all__ = ["WeightedSamples"]
