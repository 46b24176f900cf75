"""Stage 1: trace a numpyro model (+ guide) with K samples per latent."""
from ._parallel_trace import ParallelTrace as ParallelTrace
from ._parallel_trace import parallel_trace as parallel_trace
from ._structure import ModelStructure as ModelStructure
from ._structure import model_structure as model_structure

__all__ = [
    "ParallelTrace",
    "parallel_trace",
    "ModelStructure",
    "model_structure",
]
