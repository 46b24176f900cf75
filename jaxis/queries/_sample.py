"""Exact posterior draws of sample indices ``k ~ P_z(k) ∝ prod_f exp(F_f(k))``.

The forward pass of ``log_z`` eliminates one latent per step; each step's inputs, with
the indices of latents eliminated later already drawn, are the exact conditional of that
latent's index (per plate element) given them. Walking the schedule backwards therefore
draws from the exact joint ``P_z(k)`` -- not from the product of marginals or of parent
conditionals, which is wrong when an observation couples its parents (explaining away).
All draws are vectorised; cost and memory are linear in ``num_samples``. A scan's Markov
chain enters the contraction as one exact factor over its initial state and globals; its
per-step indices are drawn after those, by forward filtering, backward sampling
(:mod:`jaxis.queries._chain_sample`).

Reference: Bowyer, Heap, Aitchison 2023, section 3 (eqs. 36-44); forward filtering,
backward sampling in variable elimination (Koller & Friedman 2009, Alg. 12.1 adapted).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .._mpis import MPTrace
from ..contract._chain import chain_matrices, reduce_chains
from ..contract._log_z import forward_terms, term_specs
from ..contract._plan import plan_contraction
from ..graph._graph import FactorGraph
from ..trace._blocks import block_ones
from ..weighted._checks import check_count
from ._chain_sample import sample_chain
from ._backward import draw_steps
from ._chunked_sample import chunked_draws
from ._moments import log_evidence


@functools.partial(jax.jit, static_argnums=(2,))
def sample_indices(rng_key: jax.Array, mpt: MPTrace, num_samples: int) -> dict:
    """Draw ``num_samples`` index tuples from ``P_z(k)``: ``site -> (N, *plate sizes)``.

    Every index is ``-1`` when there is no posterior to draw from (``log_evidence`` is
    ``-inf``, or NaN). A run evaluated in chunks draws chunk by chunk
    (:mod:`jaxis.queries._chunked_sample`), the same indices for the same key.
    """
    check_count(num_samples, "num_samples")
    graph = mpt.graph
    chain_key, rng_key = jax.random.split(rng_key)
    if mpt.lazy is not None:
        steps = plan_contraction(graph, term_specs(graph))
        keys = jax.random.split(rng_key, max(len(steps), 1))
        draws, log_z = chunked_draws(mpt, steps, keys, num_samples)
    else:
        specs = term_specs(graph)
        chains = chain_matrices(graph, mpt.log_factors, specs)
        arrays, specs = reduce_chains(graph, mpt.log_factors, specs, chains)
        steps = plan_contraction(graph, specs)
        terms = forward_terms(graph, arrays, specs, fuse=True)
        keys = jax.random.split(rng_key, max(len(steps), 1))
        draws = draw_steps(graph, steps, terms, keys, {}, num_samples, range(len(steps)))
        for i, mat in enumerate(chains):  # given their globals and initial state (drawn)
            draws[mat.chain.latent] = sample_chain(jax.random.fold_in(chain_key, i), graph,
                                                   mat, draws, num_samples)
        log_z = terms[-1][0]
    undefined = ~jnp.isfinite(log_z)
    return {k: jnp.where(undefined, -1, d) for k, d in draws.items()}


def values_at(mpt: MPTrace, indices: dict) -> dict:
    """Latent and deterministic values at index draws: ``site -> (N, *site shape)``."""
    graph = mpt.graph
    out = {}
    for lat in graph.latents:
        idx = indices[lat.name]
        n = idx.shape[0]
        index_shape = block_ones(lat.batch_shape, lat.blocks)  # a block is drawn whole
        idx = jnp.broadcast_to(idx.reshape((n,) + index_shape), (n,) + lat.batch_shape)
        m = 1
        for size in lat.batch_shape:
            m *= size
        flat = mpt.samples[lat.name].reshape((lat.size, m) + lat.event_shape)
        vals = flat[idx.reshape(n, m), jnp.arange(m)[None, :]]
        vals = vals.reshape((n,) + lat.batch_shape + lat.event_shape)
        out[lat.name] = _flag_undefined(vals, idx.reshape((n,) + lat.batch_shape),
                                        lat.event_shape)
    n = next(iter(indices.values())).shape[0] if indices else 1
    for det in graph.deterministics:
        out[det.name] = _deterministic_at(graph, mpt.deterministic[det.name], det, indices, n)
    return out


def _flag_undefined(vals: jax.Array, idx: jax.Array, event_shape) -> jax.Array:
    """NaN (integers: their minimum) where the index is -1, i.e. there is no posterior."""
    bad = jnp.reshape(idx < 0, idx.shape + (1,) * len(event_shape))
    fill = jnp.nan if jnp.issubdtype(vals.dtype, jnp.inexact) else jnp.iinfo(vals.dtype).min
    return jnp.where(bad, fill, vals)


def _deterministic_at(graph: FactorGraph, value, det, indices: dict, n: int):
    """Gather a compact deterministic value at each draw's sample indices."""
    plates = det.varying
    idx = []
    for k in det.kvars:
        own = set(graph.latent(k).plates)
        shape = (n,) + tuple(graph.plate(p).size if p in own else 1 for p in plates)
        idx.append(indices[k].reshape(shape))
    for i, p in enumerate(plates):
        shape = [1] * (1 + len(plates))
        shape[1 + i] = graph.plate(p).size
        idx.append(jnp.arange(graph.plate(p).size).reshape(shape))
    got = value[tuple(idx)] if idx else value[None]
    got = jnp.broadcast_to(got, (n,) + got.shape[1:])
    event = got.shape[1 + len(plates):]
    batch_rank = len(det.batch_shape) - det.event_ndim
    rank = batch_rank + (det.event_ndim if det.inplace else 0)
    layout = graph.positional_shape((), plates, rank)[:batch_rank] if batch_rank else ()
    got = got.reshape((n,) + layout + event)
    return jnp.broadcast_to(got, (n,) + det.batch_shape)


def sample_posterior(rng_key: jax.Array, mpt: MPTrace, num_samples: int) -> dict:
    """Exact draws from the MP posterior over the K samples of every latent.

    Returns ``site -> (num_samples, *site shape)``; every latent value is one of that site's
    K samples (per plate element). Deterministic sites are included.

    When there is no posterior (``log_evidence`` is ``-inf``: the data are impossible under
    every combination of the samples; or NaN) this raises outside ``jit``; under a JAX
    transformation every draw is NaN (integer sites: the integer minimum).

    Each draw is an index tuple ``k ~ P_z(k) ∝ p(x, z^k) / prod_i q(z_i^{k_i} | ...)`` over
    the K^n combinations (the normalised summand of ``log P_MP``), drawn latent by latent
    from the conditionals of the contraction, then the latents' values at ``k``.

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> mpt = jaxis.mpis(model, K=10)(jax.random.PRNGKey(0), y)
        >>> draws = jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, num_samples=1000)
        >>> draws["mu"].shape, draws["theta"].shape
        ((1000,), (1000, 2, 1))
        >>> bool(jnp.isin(draws["mu"], mpt.samples["mu"]).all())  # one of the K samples
        True
    """
    indices = sample_indices(rng_key, mpt, num_samples)
    first = next(iter(indices.values()), None)
    concrete = first is not None and first.size and not isinstance(first, jax.core.Tracer)
    if concrete and bool(first.ravel()[0] < 0):
        raise ValueError(
            f"No posterior to draw from: the MP evidence estimate is {float(log_evidence(mpt))} "
            "in log space (-inf: the data are impossible under every combination of the K "
            "samples; NaN: a factor is NaN). Check the data and the model, or raise K."
        )
    return values_at(mpt, indices)
