r"""Conjugate Gaussian hierarchy with exact evidence and posterior (a test oracle).

For groups ``g`` > observations ``n`` (plates at dims -2, -1)::

    mu         ~ Normal(0, s_mu)
    theta[g]   ~ Normal(mu, s_theta)
    obs[g, n]  ~ Normal(theta[g], s_y)

``y = obs`` is jointly Gaussian with mean 0 and covariance
``S = s_mu^2 11^T + s_theta^2 blockdiag(11^T) + s_y^2 I``, so
``log p(y) = log N(vec y; 0, S)`` and, with ``c = Cov(mu, vec y) = s_mu^2 1``,
``E[mu | y] = c^T S^-1 vec y`` and ``Var[mu | y] = s_mu^2 - c^T S^-1 c``
(Gelman et al., *Bayesian Data Analysis*, 3rd ed., section 5.4).

Registered as ``gaussian_hierarchy`` (``configs/gaussian_hierarchy.yaml``): the runner
reports :func:`exact_log_evidence` beside the MP IS and global IS estimates.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.scipy.stats import multivariate_normal

from ._spec import ModelSpec

PLATES = {"groups": -2, "observations": -1}


class Scales(NamedTuple):
    mu: float = 1.0
    theta: float = 1.0
    y: float = 1.0


def model(obs: jax.Array, *, scales: Scales = Scales()):
    """Conjugate Gaussian hierarchy: group means around a global mean, exact evidence."""
    mu = numpyro.sample("mu", dist.Normal(0.0, scales.mu))
    with numpyro.plate("groups", obs.shape[0], dim=PLATES["groups"]):
        theta = numpyro.sample("theta", dist.Normal(mu, scales.theta))
        with numpyro.plate("observations", obs.shape[1], dim=PLATES["observations"]):
            numpyro.sample("obs", dist.Normal(theta, scales.y), obs=obs)


def guide(obs: jax.Array, *, scales: Scales = Scales()):
    """A one-parameter proposal for :func:`model`: ``mu`` and every ``theta`` ~ N(loc, 1).

    The smallest learnable guide (param ``loc``); the SVI-loss examples train it.
    """
    loc = numpyro.param("loc", 0.0)
    numpyro.sample("mu", dist.Normal(loc, 1.0))
    with numpyro.plate("groups", obs.shape[0], dim=PLATES["groups"]):
        numpyro.sample("theta", dist.Normal(loc, 1.0))


def _joint_cov(shape, scales: Scales):
    G, N = shape
    groups = jnp.repeat(jnp.arange(G), N)
    same = (groups[:, None] == groups[None, :]).astype(float)
    return scales.mu**2 + scales.theta**2 * same + scales.y**2 * jnp.eye(G * N)


def exact_log_evidence(obs: jax.Array, scales: Scales = Scales()) -> jax.Array:
    """``log p(obs)`` in closed form."""
    S = _joint_cov(obs.shape, scales)
    return multivariate_normal.logpdf(obs.reshape(-1), jnp.zeros(obs.size), S)


def exact_posterior_mu(
    obs: jax.Array, scales: Scales = Scales()
) -> tuple[jax.Array, jax.Array]:
    """``(E[mu | obs], sd[mu | obs])`` in closed form."""
    S = _joint_cov(obs.shape, scales)
    c = jnp.full(obs.size, scales.mu**2)
    Sc = jnp.linalg.solve(S, c)
    return Sc @ obs.reshape(-1), jnp.sqrt(scales.mu**2 - c @ Sc)


def synthetic(rng_key: jax.Array, *, groups: int = 8, observations: int = 5,
              scales: Optional[Scales] = None) -> jax.Array:
    """Draw ``obs`` of shape ``(groups, observations)`` from the model's prior predictive."""
    scales = scales or Scales()
    k1, k2, k3 = jax.random.split(rng_key, 3)
    mu = scales.mu * jax.random.normal(k1)
    theta = mu + scales.theta * jax.random.normal(k2, (groups, 1))
    return theta + scales.y * jax.random.normal(k3, (groups, observations))


MODEL_INFO = ModelSpec(
    name="gaussian_hierarchy",
    model=model,
    guide=None,
    covariates=(),
    plates=PLATES,
    heldout_plate="observations",
    split=(5, 2),
    paper_elbo=None,
    reference="Gelman et al., Bayesian Data Analysis, 3rd ed., section 5.4",
    exact_log_evidence=exact_log_evidence,
)
