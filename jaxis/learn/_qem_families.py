r"""QEM proposal families: sufficient statistics and moment matching back to parameters.

Each family is an exponential family ``q(z) ∝ exp(eta . T(z))``; QEM keeps running
posterior moments ``m ≈ E_post[T(z)]`` and sets the parameters to those whose moments
``E_q[T(z)] = m`` (the maximum-likelihood / moment-matching step of EM):

=============  ==============================  ==============================================
family         ``T(z)``                        parameters from ``m``
=============  ==============================  ==============================================
Normal         ``z, z^2``                      ``loc = m1``, ``scale = sqrt(m2 - m1^2)``
LogNormal      ``log z, (log z)^2``            as Normal, on ``log z``
Gamma          ``z, log z``                    ``log a - psi(a) = log m1 - m2``, ``rate = a / m1``
                                               (Minka 2002, generalised Newton)
Beta           ``log z, log(1 - z)``           Dirichlet on ``(z, 1 - z)``
Dirichlet      ``log z``                       ``psi(a_k) - psi(sum a) = m_k`` (Minka 2000,
                                               Newton with the diagonal-plus-rank-one Hessian)
Bernoulli      ``z``                           ``probs = m``
Categorical    ``onehot(z)``                   ``probs = m``
MVN            ``z, z z^T``                    ``loc = m1``, ``scale_tril = chol(m2 - m1 m1^T)``
=============  ==============================  ==============================================

The family of a latent is chosen from its prior's support (:func:`family_of`). A running
average of valid moments is a valid moment (the moment sets are convex), so every step has
a solution; variances are floored at the float resolution of ``m2`` (cancellation only).

References: T. Minka, *Estimating a Dirichlet distribution* (2000); T. Minka, *Estimating a
Gamma distribution* (2002).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import digamma, polygamma
from numpyro.distributions import constraints
from numpyro.distributions.constraints import (_Boolean, _IndependentConstraint,
                                               _IntegerInterval, _Positive, _Real, _Simplex,
                                               _UnitInterval)

NEWTON_STEPS = 30  # Dirichlet / Beta iterations per moment match (quadratic convergence)


def _floor(var, second):
    """``var`` floored at the float resolution of the second moment it came from."""
    return jnp.maximum(var, 8 * jnp.finfo(var.dtype).eps * jnp.abs(second))


def _trigamma(x):
    return polygamma(1, x)


def _inv_digamma(y):
    """``psi^{-1}(y)`` by Newton from Minka's (2000, appendix C) initial guess."""
    x = jnp.where(y >= -2.22, jnp.exp(y) + 0.5, -1.0 / (y - digamma(1.0)))
    for _ in range(5):
        x = x - (digamma(x) - y) / _trigamma(x)
    return x


def dirichlet_match(mlog, alpha):
    """Concentrations ``a`` with ``E[log z] = mlog`` (last axis), from warm start ``alpha``.

    Newton (Minka 2000, eq. 15): the Hessian ``diag(-psi'(a)) + psi'(sum a) 11^T`` is
    inverted in O(D); an element whose Newton step leaves ``a > 0`` takes the fixed-point
    step ``a = psi^{-1}(psi(sum a) + mlog)`` instead (Minka 2000, eq. 9; always positive).
    """
    def body(_, a):
        a0 = a.sum(-1, keepdims=True)
        g = digamma(a0) - digamma(a) + mlog
        q = -_trigamma(a)
        b = (g / q).sum(-1, keepdims=True) / (1.0 / _trigamma(a0) + (1.0 / q).sum(-1, keepdims=True))
        newton = a - (g - b) / q
        fixed = _inv_digamma(digamma(a0) + mlog)
        return jnp.where(jnp.all(newton > 0, -1, keepdims=True), newton, fixed)

    return jax.lax.fori_loop(0, NEWTON_STEPS, body, jnp.broadcast_to(alpha, mlog.shape))


def gamma_match(mean, mlog):
    """``(concentration, rate)`` with ``E[z] = mean``, ``E[log z] = mlog`` (Minka 2002)."""
    s = jnp.log(mean) - mlog
    a = (3 - s + jnp.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
    for _ in range(5):
        a = 1.0 / (1.0 / a + (mlog - jnp.log(mean) + jnp.log(a) - digamma(a))
                   / (a**2 * (1.0 / a - _trigamma(a))))
    return a, a / mean


class Family(NamedTuple):
    """One proposal family: parameter names and constraints, ``T``, matching, the guide."""

    name: str
    params: dict  # name -> (constraint, initial value from (batch_shape, event_shape))
    stats: Callable  # positional samples -> tuple of T(z) arrays
    match: Callable  # (moments tuple, previous params dict) -> params dict
    dist: Callable  # params dict -> numpyro distribution


def _normal_match(m, _):
    return {"loc": m[0], "scale": jnp.sqrt(_floor(m[1] - m[0] ** 2, m[1]))}


def _mvn_match(m, _):
    loc, second = m
    cov = second - loc[..., :, None] * loc[..., None, :]
    diag = jnp.diagonal(second, axis1=-2, axis2=-1)
    cov = cov + jnp.eye(loc.shape[-1]) * (8 * jnp.finfo(loc.dtype).eps * diag)[..., None]
    return {"loc": loc, "scale_tril": jnp.linalg.cholesky(cov)}


def _beta_match(m, prev):
    a = dirichlet_match(jnp.stack(m, -1),
                        jnp.stack([prev["concentration1"], prev["concentration0"]], -1))
    return {"concentration1": a[..., 0], "concentration0": a[..., 1]}


def _zeros(b, e):
    return jnp.zeros(b + e)


def _ones(b, e):
    return jnp.ones(b + e)


_REAL = (constraints.real, _zeros)
_POS = (constraints.positive, _ones)
FAMILIES = {
    "Normal": Family("Normal", {"loc": _REAL, "scale": _POS},
                     lambda v: (v, v**2), _normal_match,
                     lambda p: dist.Normal(p["loc"], p["scale"])),
    "LogNormal": Family("LogNormal", {"loc": _REAL, "scale": _POS},
                        lambda v: (jnp.log(v), jnp.log(v) ** 2), _normal_match,
                        lambda p: dist.LogNormal(p["loc"], p["scale"])),
    "Gamma": Family("Gamma", {"concentration": _POS, "rate": _POS},
                    lambda v: (v, jnp.log(v)),
                    lambda m, _: dict(zip(("concentration", "rate"), gamma_match(*m))),
                    lambda p: dist.Gamma(p["concentration"], p["rate"])),
    "Beta": Family("Beta", {"concentration1": _POS, "concentration0": _POS},
                   lambda v: (jnp.log(v), jnp.log1p(-v)), _beta_match,
                   lambda p: dist.Beta(p["concentration1"], p["concentration0"])),
    "Dirichlet": Family("Dirichlet", {"concentration": _POS}, lambda v: (jnp.log(v),),
                        lambda m, prev: {"concentration": dirichlet_match(
                            m[0], prev["concentration"])},
                        lambda p: dist.Dirichlet(p["concentration"])),
    "Bernoulli": Family("Bernoulli", {"probs": (constraints.unit_interval,
                                                lambda b, e: jnp.full(b, 0.5))},
                        lambda v: (v.astype(jnp.result_type(float)),),
                        lambda m, _: {"probs": m[0]},
                        lambda p: dist.Bernoulli(probs=p["probs"])),
    "MultivariateNormal": Family(
        "MultivariateNormal",
        {"loc": _REAL, "scale_tril": (constraints.lower_cholesky,
                                      lambda b, e: jnp.broadcast_to(jnp.eye(e[0]), b + e * 2))},
        lambda v: (v, v[..., :, None] * v[..., None, :]), _mvn_match,
        lambda p: dist.MultivariateNormal(p["loc"], scale_tril=p["scale_tril"])),
}


def categorical(size: int) -> Family:
    """The Categorical family on ``{0, ..., size - 1}``."""
    return Family("Categorical", {"probs": (constraints.simplex,
                                            lambda b, e: jnp.full(b + (size,), 1.0 / size))},
                  lambda v: (jax.nn.one_hot(v, size),), lambda m, _: {"probs": m[0]},
                  lambda p: dist.Categorical(probs=p["probs"]))


def _base(fn):
    while isinstance(fn, (dist.ExpandedDistribution, dist.Independent,
                          dist.MaskedDistribution)):
        fn = fn.base_dist
    return fn


def family_of(name: str, fn: dist.Distribution) -> Family:
    """The proposal family for latent ``name`` with prior ``fn``, chosen by its support.

    real -> Normal; positive -> Gamma for a Gamma or Exponential prior, else LogNormal;
    unit interval -> Beta; boolean -> Bernoulli; ``{0..S-1}`` -> Categorical; simplex ->
    Dirichlet; real vector (event dim 1) -> MultivariateNormal. Others: ``ValueError``.
    """
    support = fn.support
    base = support.base_constraint if isinstance(support, _IndependentConstraint) else support
    event_dim = len(fn.event_shape)
    if event_dim == 0 and isinstance(base, _Real):
        return FAMILIES["Normal"]
    if event_dim == 0 and isinstance(base, _Positive):
        gamma_like = isinstance(_base(fn), (dist.Gamma, dist.Exponential))
        return FAMILIES["Gamma" if gamma_like else "LogNormal"]
    if event_dim == 0 and isinstance(base, _UnitInterval):
        return FAMILIES["Beta"]
    if event_dim == 0 and isinstance(base, _Boolean):
        return FAMILIES["Bernoulli"]
    if event_dim == 0 and isinstance(base, _IntegerInterval) and base.lower_bound == 0:
        return categorical(int(base.upper_bound) + 1)
    if event_dim == 1 and isinstance(base, _Simplex):
        return FAMILIES["Dirichlet"]
    if event_dim == 1 and isinstance(base, _Real):
        return FAMILIES["MultivariateNormal"]
    raise ValueError(
        f"qem: latent site {name!r} has a {type(_base(fn)).__name__} prior with support "
        f"{support} and event shape {tuple(fn.event_shape)}; QEM has moment-matching "
        "proposals for real (Normal), positive (LogNormal, Gamma), unit-interval (Beta), "
        "boolean (Bernoulli), {0..S-1} (Categorical), simplex (Dirichlet) and real-vector "
        "(MultivariateNormal, event dim 1) latents. Reparameterise the site into one of "
        "these supports, or learn its proposal with SVI and jaxis.MPELBO."
    )
