"""Lean log-density kernels for the common distributions, on the compact layout.

jaxis gives every latent its own positional axis, so a factor's arrays carry many size-1
axes (rank 10 for the chimpanzee observations). XLA's CPU backend runs the same fused
elementwise arithmetic several times slower once the rank passes 8, and numpyro's
``log_prob`` adds guards (``xlogy``'s and ``binary_cross_entropy_with_logits``'s
``where``) that stop vectorisation of the fused loop. A kernel here evaluates numpyro's
own formula, without guards it does not need, on the broadcast shape with its size-1 axes
squeezed, then reshapes back (a bitcast). For example, with ``l`` the logits::

    log Bernoulli(y | l) = y * l - softplus(l),  softplus(l) = max(l, 0) + log1p(exp(-|l|))

which is numpyro's finite-logit expression without its ``isfinite`` double ``where``
(that guard alone made the fused loop ~10x slower in issue 15's profile).

A kernel is used only when ``type(fn)`` is exactly a registered class (a subclass may
override ``log_prob``); ``Independent``, ``ExpandedDistribution`` and
``MaskedDistribution`` (``fn.mask(...)``) are unwrapped as numpyro does; anything else
is ``fn.log_prob``.
``validate_args`` keeps numpyro's meaning (``-inf`` outside the support) as
``min(lp, +-inf)`` with the sign chosen on the value's own shape: XLA's CPU backend fuses
an elementwise chain into the reduction that follows it only without a ``select`` on the
large array (a ``where`` there made the chimpanzee factor a separate, materialised pass;
a NaN log density stays NaN). Values and
gradients equal numpyro's to float rounding (``tests/trace/test_kernels.py``). Outside
numpyro's parameter constraints the kernels never turn NaN into a number: a NaN logit
gives NaN, and an infinite one NaN (or ``-inf`` for ``y = 1`` at ``-inf``), where
numpyro's Bernoulli(logits) returns ``0`` or ``-inf``.

Reference: numpyro ``distributions/{discrete,continuous}.py`` (the formulas);
issue 15 (the measurements).
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import gammaln, xlogy
from numpyro.distributions.util import clamp_probs, sum_rightmost


@jax.custom_jvp
def _softplus(x: jax.Array) -> jax.Array:
    """``log(1 + exp(x))`` without ``logaddexp``'s guards; derivative ``sigmoid(x)``.

    ``max(x, 0) + log1p(exp(-|x|))``: exact for every x (``0`` at ``-inf``). An earlier
    XLA materialised a broadcast zero for the ``maximum``, so this was once written
    ``x/2 + |x|/2``; with jax 0.10 that form is the slower one (the chimpanzee
    observations at K=15: 403 ms against 296 ms). The derivative is a custom JVP, so a
    reverse pass needs ``x`` only, not the chain's intermediates.
    """
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


@_softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _softplus(x), t * jax.nn.sigmoid(x)


def compact(kernel: Callable, *args, event: tuple[int, ...] = ()) -> jax.Array:
    """``kernel(*args)`` evaluated with the size-1 batch axes of the broadcast shape removed.

    ``event[i]`` trailing dims of ``args[i]`` are event dims and kept as they are (default
    none). The result is reshaped back to the full batch shape.
    """
    event = event or (0,) * len(args)
    args = [jnp.asarray(a) for a in args]
    batch = [a.shape[:a.ndim - e] for a, e in zip(args, event)]
    shape = jnp.broadcast_shapes(*batch)
    keep = tuple(i for i, s in enumerate(shape) if s != 1)
    if len(keep) == len(shape):
        return kernel(*args)

    def squeeze(a, b, e):
        full = (1,) * (len(shape) - len(b)) + b
        return a.reshape(tuple(full[i] for i in keep) + a.shape[a.ndim - e:])

    out = kernel(*(squeeze(a, b, e) for a, b, e in zip(args, batch, event)))
    return out.reshape(shape)


def _bernoulli_logits(fn, y):
    return compact(lambda l, y: y * l - _softplus(l), fn.logits, y)


def _bernoulli_probs(fn, y):
    y = jnp.asarray(y, jnp.result_type(float))
    return compact(lambda p, y: y * jnp.log(p) + (1 - y) * jnp.log1p(-p),
                   clamp_probs(fn.probs), y)


def _binomial_logits(fn, k):
    n = jnp.asarray(fn.total_count, jnp.result_type(float))
    const = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return compact(lambda l, k, n, c: k * l - n * _softplus(l) + c, fn.logits, k, n, const)


def _binomial_probs(fn, k):
    k = jnp.asarray(k, jnp.result_type(float))
    n = fn.total_count
    const = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return compact(lambda p, k, n, c: c + xlogy(k, p) + (n - k) * jnp.log1p(-p),
                   clamp_probs(fn.probs), k, n, const)


def _categorical(fn, value):
    log_pmf = fn.logits
    if type(fn) is dist.CategoricalLogits:
        log_pmf = log_pmf - jax.nn.logsumexp(log_pmf, axis=-1, keepdims=True)

    def gather(lp, v):
        v = jnp.broadcast_to(v[..., None], jnp.broadcast_shapes(v.shape, lp.shape[:-1]) + (1,))
        lp = jnp.broadcast_to(lp, v.shape[:-1] + lp.shape[-1:])
        return jnp.take_along_axis(lp, v, -1)[..., 0]

    return compact(gather, log_pmf, value, event=(1, 0))


def _normal(fn, x):
    return compact(lambda x, loc, scale: -0.5 * ((x - loc) / scale) ** 2
                   - jnp.log(jnp.sqrt(2 * jnp.pi) * scale), x, fn.loc, fn.scale)


def _half_normal(fn, x):
    scale = fn.scale
    return compact(lambda x, scale: -0.5 * (x / scale) ** 2
                   - jnp.log(jnp.sqrt(2 * jnp.pi) * scale) + math.log(2), x, scale)


def _poisson(fn, k):
    if fn.is_sparse:
        return fn.log_prob(k)
    ftype = jnp.result_type(float)
    k = jnp.astype(k, ftype)
    return compact(lambda r, k, c: xlogy(k, r) - r - c, jnp.astype(fn.rate, ftype), k,
                   gammaln(k + 1.0))


KERNELS: dict[type, Callable] = {
    dist.BernoulliLogits: _bernoulli_logits,
    dist.BernoulliProbs: _bernoulli_probs,
    dist.BinomialLogits: _binomial_logits,
    dist.BinomialProbs: _binomial_probs,
    dist.CategoricalLogits: _categorical,
    dist.CategoricalProbs: _categorical,
    dist.Normal: _normal,
    dist.HalfNormal: _half_normal,
    dist.Poisson: _poisson,
}


def _masked(fn: dist.MaskedDistribution, value) -> jax.Array:
    """numpyro's ``MaskedDistribution.log_prob`` with the base through :func:`log_density`."""
    if fn._mask is True:
        return log_density(fn.base_dist, value)
    try:
        default = fn.base_dist.support.feasible_like(value)
    except NotImplementedError:
        pass
    else:
        mask = jnp.reshape(fn._mask, jnp.shape(fn._mask) + (1,) * fn.event_dim)
        value = jnp.where(mask, value, default)
    return jnp.where(fn._mask, log_density(fn.base_dist, value), 0.0)


def log_density(fn: dist.Distribution, value) -> jax.Array:
    """``fn.log_prob(value)``, through a lean kernel when ``type(fn)`` has one."""
    kind = type(fn)
    if kind is dist.Independent:
        return sum_rightmost(log_density(fn.base_dist, value), fn.reinterpreted_batch_ndims)
    if kind is dist.ExpandedDistribution:
        shape = jax.lax.broadcast_shapes(
            fn.batch_shape, jnp.shape(value)[:max(jnp.ndim(value) - fn.event_dim, 0)])
        return jnp.broadcast_to(log_density(fn.base_dist, value), shape)
    if kind is dist.MaskedDistribution and fn._mask is not False:
        return _masked(fn, value)
    kernel = KERNELS.get(kind)
    if kernel is None:
        return fn.log_prob(value)
    lp = kernel(fn, value)
    if fn._validate_args:  # -inf outside the support
        lp = _in_support(lp, fn._validate_sample(value))
    return lp


@jax.custom_jvp
def _in_support(lp: jax.Array, valid: jax.Array) -> jax.Array:
    """``lp`` where ``valid``, ``-inf`` elsewhere (numpyro's ``validate_args`` meaning).

    A min with ``+-inf`` chosen on the value's own shape, not a select on ``lp``: XLA's CPU
    backend fuses the elementwise chain into the reduction that follows only without a
    ``select`` on the large array. Its derivative is ``where(valid, t, 0)`` (numpyro's), so
    the reverse pass does not recompute ``lp`` for the min's tie test.
    """
    return jnp.minimum(lp, jnp.where(valid, jnp.inf, -jnp.inf))


@_in_support.defjvp
def _in_support_jvp(primals, tangents):
    lp, valid = primals
    return _in_support(lp, valid), jnp.where(valid, tangents[0], 0.0)
