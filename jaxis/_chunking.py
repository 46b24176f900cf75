"""Memory-bounded MP IS: keep the heavy factors lazy, evaluate them per chunk of samples.

A run that does not fit ``memory_budget`` whole draws all samples (and the proposal
densities ``log q_mix``) once, as always, but does not store the factors that depend on
the sample index of the chosen global latents (those in no plate): those are re-scored
from the model on one chunk of those latents' samples at a time inside every query
(:func:`~jaxis.contract._chunked.chunked_log_z`):

    log P_MP = logsumexp_c log sum_{k in C_c} A(k),

``A(k_g)`` being the contraction of all factors with ``k_g`` fixed. ``log q_mix`` of a
child of ``g`` (a proposal mixture over the K paired parent tuples) depends on all K
samples of ``g``, so it is kept from the full run, never recomputed per chunk; ``g``'s own
factor keeps its ``- log K``. The samples are those of the unchunked run with the same
key, so the results agree with it to float rounding.

Choosing the chunking (:func:`chunk_fallback`, called by the memory guard when the
unchunked run does not fit): globals are ranked by the largest factor they index; the
candidates take one sample per chunk of the first global (K chunks), then of the first
two (K^2 chunks), and so on. The first candidate whose run and marginals (forward and
backward pass) fit the budget, by XLA's buffer assignment, is taken. One sample per chunk
costs no more arithmetic than coarser chunks (the same factor entries are evaluated; each
chunk is still a vectorised K^(n-r) contraction), and it needs one compilation per level
probed instead of a search over chunk sizes.

Reference: Bowyer, Heap, Aitchison 2023, *Using autodiff to estimate posterior moments,
marginals and samples*, eqs. 18 and 27.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import jax
import numpy as np

from ._concrete_args import Concrete
from .contract._chunked import ChunkSpec, chunked_log_z
from .graph._graph import FactorGraph
from .graph._layout import compact_factor
from .trace._score import mp_log_factors, score_model
from .trace._structure import ModelStructure


class ChunkedModel(NamedTuple):
    """The static part of :class:`LazyFactors` (hashable: jit static data)."""

    model: Callable
    structure: ModelStructure
    spec: ChunkSpec
    heavy: tuple[str, ...]  # the factors evaluated per chunk
    arg_tree: tuple  # (treedef, leaves: None where an array leaf is traced)
    dedup_rows: bool


@jax.tree_util.register_pytree_node_class
class LazyFactors:
    """The model and its traced arguments, to score the heavy factors one chunk at a time.

    ``log_q``: ``log q_mix`` (positional) of every sampled latent whose factor is heavy,
    from the full run.
    """

    def __init__(self, static: ChunkedModel, arg_leaves: tuple, log_q: dict):
        self.static = static
        self.arg_leaves = tuple(arg_leaves)
        self.log_q = log_q

    def tree_flatten(self):
        return (self.arg_leaves, self.log_q), self.static

    @classmethod
    def tree_unflatten(cls, static, children):
        return cls(static, *children)

    def num_chunks(self, graph: FactorGraph) -> int:
        return self.static.spec.num_chunks(graph)

    def factors(self, mpt, small: FactorGraph, starts: dict) -> dict:
        """The heavy factors over one chunk (``small``: the graph of one chunk)."""
        s, graph = self.static, mpt.graph
        sizes = dict(zip(s.spec.latents, s.spec.sizes))

        def chunk(x, name: str, axis: int):
            if name not in sizes:
                return x
            return jax.lax.dynamic_slice_in_dim(x, starts[name], sizes[name], axis)

        values = {lat.name: chunk(mpt.positional(lat.name), lat.name, 0)
                  for lat in graph.latents}
        log_q = {n: chunk(q, n, q.ndim + graph.latent(n).dim) for n, q in self.log_q.items()}
        treedef, leaves = s.arg_tree
        dynamic = iter(self.arg_leaves)
        leaves = [next(dynamic) if leaf is None else
                  leaf.value if isinstance(leaf, Concrete) else leaf for leaf in leaves]
        args, kwargs = jax.tree_util.tree_unflatten(treedef, leaves)
        log_p, presummed = score_model(s.model, s.structure, values, args, kwargs,
                                       s.dedup_rows)
        arrays = mp_log_factors(s.structure, log_p, log_q, graph.K, s.heavy)
        return {f.name: compact_factor(small, f, arrays[f.name], presummed)
                for f in graph.factors if f.name in s.heavy}

    def log_z(self, mpt, sources, power: float):
        scale = (lambda x: x) if power == 1.0 else (lambda x: power * x)
        factors = [None if x is None else scale(x) for x in mpt.log_factors]
        heavy = lambda small, starts: {n: scale(x) for n, x in
                                       self.factors(mpt, small, starts).items()}
        return chunked_log_z(mpt.graph, self.static.spec, factors, heavy, sources)


def heavy_factors(graph: FactorGraph, spec: ChunkSpec) -> tuple[str, ...]:
    """The factors that index a chunked latent's samples."""
    return tuple(f.name for f in graph.factors if set(f.kvars) & set(spec.latents))


def lazy_factors(model, structure: ModelStructure, graph: FactorGraph, spec: ChunkSpec,
                 log_q: dict, args: tuple, kwargs: dict, dedup_rows: bool) -> LazyFactors:
    """:class:`LazyFactors` for a run's traced arguments (inside its ``jit``): traced leaves
    travel as arrays, concrete ones as static data."""
    heavy = heavy_factors(graph, spec)
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    traced = [isinstance(l, jax.core.Tracer) for l in leaves]
    static = tuple(None if t else Concrete(l) if isinstance(l, (np.ndarray, jax.Array)) else l
                   for t, l in zip(traced, leaves))
    q = {n: log_q[n] for n in heavy if n in log_q}
    return LazyFactors(ChunkedModel(model, structure, spec, heavy, (treedef, static),
                                    dedup_rows),
                       tuple(l for t, l in zip(traced, leaves) if t), q)


def candidate_specs(graph: FactorGraph) -> list[ChunkSpec]:
    """Chunkings from coarse to fine (see the module docstring); none for scan chains."""
    if graph.chains:
        return []
    size = lambda f: math.prod(graph.shape(f.kvars, f.plates))
    weight = {lat.name: max(size(f) for f in graph.factors if lat.name in f.kvars)
              for lat in graph.latents
              if not lat.plates and any(lat.name in f.kvars for f in graph.factors)}
    order = sorted(weight, key=lambda g: -weight[g])
    return [ChunkSpec(tuple(order[:r]), (1,) * r) for r in range(1, len(order) + 1)]


def chunk_fallback(build_chunked: Callable[[ChunkSpec], Callable], peak: Callable
                   ) -> Callable:
    """A memory-guard fallback: the jitted chunked run of the first candidate whose peak
    fits the budget, or ``None`` if none does (each probe compiles the candidate's run and
    marginals)."""

    def fallback(lowered, rng_key, args, kwargs, budget: int):
        for spec in candidate_specs(lowered.out_info.graph):
            run = build_chunked(spec)
            if peak(run.lower(rng_key, *args, **kwargs)) <= budget:
                return run._jitted
        return None

    return fallback
