"""``log_z`` in chunks of the sample indices of global latents: memory bounded by a chunk.

With the samples of all latents drawn once, the MP estimate is a sum over the sample
index ``k_g`` of a global latent ``g`` (one in no plate, so its index is summed last):

    log P_MP = log sum_{k_g} A(k_g),

where ``A(k_g)`` is the contraction of all factors with ``k_g`` fixed. Splitting ``g``'s
``K`` indices into chunks ``C_1, ..., C_m`` of equal size,

    log P_MP = logsumexp_c log sum_{k in C_c} A(k),

and each chunk's term is the ordinary MP contraction (:func:`~jaxis.contract.log_z`) of
the factors restricted to that chunk: every term over ``k_g`` is sliced to ``C_c``, the
graph sees ``g`` with ``|C_c|`` samples, and nothing else changes (``g``'s own factor
keeps its ``- log K``, not ``- log |C_c|``; proposal mixtures of ``g``'s children were
computed once from all ``K`` samples). Chunking several globals at once splits their joint
index the same way (chunk ``c`` is one block of their index grid). The heavy factors are
evaluated per chunk by ``heavy(graph_c, starts)`` (the caller re-scores the model on the
chunk's samples), so the peak memory is that of one chunk.

The chunks run under ``lax.map``, each wrapped in ``jax.checkpoint``: the backward pass
(moments, marginals: gradients with respect to source terms) recomputes one chunk at a
time instead of keeping every chunk's residuals. The chunk results are combined by a
log-sum-exp whose shift is held constant (``stop_gradient``): ``-inf`` chunks have zero
gradient, all ``-inf`` gives ``-inf``, NaN stays NaN.

Reference: Bowyer, Heap, Aitchison 2023, *Using autodiff to estimate posterior moments,
marginals and samples*, eqs. 18 and 27 (the estimate and its source-term gradients).
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from ..graph._graph import FactorGraph
from ._exact import safe_log
from ._log_z import Source, log_z


class ChunkSpec(NamedTuple):
    """Chunk the sample indices of the global latents ``latents``, ``sizes[i]`` indices of
    ``latents[i]`` per chunk (each dividing that latent's sample count)."""

    latents: tuple[str, ...]
    sizes: tuple[int, ...]

    def counts(self, graph: FactorGraph) -> tuple[int, ...]:
        """The number of chunks along each chunked latent."""
        return tuple(graph.size(g) // c for g, c in zip(self.latents, self.sizes))

    def num_chunks(self, graph: FactorGraph) -> int:
        return math.prod(self.counts(graph))


def chunk_graph(graph: FactorGraph, spec: ChunkSpec) -> FactorGraph:
    """``graph`` with each chunked latent holding one chunk's number of samples."""
    sizes = dict(zip(spec.latents, spec.sizes))
    return graph._replace(latents=tuple(
        lat._replace(size=sizes[lat.name]) if lat.name in sizes else lat
        for lat in graph.latents))


def slice_term(x: jax.Array, kvars: Sequence[str], spec: ChunkSpec, starts: dict
               ) -> jax.Array:
    """A compact term restricted to the chunk starting at ``starts`` (latent -> index)."""
    for g, size in zip(spec.latents, spec.sizes):
        if g in kvars:
            x = jax.lax.dynamic_slice_in_dim(x, starts[g], size, axis=list(kvars).index(g))
    return x


def chunk_arrays(graph: FactorGraph, spec: ChunkSpec, factors: Sequence[Optional[jax.Array]],
                 heavy: Callable[[FactorGraph, dict], dict], c: jax.Array
                 ) -> tuple[list, dict]:
    """The factors over chunk ``c`` (a flat chunk number, traced) and the chunk's first
    index of each chunked latent: sliced from ``factors``, or ``heavy``'s where ``None``."""
    index = jnp.unravel_index(c, spec.counts(graph))
    starts = {g: i * size for g, i, size in zip(spec.latents, index, spec.sizes)}
    lazy = heavy(chunk_graph(graph, spec), starts)
    arrays = [lazy[f.name] if x is None else slice_term(x, f.kvars, spec, starts)
              for f, x in zip(graph.factors, factors)]
    return arrays, starts


def unchunk_term(graph: FactorGraph, spec: ChunkSpec, stacked: jax.Array,
                 kvars: Sequence[str]) -> jax.Array:
    """The whole term from its values over every chunk, ``stacked`` along a leading axis
    of chunk numbers: the chunks of a chunked latent in ``kvars`` are laid end to end on
    its axis; a term without that latent is the same in each of its chunks (the first is
    taken)."""
    counts = spec.counts(graph)
    x = stacked.reshape(counts + stacked.shape[1:])
    for j in reversed(range(len(counts))):  # axes 0..j are still chunk axes
        g = spec.latents[j]
        if g not in kvars:
            x = jnp.take(x, 0, axis=j)
            continue
        a = j + list(kvars).index(g)  # the chunk axis goes just before g's axis, merged
        x = jnp.moveaxis(x, j, a)
        x = x.reshape(x.shape[:a] + (x.shape[a] * x.shape[a + 1],) + x.shape[a + 2:])
    return x


def chunked_log_z(
    graph: FactorGraph,
    spec: ChunkSpec,
    factors: Sequence[Optional[jax.Array]],
    heavy: Callable[[FactorGraph, dict], dict],
    sources: Sequence[Source] = (),
) -> jax.Array:
    """``log_z(graph, factors, sources)`` computed chunk by chunk (see the module docstring).

    Args:
        factors: one compact array per ``graph.factors`` entry, or ``None`` for a factor
            that ``heavy`` evaluates per chunk.
        heavy: ``heavy(chunk_graph, starts) -> factor name -> compact array`` over the
            chunk (``starts``: chunked latent -> first index of the chunk, traced).
        sources: source terms over the full index ranges; sliced per chunk.
    """
    small = chunk_graph(graph, spec)

    def one(c: jax.Array) -> jax.Array:
        arrays, starts = chunk_arrays(graph, spec, factors, heavy, c)
        srcs = [s._replace(array=slice_term(s.array, s.kvars, spec, starts)) for s in sources]
        return log_z(small, arrays, srcs)

    per_chunk = jax.lax.map(jax.checkpoint(one), jnp.arange(spec.num_chunks(graph)))
    return combine_chunks(per_chunk)


def combine_chunks(per_chunk: jax.Array) -> jax.Array:
    """``logsumexp`` of the chunk values, shifted by their (constant) maximum."""
    m = jax.lax.stop_gradient(jnp.max(per_chunk))
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    return safe_log(jnp.sum(jnp.exp(per_chunk - m))) + m
