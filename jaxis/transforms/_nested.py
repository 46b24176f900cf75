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

Adapters read the samplers' outputs by field name on the host (no sampler is imported):

- dynesty ``Results``: ``samples``, ``logl``, ``logvol``, ``logwt``, ``samples_n``
  (dynamic runs) or ``nlive``/``niter`` (static runs; final live points ``n = nlive..1``);
- jaxns ``NestedSamplerResults``: ``samples``, ``log_L_samples``, ``log_dp_mean``,
  ``num_live_points_per_sample``, first ``total_num_samples`` rows;
- blackjax ``NSInfo`` (``blackjax.ns.utils.finalise``): ``particles``, ``loglikelihood``,
  ``loglikelihood_birth``; sorted by likelihood, ``n_i = #{births < L_i} - #{deaths < L_i}``
  (Fowlie, Handley & Su 2021) and ``log X_i = -sum_{k<=i} 1/n_k``;
- UltraNest result dict: ``weighted_samples`` (``points``, ``logl``, normalised
  ``weights``) and ``logz`` to restore their scale.

References: Skilling (2006), Bayesian Anal. 1, 833; Chopin & Robert (2010), *Properties
of nested sampling*, Biometrika 97, 741; Speagle (2020), MNRAS 493, 3132 (dynesty);
Albert (2020), arXiv:2012.15286 (jaxns); Buchner (2021), JOSS 6, 3001 (UltraNest);
Fowlie, Handley, Su (2021), MNRAS 503, 1199 (live points with plateaus and batches);
Walter (2017), *Point process-based Monte Carlo estimation*, Stat. Comput. 27, 219.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from ..weighted._nested_samples import NestedSamples, log_volume_widths

Array = jax.Array

__all__ = [
    "from_nested",
    "infer_num_live",
    "from_dynesty",
    "from_jaxns",
    "from_blackjax",
    "from_ultranest",
]


def infer_num_live(log_widths: Array) -> Array:
    """``n_i = X_{i-1} / dX_i - 1`` with ``X_{i-1} = sum_{k >= i} dX_k`` (at least 1)."""
    log_widths = jnp.asarray(log_widths)
    log_x_prev = jax.lax.cumlogsumexp(log_widths, reverse=True)
    finite = jnp.isfinite(log_widths)
    gap = jnp.where(finite, log_x_prev - jnp.where(finite, log_widths, 0.0), 0.0)
    return jnp.maximum(jnp.expm1(gap), 1.0)


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
        samples: dict site -> ``(N, ...)``, in order of death (rising likelihood).
        log_likelihood: ``(N,)`` ``log L_i`` of the run.
        log_volume: ``(N,)`` ``log X_i``, prior volume inside each point's contour.
        log_weights: ``(N,)`` the tool's log weights, used as given when passed.
        num_live: live points when each point died (scalar or ``(N,)``); inferred from
            the volumes when omitted (see module docstring).
        weights_include_likelihood: whether ``log_weights`` are ``log(L dX)`` (default) or
            ``log dX`` alone; only used when ``log_volume`` is not given.

    Returns:
        ``NestedSamples`` with ``log_evidence() = logsumexp(log_weights)``.

    Example:
        >>> ws = from_nested({"x": x}, logl, log_volume=logX, num_live=500)
        >>> ws2 = reweight(ws, new_logl - logl)   # a new likelihood, same run
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
    if log_volume is not None:
        log_widths = log_volume_widths(log_volume)
        weights = log_l + log_widths if log_weights is None else jnp.asarray(log_weights)
    elif weights_include_likelihood:
        weights = jnp.asarray(log_weights)
        finite = jnp.isfinite(log_l)
        log_widths = jnp.where(finite, weights - jnp.where(finite, log_l, 0.0), -jnp.inf)
    else:
        log_widths = jnp.asarray(log_weights)
        weights = log_l + log_widths
    if num_live is None:
        num_live = infer_num_live(log_widths)
    num_live = jnp.broadcast_to(jnp.asarray(num_live, weights.dtype), log_l.shape)
    return NestedSamples(samples, weights, log_widths=log_widths, num_live=num_live)


def _field(results: Any, name: str, source: str) -> Any:
    """``results.name`` or ``results[name]``; a clear error naming the tool otherwise."""
    try:
        return getattr(results, name)
    except (AttributeError, KeyError):
        pass
    try:
        return results[name]
    except (KeyError, TypeError, IndexError):
        raise ValueError(
            f"{source} output has no field {name!r}; pass the sampler's results object "
            "itself (or call jaxis.from_nested with the arrays)."
        ) from None


def _has_field(results: Any, name: str) -> bool:
    try:
        _field(results, name, "")
    except ValueError:
        return False
    return True


def _columns(points: np.ndarray, names: Optional[Sequence[str]], default: str) -> dict:
    """``(N, d)`` points to ``{name: (N,)}`` when names are given, else ``{default: points}``."""
    points = np.asarray(points)
    if names is None:
        return {default: points}
    if points.ndim != 2 or points.shape[1] != len(names):
        raise ValueError(
            f"names has {len(names)} entries but the points have shape {points.shape}; "
            "give one name per column."
        )
    return {n: points[:, i] for i, n in enumerate(names)}


def from_dynesty(results: Any, *, names: Optional[Sequence[str]] = None) -> NestedSamples:
    """``NestedSamples`` from a dynesty ``Results`` (static or dynamic run)."""
    logl = np.asarray(_field(results, "logl", "dynesty"))
    if _has_field(results, "samples_n"):
        num_live = np.asarray(_field(results, "samples_n", "dynesty"), float)
    else:
        nlive = int(_field(results, "nlive", "dynesty"))
        niter = int(_field(results, "niter", "dynesty"))
        if logl.shape[0] == niter:
            num_live = np.full(niter, float(nlive))
        elif logl.shape[0] == niter + nlive:
            num_live = np.concatenate([np.full(niter, float(nlive)), np.arange(nlive, 0, -1.0)])
        else:
            raise ValueError(
                f"dynesty results have {logl.shape[0]} samples, neither niter={niter} nor "
                f"niter + nlive={niter + nlive}; pass samples_n or use jaxis.from_nested."
            )
    return from_nested(
        _columns(_field(results, "samples", "dynesty"), names, "theta"),
        logl,
        log_volume=np.asarray(_field(results, "logvol", "dynesty")),
        log_weights=np.asarray(_field(results, "logwt", "dynesty")),
        num_live=num_live,
    )


def from_jaxns(results: Any) -> NestedSamples:
    """``NestedSamples`` from a jaxns ``NestedSamplerResults`` (padding rows dropped)."""
    total = int(_field(results, "total_num_samples", "jaxns"))
    samples = jax.tree_util.tree_map(
        lambda v: np.asarray(v)[:total], dict(_field(results, "samples", "jaxns"))
    )
    return from_nested(
        samples,
        np.asarray(_field(results, "log_L_samples", "jaxns"))[:total],
        log_weights=np.asarray(_field(results, "log_dp_mean", "jaxns"))[:total],
        num_live=np.asarray(_field(results, "num_live_points_per_sample", "jaxns"))[:total],
        weights_include_likelihood=True,
    )


def from_blackjax(info: Any, *, name: str = "theta") -> NestedSamples:
    """``NestedSamples`` from blackjax nested sampling (dead points plus final live ones)."""
    logl = np.asarray(_field(info, "loglikelihood", "blackjax"))
    birth = np.asarray(_field(info, "loglikelihood_birth", "blackjax"))
    order = np.argsort(logl, kind="stable")
    logl = logl[order]
    num_live = np.searchsorted(np.sort(birth), logl, side="left") - np.searchsorted(
        logl, logl, side="left"
    )
    num_live = np.maximum(num_live, 1).astype(float)
    particles = _field(info, "particles", "blackjax")
    samples = particles if isinstance(particles, dict) else {name: particles}
    samples = jax.tree_util.tree_map(lambda v: np.asarray(v)[order], dict(samples))
    return from_nested(
        samples, logl, log_volume=-np.cumsum(1.0 / num_live), num_live=num_live
    )


def from_ultranest(result: Any, *, names: Optional[Sequence[str]] = None) -> NestedSamples:
    """``NestedSamples`` from an UltraNest result dict (``sampler.run()``'s return)."""
    weighted = _field(result, "weighted_samples", "UltraNest")
    weights = np.asarray(_field(weighted, "weights", "UltraNest weighted_samples"), float)
    logz = float(_field(result, "logz", "UltraNest"))
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights) + logz
    return from_nested(
        _columns(_field(weighted, "points", "UltraNest weighted_samples"), names, "theta"),
        np.asarray(_field(weighted, "logl", "UltraNest weighted_samples")),
        log_weights=log_weights,
        weights_include_likelihood=True,
    )
