"""Simulation-based calibration with weighted fractional ranks and expected coverage.

Draw ``(theta*_i, x_i) ~ p(theta) p(x | theta)`` for ``i = 1..M`` and posterior samples
``theta_{i,n}`` with normalised weights ``wbar_{i,n}`` from the method under test. Per
parameter coordinate the fractional rank of the truth is

    r_i = (sum_n wbar_n 1[theta_n < theta*] + U (sum_n wbar_n 1[theta_n = theta*] + 1/N))
          / (1 + 1/N),        U ~ Uniform(0, 1),

which for ``N`` equally weighted exact posterior draws is the rank of ``theta*`` among
``N + 1`` exchangeable values with ties split at random, hence exactly Uniform(0, 1)
(Talts et al. 2018); with importance weights it is uniform up to the self-normalisation
bias, ``O(1/ESS)``. Uniformity is tested with Pearson's chi-square over ``num_bins``
equal bins (``p = Q((B - 1)/2, X^2/2)``, the upper regularised gamma). Expected coverage
of the central ``alpha`` credible interval is the fraction ``mean_i 1[|r_i - 1/2| <= alpha/2]``,
which equals ``alpha`` for a calibrated posterior and exceeds it for a conservative one.

Reference: Talts, Betancourt, Simpson, Vehtari, Gelman (2018), *Validating Bayesian
inference algorithms with simulation-based calibration*, arXiv:1804.06788; Hermans et al.
(2022), *A trust crisis in simulation-based inference?* (expected coverage).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from ..weighted import WeightedSamples
from ._simulator import SimulatorSpec, simulate, simulator_spec

Array = jax.Array


class SBCResult(NamedTuple):
    """Ranks ``(M, d)``, chi-square p-values ``(d,)``, coverage ``(L, d)`` at ``levels (L,)``."""

    ranks: Array
    p_values: Array
    levels: Array
    coverage: Array


def fractional_ranks(rng_key: Array, samples: Array, log_weights: Array, truth: Array) -> Array:
    """Weighted fractional rank of ``truth (d,)`` among ``samples (N, d)``: ``(d,)`` in [0, 1]."""
    num = samples.shape[0]
    w = jnp.exp(log_weights - jax.nn.logsumexp(log_weights))
    below = w @ (samples < truth).astype(w.dtype)
    ties = w @ (samples == truth).astype(w.dtype)
    u = jax.random.uniform(rng_key, truth.shape, w.dtype)
    return (below + u * (ties + 1.0 / num)) / (1.0 + 1.0 / num)


def uniformity_p_value(ranks: Array, num_bins: int = 10) -> Array:
    """Pearson chi-square p-value that ``ranks (M, ...)`` in [0, 1] are Uniform(0, 1).

    NaN where any rank is NaN (e.g. a posterior whose weights cannot be normalised).
    """
    m = ranks.shape[0]
    bins = jnp.clip(jnp.floor(ranks * num_bins).astype(jnp.int32), 0, num_bins - 1)
    counts = jnp.sum(bins[None] == jnp.arange(num_bins).reshape((-1,) + (1,) * ranks.ndim), 1)
    expected = m / num_bins
    stat = jnp.sum((counts - expected) ** 2, axis=0) / expected
    p = jax.scipy.special.gammaincc((num_bins - 1) / 2.0, stat / 2.0)
    return jnp.where(jnp.any(jnp.isnan(ranks), axis=0), jnp.nan, p)


def _as_weighted(posterior: Any, spec: SimulatorSpec) -> tuple[Array, Array]:
    """Flat samples ``(N, d)`` and log weights ``(N,)`` from ``WeightedSamples`` or a dict."""
    if isinstance(posterior, WeightedSamples):
        return spec.flat_theta(posterior.samples), posterior.log_weights
    flat = spec.flat_theta(posterior)
    return flat, jnp.zeros(flat.shape[0], flat.dtype)


def sbc(
    rng_key: Array,
    model: Callable,
    posterior_fn: Callable[[Array, Array], Any],
    *args,
    num_datasets: int = 200,
    num_bins: int = 10,
    levels: Sequence[float] = (0.5, 0.8, 0.95),
    theta_sites: Optional[Sequence[str]] = None,
    x_site: Optional[str] = None,
    **kwargs,
) -> SBCResult:
    """Simulation-based calibration of ``posterior_fn(rng_key, x) -> posterior`` on ``model``.

    ``posterior_fn`` returns a :class:`jaxis.WeightedSamples` (weighted ranks) or a dict
    site -> ``(N, ...)`` of equally weighted draws over the parameter sites; it is
    ``jax.vmap``-ed over the ``num_datasets`` simulated data sets.

    Example (schematic)::

        res = sbc(key, model, lambda k, x: amortized_is(k, model, q, x, 1000), num_datasets=200)
        res.p_values, res.coverage
    """
    if int(num_datasets) < int(num_bins) or int(num_bins) < 2:
        raise ValueError(
            f"num_datasets ({num_datasets}) must be >= num_bins ({num_bins}) >= 2 for the "
            "chi-square test."
        )
    spec = simulator_spec(model, args, kwargs, theta_sites, x_site)
    k_sim, k_post, k_rank = jax.random.split(rng_key, 3)
    theta, x = simulate(k_sim, model, spec, num_datasets, args, kwargs)
    truth = spec.flat_theta(theta)

    def rank_one(kp, kr, xi, ti):
        samples, log_w = _as_weighted(posterior_fn(kp, xi), spec)
        return fractional_ranks(kr, samples, log_w, ti)

    keys = jax.random.split(k_post, int(num_datasets)), jax.random.split(k_rank, int(num_datasets))
    ranks = jax.vmap(rank_one)(*keys, x, truth)
    levels = jnp.asarray(levels, ranks.dtype)
    inside = (jnp.abs(ranks[None] - 0.5) <= levels[:, None, None] / 2).astype(ranks.dtype)
    inside = jnp.where(jnp.isnan(ranks), jnp.nan, inside)  # a NaN rank makes coverage NaN
    return SBCResult(ranks, uniformity_p_value(ranks, int(num_bins)), levels,
                     jnp.mean(inside, axis=1))
