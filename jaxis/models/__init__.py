"""Models of the experiments: the MP IS paper's four (appendix C), the blog's three, and a
conjugate Gaussian hierarchy with an exact answer.

Each module holds a plain numpyro ``model(<covariates...>, obs=None)``, the paper's proposal
``guide`` where there is one, and a :class:`ModelSpec` ``MODEL_INFO``. :data:`REGISTRY` maps
each name to its spec (``jaxis list`` reads it).

Example:
    >>> from jaxis.models import get_model, list_models
    >>> list_models()[:2]
    ('chimpanzees', 'bus_breakdown')
    >>> get_model("chimpanzees").heldout_plate
    'repeats'
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from . import bus_breakdown as bus_breakdown
from . import chimpanzees as chimpanzees
from . import gaussian_hierarchy as gaussian_hierarchy
from . import movielens as movielens
from . import occupancy as occupancy
from . import prior_swap as prior_swap
from . import reverberation as reverberation
from . import two_gaussians as two_gaussians
from ._spec import ModelSpec as ModelSpec
from ._spec import PaperResult as PaperResult
from ._spec import site_shapes as site_shapes

_MODULES = (
    chimpanzees,
    bus_breakdown,
    movielens,
    occupancy,
    prior_swap,
    reverberation,
    two_gaussians,
    gaussian_hierarchy,
)

REGISTRY: Mapping[str, ModelSpec] = MappingProxyType(
    {module.MODEL_INFO.name: module.MODEL_INFO for module in _MODULES}
)
"""Model name -> :class:`ModelSpec`, paper models first, the exact hierarchy last."""


def list_models() -> tuple[str, ...]:
    """Names of all registered models, paper models first."""
    return tuple(REGISTRY)


def get_model(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered as ``name``; ``ValueError`` lists the valid names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}; choose one of {', '.join(REGISTRY)}."
        ) from None


__all__ = [
    "REGISTRY",
    "ModelSpec",
    "PaperResult",
    "bus_breakdown",
    "chimpanzees",
    "gaussian_hierarchy",
    "get_model",
    "list_models",
    "movielens",
    "occupancy",
    "prior_swap",
    "reverberation",
    "site_shapes",
    "two_gaussians",
]
