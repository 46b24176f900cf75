"""Stage 2: the static factor graph over per-latent sample indices."""
from ._graph import FactorGraph as FactorGraph
from ._graph import FactorSpec as FactorSpec
from ._graph import LatentSpec as LatentSpec
from ._graph import build_graph as build_graph

__all__ = [
    "FactorGraph",
    "FactorSpec",
    "LatentSpec",
    "build_graph",
]
