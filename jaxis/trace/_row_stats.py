r"""Repeated data rows: one log-density evaluation per plate, weighted by sufficient statistics.

Within a plate that holds no latent, every observation whose distribution parameters do
not vary along the plate (``Bernoulli(logits)`` with logits of size 1 on the plate dim:
repeated trials, replicates, i.i.d. data) has the same log density up to its observed
value. For an exponential-family kernel the sum over the plate's ``N`` rows is then exact
in closed form from sums of the observed values, e.g. with ``l`` the logits::

    sum_n log Bernoulli(y_n | l) = (sum_n y_n) * l - N * softplus(l)
    sum_n log Normal(x_n | m, s) = -(S + N (xbar - m)^2) / (2 s^2) - N log(sqrt(2 pi) s),
                                   xbar = mean_n x_n,  S = sum_n (x_n - xbar)^2
    sum_n log Poisson(k_n | r)   = xlogy(sum_n k_n, r) - N r - sum_n lgamma(k_n + 1)

so the parameters (a K^n-sized array) are evaluated once per plate element of the other
plates instead of ``N`` times. Which dims qualify is read from shapes (the base
distribution's parameters have size 1 there), so it holds for traced data too (under
``jax.jit``/``jax.vmap``). The observed values' sums are over data only (cheap); a NaN
value makes the site's log density NaN, as on the plain path (also with
``validate_args``, which would call it out of support).

Used only for a distribution whose type is exactly a key of :data:`STATS` (or such a
distribution inside numpyro's ``ExpandedDistribution``); with ``validate_args`` the sum is
``-inf`` when any row is outside the support, as numpyro's.

Reference: issue 15 (lever 2); sufficient statistics of the exponential family, e.g.
Bishop 2006, *Pattern Recognition and Machine Learning*, section 2.4.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import gammaln, xlogy
from numpyro.distributions.util import clamp_probs

from ._kernels import _softplus


def _bernoulli_logits(fn, y, sum_, n):
    return sum_(y) * fn.logits - n * _softplus(fn.logits)


def _bernoulli_probs(fn, y, sum_, n):
    p = clamp_probs(fn.probs)
    t = sum_(jnp.asarray(y, jnp.result_type(float)))
    return t * jnp.log(p) + (n - t) * jnp.log1p(-p)


def _binomial_const(total, k, sum_):
    total = jnp.asarray(total, jnp.result_type(float))
    return sum_(gammaln(total + 1) - gammaln(k + 1) - gammaln(total - k + 1))


def _binomial_logits(fn, k, sum_, n):
    total = jnp.asarray(fn.total_count, jnp.result_type(float))
    return (sum_(k) * fn.logits - n * total * _softplus(fn.logits)
            + _binomial_const(fn.total_count, k, sum_))


def _binomial_probs(fn, k, sum_, n):
    p = clamp_probs(fn.probs)
    k = jnp.asarray(k, jnp.result_type(float))
    t = sum_(k)
    total = jnp.asarray(fn.total_count, jnp.result_type(float))
    return (xlogy(t, p) + (n * total - t) * jnp.log1p(-p)
            + _binomial_const(fn.total_count, k, sum_))


def _poisson(fn, k, sum_, n):
    if fn.is_sparse:
        return None
    k = jnp.asarray(k, jnp.result_type(float))
    rate = jnp.asarray(fn.rate, jnp.result_type(float))
    return xlogy(sum_(k), rate) - n * rate - sum_(gammaln(k + 1.0))


def _normal(fn, x, sum_, n):
    mean = sum_(x) / n
    spread = sum_((x - mean) ** 2)
    return (-0.5 * (spread + n * (mean - fn.loc) ** 2) / fn.scale ** 2
            - n * jnp.log(jnp.sqrt(2 * jnp.pi) * fn.scale))


def _half_normal(fn, x, sum_, n):
    return (-0.5 * sum_(x ** 2) / fn.scale ** 2
            - n * (jnp.log(jnp.sqrt(2 * jnp.pi) * fn.scale) - math.log(2)))


# type -> (parameter attributes, summed log density from (fn, value, sum_, n))
STATS: dict[type, tuple[tuple[str, ...], Callable]] = {
    dist.BernoulliLogits: (("logits",), _bernoulli_logits),
    dist.BernoulliProbs: (("probs",), _bernoulli_probs),
    dist.BinomialLogits: (("logits", "total_count"), _binomial_logits),
    dist.BinomialProbs: (("probs", "total_count"), _binomial_probs),
    dist.Poisson: (("rate",), _poisson),
    dist.Normal: (("loc", "scale"), _normal),
    dist.HalfNormal: (("scale",), _half_normal),
}


def _base(fn: dist.Distribution) -> dist.Distribution:
    while type(fn) is dist.ExpandedDistribution:
        fn = fn.base_dist
    return fn


def repeated_dims(fn: dist.Distribution, dims: tuple[int, ...]) -> tuple[int, ...]:
    """The batch dims among ``dims`` (negative) along which no parameter of ``fn`` varies.

    Empty when ``fn`` has no sufficient-statistics form here (type not in :data:`STATS`,
    or event dims).
    """
    base = _base(fn)
    entry = STATS.get(type(base))
    if entry is None or fn.event_shape or not dims:
        return ()
    batch = tuple(fn.batch_shape)
    shapes = [jnp.shape(getattr(base, a)) for a in entry[0]]
    return tuple(d for d in dims if -d <= len(batch) and batch[d] > 1
                 and all(-d > len(s) or s[d] == 1 for s in shapes))


def summed_log_density(fn: dist.Distribution, value, dims: tuple[int, ...]
                       ) -> Optional[jax.Array]:
    """``sum over dims`` of ``fn.log_prob(value)``, kept as size-1 dims, from statistics.

    ``dims`` must come from :func:`repeated_dims`. ``None`` when the form does not apply.
    """
    base = _base(fn)
    batch = tuple(fn.batch_shape)
    value = jnp.asarray(value)
    rank = max(value.ndim, -min(dims))  # data dims only: never the sample axes
    value = jnp.broadcast_to(value, jnp.broadcast_shapes(
        jnp.shape(value), batch[len(batch) - rank:]))
    n = math.prod(batch[d] for d in dims)

    def sum_(x):
        x = jnp.broadcast_to(x, jnp.broadcast_shapes(jnp.shape(x), value.shape))
        return jnp.sum(x, axis=tuple(x.ndim + d for d in dims), keepdims=True)

    lp = STATS[type(base)][1](base, value, sum_, n)
    if lp is None:
        return None
    if base._validate_args:  # numpyro's meaning: -inf if any row is outside the support
        valid = base._validate_sample(value)
        valid = jnp.broadcast_to(valid, jnp.broadcast_shapes(jnp.shape(valid), value.shape))
        lp = jnp.where(jnp.all(valid, axis=tuple(valid.ndim + d for d in dims),
                               keepdims=True), lp, -jnp.inf)
    if jnp.issubdtype(value.dtype, jnp.inexact):  # NaN data: NaN, not "impossible"
        lp = jnp.where(jnp.any(jnp.isnan(value), axis=tuple(value.ndim + d for d in dims),
                               keepdims=True), jnp.nan, lp)
    shape = tuple(1 if i - len(batch) in dims else s for i, s in enumerate(batch))
    return jnp.broadcast_to(lp, jnp.broadcast_shapes(jnp.shape(lp), shape))
