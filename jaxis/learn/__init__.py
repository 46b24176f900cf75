"""Proposal learning for ``numpyro.infer.SVI``: MP IS bounds and reweighted wake-sleep as
numpyro ELBO objectives."""
from ._elbo import IWELBO as IWELBO
from ._elbo import MPELBO as MPELBO
from ._rws import MPRWS as MPRWS
from ._rws import RWS as RWS

__all__ = ["IWELBO", "MPELBO", "MPRWS", "RWS"]
