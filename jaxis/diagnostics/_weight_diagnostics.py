"""Weight diagnostics: the stability slope, ESS growth with sample size, a summary.

**Stability.** Importance ratios must fall where samples thin out.

Importance sampling of a target ``p`` with draws from ``q`` is stable only if
``p / q -> 0`` as ``q -> 0``: the sampling density must fall *slower* than the target in
the wings. Plot ``log p`` against ``log q`` (the blog's stability plot): in the
low-density tail (left of the cloud) points must trend *below* the 1:1 line, i.e. the
least-squares slope of ``log p`` on ``log q`` over the ``tail_fraction`` lowest-``q``
samples must be at least one:

    slope = Cov(log q, log p) / Var(log q)   over the tail,   stable  <=>  slope >= 1

For zero-mean Gaussians ``slope = sigma_q^2 / sigma_p^2`` exactly, and the Pareto tail
index of the weights is ``k = 1 - slope``: a slope below one is a heavy weight tail.
For nested samples the sampling density w.r.t. the prior is ``1 / dX_i`` and the target
is ``L_i`` (or the reweighted target), which is what ``stability(nested_ws)`` uses.

**ESS growth.** Kish's effective sample size of the first ``n`` samples,

    ESS(n) = (sum_{i<=n} w_i)^2 / sum_{i<=n} w_i^2,

grows like ``n * ESS/N`` when the weights have a finite variance and sub-linearly when
their tail is heavy (Pareto ``k > 1/2``); it is computed from cumulative log-sum-exps
(float32-safe). For ordered sets (nested samples are sorted by likelihood) shuffle first.
``weight_summary`` gathers ESS, ESS/N, Pareto k and its threshold, the largest normalised
weight, log Z and the ELBO/EUBO bracket in one pytree.

References: the importance-sampling blog in ``shared/papers`` ("Missing the Tails");
Vehtari et al. (2024), *Pareto smoothed importance sampling*, JMLR 25(72); Kish (1965),
*Survey sampling*; Elvira, Martino, Robert (2022), *Rethinking the effective sample
size*, Int. Stat. Rev. 90, 525.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from ..weighted._nested_samples import NestedSamples
from ..weighted._weighted_samples import WeightedSamples

Array = jax.Array

__all__ = [
    "Stability",
    "stability",
    "stability_points",
    "ess_curve",
    "WeightSummary",
    "weight_summary",
]


class Stability(NamedTuple):
    """Tail slope of ``log p`` on ``log q``, its standard error, and ``slope >= 1``."""

    slope: Array
    slope_se: Array
    stable: Array


def stability_points(
    target: Union[WeightedSamples, Array], log_sampling_density: Optional[Array] = None
) -> tuple[Array, Array]:
    """``(log q, log p)`` per sample from weighted samples or from ``log p`` directly.

    For ``WeightedSamples``, ``log p = log_weights + log q`` (up to a constant); nested
    samples default to ``log q = -log dX``.
    """
    if log_sampling_density is None:
        if not isinstance(target, NestedSamples):
            raise ValueError(
                "log_sampling_density is needed: pass log q(z_n) per sample (only "
                "NestedSamples know theirs, 1/dX)."
            )
        log_q = -target.log_widths
    else:
        log_q = jnp.asarray(log_sampling_density)
    if isinstance(target, WeightedSamples):
        log_p = target.log_weights + log_q
    else:
        log_p = jnp.asarray(target)
    if log_p.ndim != 1 or log_p.shape != log_q.shape:
        raise ValueError(
            f"log target and log_sampling_density must be 1-D of equal length, got "
            f"{log_p.shape} and {log_q.shape}."
        )
    return log_q, log_p


def stability(
    target: Union[WeightedSamples, Array],
    log_sampling_density: Optional[Array] = None,
    *,
    tail_fraction: float = 0.2,
) -> Stability:
    """The blog's slope diagnostic on the low-sampling-density tail.

    Args:
        target: ``WeightedSamples`` (``log p`` is read off the weights) or ``(N,)`` ``log p``.
        log_sampling_density: ``(N,)`` ``log q`` of each sample (optional for nested samples).
        tail_fraction: share of the samples, lowest ``q`` first, used for the fit (static).

    Returns:
        ``Stability(slope, slope_se, stable)``; ``slope = inf`` where ``log q`` is constant
        over the tail (a bounded ratio) and samples with ``p = 0`` are left out. A NaN
        anywhere in ``log p`` or ``log q`` gives NaN; fewer than 2 usable tail points give
        a NaN slope, fewer than 3 a NaN standard error (``stable`` is then False).

    Example:
        >>> import jax
        >>> from jax.scipy.stats import norm
        >>> x = jax.random.normal(jax.random.PRNGKey(0), (2000,))          # q = N(0, 1)
        >>> log_q = norm.logpdf(x)
        >>> bool(stability(norm.logpdf(x, 0.0, 0.5), log_q).stable)       # narrower target
        True
        >>> bool(stability(norm.logpdf(x, 0.0, 3.0), log_q).stable)       # wider: heavy tail
        False
    """
    if not 0.0 < tail_fraction <= 1.0:
        raise ValueError(f"tail_fraction must be in (0, 1], got {tail_fraction}.")
    log_q, log_p = stability_points(target, log_sampling_density)
    num = log_q.shape[0]
    n_tail = min(num, max(3, int(math.ceil(tail_fraction * num))))
    order = jnp.argsort(jnp.where(jnp.isnan(log_q), jnp.inf, log_q))[:n_tail]
    x, y = log_q[order], log_p[order]
    valid = jnp.isfinite(x) & jnp.isfinite(y)
    x = jnp.where(valid, x, 0.0)
    y = jnp.where(valid, y, 0.0)
    count = jnp.sum(valid).astype(x.dtype)
    safe_count = jnp.maximum(count, 1.0)
    dx = jnp.where(valid, x - jnp.sum(x) / safe_count, 0.0)
    dy = jnp.where(valid, y - jnp.sum(y) / safe_count, 0.0)
    sxx = jnp.sum(dx**2)
    positive = sxx > 0
    slope = jnp.where(positive, jnp.sum(dx * dy) / jnp.where(positive, sxx, 1.0), jnp.inf)
    safe_slope = jnp.where(positive, slope, 0.0)
    resid = jnp.sum((dy - safe_slope * dx) ** 2) / jnp.maximum(count - 2.0, 1.0)
    slope_se = jnp.where(positive, jnp.sqrt(resid / jnp.where(positive, sxx, 1.0)), 0.0)
    any_nan = jnp.any(jnp.isnan(log_q)) | jnp.any(jnp.isnan(log_p))
    slope = jnp.where(any_nan | (count < 2), jnp.nan, slope)
    slope_se = jnp.where(any_nan | (count < 3), jnp.nan, slope_se)
    return Stability(slope, slope_se, slope >= 1.0)


def ess_curve(ws: WeightedSamples) -> Array:
    """``(N,)`` Kish ESS of the first ``n`` samples, ``n = 1..N``, each in ``[1, n]``.

    NaN while the first ``n`` weights are all zero, and from a NaN or ``+inf`` weight on.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxis import WeightedSamples
        >>> curve = ess_curve(WeightedSamples({"x": jnp.arange(4.0)}, jnp.zeros(4)))
        >>> bool(jnp.allclose(curve, jnp.arange(1, 5)))      # equal weights: ESS = n
        True
    """
    lw = ws.log_weights
    top = jax.lax.stop_gradient(jnp.max(lw, initial=-jnp.inf))
    lw = lw - jnp.where(jnp.isfinite(top), top, 0.0)
    log_s1 = jax.lax.cumlogsumexp(lw)
    log_s2 = jax.lax.cumlogsumexp(2.0 * lw)
    has_mass = log_s1 > -jnp.inf
    log_ess = jnp.where(has_mass, 2.0 * log_s1 - jnp.where(has_mass, log_s2, 0.0), jnp.nan)
    n = jnp.arange(1, ws.num_samples + 1, dtype=log_ess.dtype)
    return jnp.clip(jnp.exp(log_ess), 1.0, n)


class WeightSummary(NamedTuple):
    """Weight diagnostics of one ``WeightedSamples`` in one pytree."""

    ess: Array
    ess_fraction: Array
    khat: Array
    khat_threshold: float
    max_weight: Array
    log_evidence: Array
    elbo: Array
    eubo: Array


def weight_summary(ws: WeightedSamples, *, r_eff: float = 1.0) -> WeightSummary:
    """ESS, ESS/N, Pareto k (and threshold), max normalised weight, log Z, ELBO, EUBO."""
    ess = ws.ess()
    pk = ws.pareto_k(r_eff=r_eff)
    bounds = ws.bounds()
    return WeightSummary(
        ess=ess,
        ess_fraction=ess / ws.num_samples,
        khat=pk.khat,
        khat_threshold=pk.threshold,
        max_weight=jnp.max(ws.normalized_weights()),
        log_evidence=ws.log_evidence(),
        elbo=bounds.elbo,
        eubo=bounds.eubo,
    )
