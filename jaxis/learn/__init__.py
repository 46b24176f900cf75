"""Proposal learning for ``numpyro.infer.SVI``: MP IS bounds and reweighted wake-sleep as
numpyro ELBO objectives, and QEM (moment-matching EM of a mean-field proposal)."""
from ._elbo import IWELBO as IWELBO
from ._elbo import MPELBO as MPELBO
from ._qem import QEMGuide as QEMGuide
from ._qem import QEMInfo as QEMInfo
from ._qem import QEMState as QEMState
from ._qem import build_qem_step as build_qem_step
from ._qem import qem as qem
from ._qem import qem_guide as qem_guide
from ._qem import qem_init as qem_init
from ._rws import MPRWS as MPRWS
from ._rws import RWS as RWS

__all__ = ["IWELBO", "MPELBO", "MPRWS", "QEMGuide", "QEMInfo", "QEMState", "RWS",
           "build_qem_step", "qem", "qem_guide", "qem_init"]
