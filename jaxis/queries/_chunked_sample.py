"""Exact posterior draws of a run evaluated in chunks: the same draws, one chunk at a time.

A chunked run (:mod:`jaxis._chunking`) never holds its heavy factors whole: they index
the samples of chunked global latents ``G``, and are evaluated on one chunk ``C_c`` of
``G``'s sample indices at a time. The elimination schedule does not depend on sample
counts, so a chunk's contraction runs the same steps as the whole one, over the chunk.
Let ``s*`` be the first step that sums out a latent of ``G`` (a step of the global plate
set, so no plate is reduced from ``s*`` on). Then

1. **The terms alive before ``s*``** (the frontier) index only global latents. Each is
   computed per chunk and reassembled whole: laid end to end along the chunked latents it
   indexes; a term that indexes none of them is the same in every chunk.
2. **Steps ``s*`` onwards** run on the whole frontier, and are walked backwards
   (:func:`~jaxis.queries._backward.draw_steps`) as for an unchunked run: this draws
   every latent they sum out, ``G`` included, so each draw ``n`` falls in one chunk
   ``c_n``.
3. **Steps before ``s*``**: per chunk ``c`` (``lax.scan``), the chunk's terms are
   recomputed and the schedule is walked backwards from ``s* - 1`` for every draw, given
   its drawn indices of ``G`` read inside the chunk; draw ``n`` keeps the indices of the
   chunk ``c_n``. With ``k_G`` in ``C_c`` the conditionals of these steps involve only
   the chunk's terms, so these are the exact conditionals of the whole run.

Each step uses the same random key and the same logits shape as the unchunked sampler,
so the same key gives the same draws (up to float rounding of the logits). Memory: one
chunk's terms, plus the frontier whole (terms over global latents only); time: two
passes over the chunks.

Reference: Bowyer, Heap, Aitchison 2023, section 3 (eqs. 36-44); Koller & Friedman 2009,
Alg. 12.1 (sampling by variable elimination, adapted to chunks of one variable).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..contract._chunked import chunk_arrays, chunk_graph, unchunk_term
from ..contract._log_z import forward_terms, resumed_dims, term_specs
from ._backward import draw_steps


def chunked_draws(mpt, steps: tuple, keys: jax.Array, n: int) -> tuple[dict, jax.Array]:
    """Index draws ``site -> (n, *plate sizes)`` of a chunked run, and its ``log Z``.

    ``steps``: the run's elimination schedule; ``keys``: one key per step (those of the
    unchunked sampler).
    """
    graph, spec = mpt.graph, mpt.lazy.static.spec
    specs = term_specs(graph)
    small = chunk_graph(graph, spec)
    split = next(s for s, step in enumerate(steps) if set(step.sum_vars) & set(spec.latents))
    consumed = {i for step in steps[:split] for i in step.inputs}
    frontier = [i for i in range(len(specs) + split) if i not in consumed]
    num_chunks = spec.num_chunks(graph)

    def chunk_terms(c: jax.Array) -> tuple[list, dict]:
        heavy = lambda sub, starts: mpt.lazy.factors(mpt, sub, starts)
        arrays, starts = chunk_arrays(graph, spec, mpt.log_factors, heavy, c)
        return forward_terms(small, arrays, specs), starts

    stacked = jax.lax.map(lambda c: [chunk_terms(c)[0][i][0] for i in frontier],
                          jnp.arange(num_chunks))
    dims = resumed_dims(small, specs, split)
    arrays = [None] * (len(specs) + split)
    for i, x in zip(frontier, stacked):
        arrays[i] = unchunk_term(graph, spec, x, dims[i][0])
    terms = forward_terms(graph, arrays, specs, start=split)
    outer = draw_steps(graph, steps, terms, keys, {}, n, range(split, len(steps)))
    chunk_of = jnp.ravel_multi_index(
        tuple(outer[g] // size for g, size in zip(spec.latents, spec.sizes)),
        spec.counts(graph), mode="clip")

    inner = {steps[s].sum_vars[0]: jnp.zeros((n,) + graph.shape((), steps[s].plates), int)
             for s in range(split) if steps[s].sum_vars}

    def one_chunk(acc: dict, c: jax.Array) -> tuple[dict, None]:
        chunk, starts = chunk_terms(c)
        given = {v: d - starts[v] if v in starts else d for v, d in outer.items()}
        got = draw_steps(small, steps, chunk, keys, given, n, range(split))
        mine = chunk_of == c
        return {v: jnp.where(mine.reshape((n,) + (1,) * (a.ndim - 1)), got[v], a)
                for v, a in acc.items()}, None

    inner, _ = jax.lax.scan(one_chunk, inner, jnp.arange(num_chunks))
    return {**outer, **inner}, terms[-1][0]
