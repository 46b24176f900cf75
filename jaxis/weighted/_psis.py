"""Pareto smoothed importance sampling (PSIS) and the Pareto k-hat diagnostic, in JAX.

The ``M = max(ceil(min(S/5, 3 sqrt(S/r_eff))), 5)`` largest weights are modelled as draws from a
generalised Pareto distribution (GPD) above the cutoff ``u`` (the next-largest weight):

    P(w - u > y | w > u) = (1 + k y / sigma)^(-1/k)

``k`` and ``sigma`` are fitted by the empirical-Bayes estimator of Zhang & Stephens (2009)
with the weakly informative prior of Vehtari et al. (2024) (``k <- (M k + 5) / (M + 10)``).
Smoothing replaces the tail weights by the GPD quantiles ``u + F^{-1}((i - 1/2) / M)``
truncated at the largest raw weight. ``k`` tells how many moments the weights have
(``1/k``); estimates are reliable while ``k < min(1 - 1/log10 S, 0.7)``.

This reproduces ``arviz.psislw`` (same cutoff, fit and smoothing) with static shapes, so
it runs under ``jit``/``vmap``, with these differences at the edges:

- the tail has at least 5 draws, as in the ``posterior`` R package of Vehtari et al.
  (arviz fits nothing below 5 and reports ``k = inf`` for every ``S < 25``, i.e. it calls
  well-behaved small samples infinitely heavy-tailed);
- a constant tail (equal weights, e.g. posterior draws) gives ``k = -inf`` (no tail at
  all, perfectly reliable) where arviz reports ``inf``;
- weights that cannot be normalised (a NaN or ``+inf`` log weight, or all ``-inf``) give
  ``k = NaN`` and are returned unsmoothed (``posterior`` returns ``NA`` there).

References:
    Vehtari, Simpson, Gelman, Yao, Gabry (2024), *Pareto smoothed importance sampling*,
    JMLR 25(72). Zhang & Stephens (2009), *A new and efficient estimation method for the
    generalized Pareto distribution*, Technometrics 51, 316.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["ParetoK", "PSISResult", "pareto_k_threshold", "psis_log_weights"]

_PRIOR_BS = 3.0  # Zhang & Stephens prior on b
_PRIOR_K = 10.0  # Vehtari et al. shrinkage of k towards 0.5 with weight 10


class ParetoK(NamedTuple):
    """Pareto tail index of the weights and its sample-size dependent threshold."""

    khat: Array
    threshold: float
    reliable: Array  # khat < threshold


class PSISResult(NamedTuple):
    """Smoothed log weights (not normalised) and the fitted Pareto ``k``."""

    log_weights: Array
    khat: Array


def pareto_k_threshold(num_samples: int) -> float:
    """``min(1 - 1/log10 S, 0.7)``: above it PSIS estimates are unreliable for ``S``."""
    if num_samples < 2:
        raise ValueError(f"num_samples={num_samples}: need at least 2 samples.")
    return min(1.0 - 1.0 / math.log10(num_samples), 0.7)


MIN_TAIL = 5
"""Fewest tail draws a GPD is fitted to (``posterior::pareto_smooth``)."""


def tail_length(num_samples: int, r_eff: float) -> int:
    """``M = max(ceil(min(S/5, 3 sqrt(S / r_eff))), 5)`` (static)."""
    m = int(math.ceil(min(num_samples / 5.0, 3.0 * math.sqrt(num_samples / r_eff))))
    return max(m, MIN_TAIL)


def _gpd_fit(ary: Array, valid: Array, n: Array) -> tuple[Array, Array]:
    """Zhang-Stephens GPD fit of the sorted exceedances ``ary[valid]`` (a suffix).

    Returns ``(k, sigma)`` with the Vehtari et al. prior on ``k`` applied.
    """
    size = ary.shape[0]
    dtype = ary.dtype
    n_f = jnp.maximum(n, 1).astype(dtype)
    m_max = 30 + int(math.sqrt(size))
    m_est = 30 + jnp.floor(jnp.sqrt(n_f))
    j = jnp.arange(1, m_max + 1, dtype=dtype)
    j_valid = j <= m_est
    first = size - n  # index of the first valid exceedance
    quartile = ary[jnp.clip(first + jnp.floor(n_f / 4 + 0.5).astype(first.dtype) - 1, 0, size - 1)]
    safe_ary = jnp.where(valid, ary, 1.0)
    b = (1.0 - jnp.sqrt(m_est / (j - 0.5))) / (_PRIOR_BS * quartile) + 1.0 / ary[-1]
    k_ary = jnp.sum(jnp.where(valid, jnp.log1p(-b[:, None] * safe_ary), 0.0), axis=1) / n_f
    len_scale = n_f * (jnp.log(-(b / k_ary)) - k_ary - 1.0)
    len_scale = jnp.where(j_valid, len_scale, -jnp.inf)
    weights = jax.nn.softmax(len_scale)
    weights = jnp.where(weights >= 10 * jnp.finfo(dtype).eps, weights, 0.0)
    weights = weights / jnp.sum(weights)
    b_post = jnp.sum(b * weights)
    k_post = jnp.sum(jnp.where(valid, jnp.log1p(-b_post * safe_ary), 0.0)) / n_f
    sigma = -k_post / b_post
    k_post = (n_f * k_post + _PRIOR_K * 0.5) / (n_f + _PRIOR_K)
    return k_post, sigma


def _gpd_quantile(probs: Array, k: Array, sigma: Array) -> Array:
    """Inverse GPD cdf ``sigma ((1 - p)^(-k) - 1) / k`` (``-sigma log(1 - p)`` at k = 0)."""
    small_k = jnp.abs(k) < jnp.finfo(probs.dtype).eps
    safe_k = jnp.where(small_k, 1.0, k)
    general = jnp.expm1(-safe_k * jnp.log1p(-probs)) / safe_k
    return sigma * jnp.where(small_k, -jnp.log1p(-probs), general)


@functools.partial(jax.jit, static_argnames="r_eff")
def psis_log_weights(log_weights: Array, *, r_eff: float = 1.0) -> PSISResult:
    """Pareto-smooth a vector of log weights (last axis); jitted, vmap-able.

    Args:
        log_weights: ``(S,)`` log importance weights (any additive constant).
        r_eff: relative MCMC efficiency ``ESS / S`` of the draws (static).

    Returns:
        ``PSISResult(log_weights, khat)``: smoothed log weights on the input's scale and
        the tail index ``k`` (NaN, weights unsmoothed, where they cannot be normalised).

    Example:
        >>> import jax
        >>> res = psis_log_weights(jax.random.normal(jax.random.key(0), (1000,)))
        >>> res.log_weights.shape, bool(res.khat < 0.7)  # log-normal weights: all moments
        ((1000,), True)
    """
    log_weights = jnp.asarray(log_weights)
    if log_weights.ndim != 1:
        raise ValueError(
            f"log_weights must be 1-D (one per sample), got shape {log_weights.shape}; "
            "use jax.vmap for batches."
        )
    num = log_weights.shape[0]
    if num < 10:
        raise ValueError(f"log_weights: PSIS needs at least 10 samples, got {num}.")
    m = tail_length(num, r_eff)
    dtype = log_weights.dtype
    top = jnp.max(log_weights)
    defined = ~jnp.any(jnp.isnan(log_weights) | (log_weights == jnp.inf)) & (top > -jnp.inf)
    shift = jnp.where(defined, top, 0.0)
    x = log_weights - shift
    order = jnp.argsort(x)
    xs = x[order]
    cutoff = jnp.maximum(xs[num - m - 1], jnp.log(jnp.finfo(dtype).tiny))
    tail = xs[num - m :]
    valid = tail > cutoff
    n = jnp.sum(valid)
    exceed = jnp.where(valid, jnp.exp(tail) - jnp.exp(cutoff), 0.0)
    k, sigma = _gpd_fit(exceed, valid, n)
    constant_tail = (xs[num - m - 1] == xs[-1]) & jnp.isfinite(xs[-1])
    k = jnp.where(n >= MIN_TAIL, k, jnp.where(constant_tail, -jnp.inf, jnp.inf))
    k = jnp.where(defined, k, jnp.nan)
    rank = jnp.arange(m) - (m - n)
    probs = (jnp.maximum(rank, 0).astype(dtype) + 0.5) / jnp.maximum(n, 1).astype(dtype)
    k_safe = jnp.where(jnp.isfinite(k), k, 0.5)
    smoothed = jnp.log(_gpd_quantile(probs, k_safe, sigma) + jnp.exp(cutoff))
    smoothed = jnp.minimum(smoothed, 0.0)
    new_tail = jnp.where(valid & jnp.isfinite(k), smoothed, tail)  # NaN k: unsmoothed
    xs = xs.at[num - m :].set(new_tail)
    out = jnp.empty_like(x).at[order].set(xs)
    return PSISResult(jnp.where(defined, out + shift, log_weights), k)
