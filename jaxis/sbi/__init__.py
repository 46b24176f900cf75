"""Simulation-based inference on numpyro simulators: benchmark tasks, ABC, neural ratio
estimation, amortised importance sampling, gold mining, calibration (SBC) and the
classifier two-sample test."""
from . import tasks as tasks
from ._abc import rejection_abc as rejection_abc
from ._abc import ABCSamples as ABCSamples
from ._amortized import amortized_is as amortized_is
from ._c2st import c2st as c2st
from ._c2st import expected_repeats as expected_repeats
from ._gold import joint_score as joint_score
from ._gold import joint_log_ratio as joint_log_ratio
from ._gold import joint_log_density as joint_log_density
from ._gold_losses import rolr_loss as rolr_loss
from ._gold_losses import sally_loss as sally_loss
from ._gold_losses import scandal_loss as scandal_loss
from ._gold_losses import rascal_loss as rascal_loss
from ._mlp import fit as fit
from ._mlp import Standardizer as Standardizer
from ._mlp import apply_mlp as apply_mlp
from ._mlp import FitInfo as FitInfo
from ._mlp import init_mlp as init_mlp
from ._nre import train_nre as train_nre
from ._nre import Ratio as Ratio
from ._nre import nre_loss as nre_loss
from ._nre import nre_posterior as nre_posterior
from ._proposal import train_proposal as train_proposal
from ._proposal import Proposal as Proposal
from ._sbc import uniformity_p_value as uniformity_p_value
from ._sbc import SBCResult as SBCResult
from ._sbc import fractional_ranks as fractional_ranks
from ._sbc import sbc as sbc
from ._simulator import simulate as simulate
from ._simulator import simulator_spec as simulator_spec
from ._simulator import SimulatorSpec as SimulatorSpec
from ._smc_abc import smc_abc as smc_abc

__all__ = [
    "tasks",
    "rejection_abc",
    "ABCSamples",
    "amortized_is",
    "c2st",
    "expected_repeats",
    "joint_score",
    "joint_log_ratio",
    "joint_log_density",
    "rolr_loss",
    "sally_loss",
    "scandal_loss",
    "rascal_loss",
    "fit",
    "Standardizer",
    "apply_mlp",
    "FitInfo",
    "init_mlp",
    "train_nre",
    "Ratio",
    "nre_loss",
    "nre_posterior",
    "train_proposal",
    "Proposal",
    "uniformity_p_value",
    "SBCResult",
    "fractional_ranks",
    "sbc",
    "simulate",
    "simulator_spec",
    "SimulatorSpec",
    "smc_abc",
]
