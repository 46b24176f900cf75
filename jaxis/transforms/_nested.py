"""Nested sampling as importance sampling: dead points and volumes to a weighted set.

Dead point ``i`` (in order of death) with likelihood ``L_i`` and log prior volume
``log X_i`` owns the shell ``dX_i = X_{i-1} - X_i`` (``X_0 = 1``):

    log w_i = log L_i + log dX_i,      Z ≈ sum_i w_i

(the rectangle rule; tools that use the trapezoid rule pass their own ``log_weights``).
With the nominal volumes ``log X_i = sum_{k<=i} log(1 - 1/n_k)`` this sum is an exactly
unbiased estimate of ``Z`` (``-log X`` is a Poisson process of rate ``n``; Walter 2017),
and so is any reweighted sum below; the common ``log X_i = -i/n`` is off by ``O(H/n)``.
The set is then reweighted to any new target by plain importance sampling on the
original ``dX_i`` (``reweight``, ``prior_swap``): for a new likelihood ``L'``,
``r_i = L'_i / L_i``; for a new prior, ``r_i = pi'_i / pi_i``. Do not resample to equal
weights first: that throws away the low-likelihood shell that supports a new target
(the blog's "never subsample your nested samples").

Which tools' weights include ``L``: dynesty ``logwt`` (trapezoid ``(L_{i-1}+L_i)/2 dX_i``),
jaxns ``log_dp_mean``, UltraNest ``weights`` (normalised) all include it; blackjax keeps
only likelihoods (volumes are rebuilt from birth/death contours here).

Live-point counts ``n_i`` are needed for the volume uncertainty
(``simulate_log_evidence``). Without them they are read off the nominal volumes,
``n_i = X_{i-1} / dX_i - 1``: exact for volumes shrinking by ``E[t] = n/(n+1)``, within
one live point for the other schedules, provided the final live points are included (as
every tool here reports them).

Input checks: the rows are sorted by likelihood (ties, a likelihood plateau, by falling
volume), so dead points given in any order, each with its own volume, weight and
live-point count, are what the user meant;
after sorting, ``log X`` must not rise and must be ``<= 0``, likelihoods must not be NaN,
and ``num_live >= 1``. Violations raise a ``ValueError`` naming the argument (under jit:
NaN weights, or NaN live-point counts). The samplers' adapters live in
``_nested_adapters``.

References: Skilling (2006), Bayesian Anal. 1, 833; Chopin & Robert (2010), *Properties
of nested sampling*, Biometrika 97, 741; Speagle (2020), MNRAS 493, 3132 (dynesty);
Albert (2020), arXiv:2012.15286 (jaxns); Buchner (2021), JOSS 6, 3001 (UltraNest);
Fowlie, Handley, Su (2021), MNRAS 503, 1199 (live points with plateaus and batches);
Walter (2017), *Point process-based Monte Carlo estimation*, Stat. Comput. 27, 219.
"""
from __future__ import annotations

from typing import Mapping, Optional, Union

import jax
import jax.numpy as jnp

from ..weighted._checks import concrete, where_listed
from ..weighted._nested_samples import NestedSamples, log_volume_widths

Array = jax.Array

__all__ = ["from_nested", "infer_num_live"]


def infer_num_live(log_widths: Array) -> Array:
    """``n_i = X_{i-1} / dX_i - 1`` with ``X_{i-1} = sum_{k >= i} dX_k`` (at least 1)."""
    log_widths = jnp.asarray(log_widths)
    log_x_prev = jax.lax.cumlogsumexp(log_widths, reverse=True)
    empty = log_widths == -jnp.inf
    gap = jnp.where(empty, 0.0, log_x_prev - jnp.where(empty, 0.0, log_widths))
    return jnp.maximum(jnp.expm1(gap), 1.0)


def _check_num_live(num_live: Union[int, Array], shape: tuple, dtype) -> Array:
    """``num_live`` broadcast to one count per dead point; each count must be ``>= 1``."""
    num_live = jnp.asarray(num_live, dtype)
    if num_live.shape not in ((), shape):
        raise ValueError(
            f"num_live must be a scalar or have one entry per dead point, shape {shape}, "
            f"got shape {num_live.shape}."
        )
    too_few = ~(num_live >= 1)  # NaN counts too
    if concrete(num_live) and bool(jnp.any(too_few)):
        raise ValueError(
            f"num_live must be >= 1 (live points when each point died), got "
            f"{float(jnp.min(num_live))} at dead point(s) "
            f"{where_listed(jnp.broadcast_to(too_few, shape))}."
        )
    return jnp.broadcast_to(jnp.where(too_few, jnp.nan, num_live), shape)


def _sorted_by_likelihood(
    log_l: Array, columns: dict, log_volume: Optional[Array]
) -> tuple[Array, dict]:
    """Rows in order of rising likelihood, ties by falling volume (else stable); unchanged
    when already in that order."""
    if concrete(log_l) and bool(jnp.any(jnp.isnan(log_l))):
        raise ValueError(
            f"log_likelihood is NaN at dead point(s) {where_listed(jnp.isnan(log_l))}; "
            "every dead point needs a likelihood to be ordered and weighted."
        )
    if log_volume is None:
        order = jnp.argsort(log_l, stable=True)
    else:  # a plateau of equal likelihoods: the larger volume died first
        order = jnp.lexsort((-jnp.asarray(log_volume), log_l))
    if concrete(order) and bool(jnp.all(order == jnp.arange(order.shape[0]))):
        return log_l, columns
    take = lambda v: None if v is None else jnp.asarray(v)[order]
    return log_l[order], jax.tree_util.tree_map(take, columns, is_leaf=lambda v: v is None)


def from_nested(
    samples: Mapping[str, Array],
    log_likelihood: Array,
    *,
    log_volume: Optional[Array] = None,
    log_weights: Optional[Array] = None,
    num_live: Optional[Union[int, Array]] = None,
    weights_include_likelihood: bool = True,
) -> NestedSamples:
    """Weighted samples from a nested-sampling run (dead points plus final live points).

    Args:
        samples: dict site -> ``(N, ...)``, one row per dead point.
        log_likelihood: ``(N,)`` ``log L_i`` of the run. Rows are sorted by it (ties by
            falling ``log_volume``), together with every other per-point argument, so any
            order is accepted.
        log_volume: ``(N,)`` ``log X_i``, prior volume inside each point's contour; must
            not rise with the likelihood and must be ``<= 0``.
        log_weights: ``(N,)`` the tool's log weights, used as given when passed.
        num_live: live points when each point died (scalar or ``(N,)``, ``>= 1``);
            inferred from the volumes when omitted (see module docstring).
        weights_include_likelihood: whether ``log_weights`` are ``log(L dX)`` (default) or
            ``log dX`` alone; only used when ``log_volume`` is not given.

    Returns:
        ``NestedSamples`` with ``log_evidence() = logsumexp(log_weights)``, in order of
        rising likelihood.

    Raises:
        ValueError: outside jit, for a NaN likelihood, volumes that rise or exceed 1, or
            ``num_live < 1``. Under jit those give NaN weights (NaN ``num_live``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxis import from_nested, reweight
        >>> # an ideal run: prior U(-10, 10), L = N(x; 0, 1) up to 1/sqrt(2 pi), 500 live points
        >>> logX = -jnp.arange(1, 6001) / 500.0          # prior volume inside each contour
        >>> x = 10.0 * jnp.exp(logX)                      # the volume inside |x| is |x| / 10
        >>> logl = -0.5 * x**2
        >>> ws = from_nested({"x": x}, logl, log_volume=logX, num_live=500)
        >>> bool(jnp.isclose(ws.log_evidence(), jnp.log(jnp.sqrt(2 * jnp.pi) / 20), atol=0.01))
        True
        >>> ws2 = reweight(ws, -0.5 * (x / 0.5) ** 2 - logl)   # a narrower likelihood, same run
        >>> bool(jnp.isclose(ws2.log_evidence() - ws.log_evidence(), jnp.log(0.5), atol=0.01))
        True
    """
    log_l = jnp.asarray(log_likelihood)
    if log_l.ndim != 1:
        raise ValueError(
            f"log_likelihood must be 1-D (one value per dead point), got shape {log_l.shape}."
        )
    if log_volume is None and log_weights is None:
        raise ValueError(
            "pass log_volume= (log prior volume X_i of each dead point) or log_weights= "
            "(the sampler's log weights); one of them is needed to know each point's shell."
        )
    for name, value in (("log_volume", log_volume), ("log_weights", log_weights)):
        if value is not None and jnp.shape(value) != log_l.shape:
            raise ValueError(
                f"{name} must have log_likelihood's shape {log_l.shape}, got {jnp.shape(value)}."
            )
    if num_live is not None:
        num_live = _check_num_live(num_live, log_l.shape, jnp.result_type(log_l, float))
    cols = dict(samples=dict(samples), log_volume=log_volume, log_weights=log_weights,
                num_live=num_live)
    log_l, cols = _sorted_by_likelihood(log_l, cols, log_volume)
    log_volume, log_weights, num_live = cols["log_volume"], cols["log_weights"], cols["num_live"]
    if log_volume is not None:
        log_volume = jnp.asarray(log_volume)
        rises = jnp.diff(log_volume, prepend=jnp.zeros(1, log_volume.dtype)) > 0  # X_0 = 1
        if concrete(log_volume) and bool(jnp.any(rises)):
            raise ValueError(
                f"log_volume must fall (or stay) as the likelihood rises, from log X_0 = 0; "
                f"it rises at dead point(s) {where_listed(rises)} (after sorting by "
                "log_likelihood). Fix: pass each point's own log X_i, in any order."
            )
        log_widths = log_volume_widths(log_volume)
        weights = log_l + log_widths if log_weights is None else jnp.asarray(log_weights)
        weights = jnp.where(jnp.any(rises), jnp.nan, weights)
    elif weights_include_likelihood:
        weights = jnp.asarray(log_weights)
        zero_l = log_l == -jnp.inf  # L = 0 leaves the shell unknown: no width
        log_widths = jnp.where(zero_l, -jnp.inf, weights - jnp.where(zero_l, 0.0, log_l))
    else:
        log_widths = jnp.asarray(log_weights)
        weights = log_l + log_widths
    if num_live is None:
        num_live = infer_num_live(log_widths)
    return NestedSamples(cols["samples"], weights, log_widths=log_widths, num_live=num_live)
