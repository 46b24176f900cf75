"""Proposal learning: MP IS bounds as numpyro ELBO objectives for ``numpyro.infer.SVI``."""
from ._elbo import IWELBO as IWELBO
from ._elbo import MPELBO as MPELBO

__all__ = ["IWELBO", "MPELBO"]
