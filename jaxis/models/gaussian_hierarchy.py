r"""Conjugate Gaussian hierarchy with exact evidence and posterior (a test oracle and demo).

For groups ``g`` > observations ``n`` (plates at dims -2, -1)::

    mu         ~ Normal(0, s_mu)
    theta[g]   ~ Normal(mu, s_theta)
    y[g, n]    ~ Normal(theta[g], s_y)

``y`` is jointly Gaussian with mean 0 and covariance
``S = s_mu^2 11^T + s_theta^2 blockdiag(11^T) + s_y^2 I``, so
``log p(y) = log N(vec y; 0, S)`` and, with ``c = Cov(mu, vec y) = s_mu^2 1``,
``E[mu | y] = c^T S^-1 vec y`` and ``Var[mu | y] = s_mu^2 - c^T S^-1 c``
(Gelman et al., *Bayesian Data Analysis*, 3rd ed., section 5.4).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.scipy.stats import multivariate_normal


class Scales(NamedTuple):
    mu: float = 1.0
    theta: float = 1.0
    y: float = 1.0


def model(y: jax.Array, scales: Scales = Scales()):
    """Conjugate hierarchy over ``y`` of shape ``(groups, observations)``."""
    mu = numpyro.sample("mu", dist.Normal(0.0, scales.mu))
    with numpyro.plate("groups", y.shape[0], dim=-2):
        theta = numpyro.sample("theta", dist.Normal(mu, scales.theta))
        with numpyro.plate("data", y.shape[1], dim=-1):
            numpyro.sample("y", dist.Normal(theta, scales.y), obs=y)


def _joint_cov(shape, scales: Scales):
    G, N = shape
    groups = jnp.repeat(jnp.arange(G), N)
    same = (groups[:, None] == groups[None, :]).astype(float)
    return scales.mu**2 + scales.theta**2 * same + scales.y**2 * jnp.eye(G * N)


def exact_log_evidence(y: jax.Array, scales: Scales = Scales()) -> jax.Array:
    """``log p(y)`` in closed form."""
    S = _joint_cov(y.shape, scales)
    return multivariate_normal.logpdf(y.reshape(-1), jnp.zeros(y.size), S)


def exact_posterior_mu(y: jax.Array, scales: Scales = Scales()) -> tuple[jax.Array, jax.Array]:
    """``(E[mu | y], sd[mu | y])`` in closed form."""
    S = _joint_cov(y.shape, scales)
    c = jnp.full(y.size, scales.mu**2)
    Sc = jnp.linalg.solve(S, c)
    return Sc @ y.reshape(-1), jnp.sqrt(scales.mu**2 - c @ Sc)


def synthetic(rng_key: jax.Array, *, groups: int = 8, observations: int = 5,
              scales: Optional[Scales] = None) -> jax.Array:
    """Draw ``y`` of shape ``(groups, observations)`` from the model's prior predictive."""
    scales = scales or Scales()
    k1, k2, k3 = jax.random.split(rng_key, 3)
    mu = scales.mu * jax.random.normal(k1)
    theta = mu + scales.theta * jax.random.normal(k2, (groups, 1))
    return theta + scales.y * jax.random.normal(k3, (groups, observations))
