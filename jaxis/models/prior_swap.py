r"""Prior swap: recycle posterior samples drawn under one prior for another (blog example 1).

One parameter ``theta`` and one observation ``obs = 0``::

    old prior   pi_old(theta) = Normal(theta; 0, 2)
    new prior   pi_new(theta) = Normal(theta; 0, 1/2) (1/4 + 25 theta^2) / 6.5
    likelihood  L(theta) = Cauchy(obs; loc=theta, scale=1/2)  ∝ 1 / (1 + (2 theta)^2)

The blog writes the new prior unnormalised, ``exp(-(2 theta)^2 / 2) (0.25 + (5 theta)^2)``;
``E_{Normal(0, 1/2)}[1/4 + 25 theta^2] = 6.5`` normalises it. Samples of the old posterior,
reweighted by ``log w = log pi_new - log pi_old``, target the new posterior.

:func:`model` writes either posterior as a numpyro model (the new prior as a
``Normal(0, 1/2)`` draw tilted by a ``numpyro.factor``); :func:`synthetic_prior_swap` draws
exact old-posterior samples by rejection from the old prior (acceptance ``1/(1 + 4 theta^2)``).

Example:
    >>> import jax
    >>> data = synthetic_prior_swap(jax.random.key(0), num_samples=1000)
    >>> theta = data.samples["theta"]
    >>> log_w = log_prior_new(theta) - log_prior_old(theta)

Reference: McDougall, *The Importance of Importance Sampling* (../shared/papers), section
"Recycling Posterior Chains for Changing Priors".
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._spec import BLOG, ModelSpec

OLD_PRIOR_SCALE = 2.0
NEW_PRIOR_SCALE = 0.5
LIKELIHOOD_SCALE = 0.5
OBSERVATION = 0.0
_TILT_NORMALISER = 0.25 + 25.0 * NEW_PRIOR_SCALE**2  # = 6.5


def log_prior_old(theta: jax.Array) -> jax.Array:
    """``log Normal(theta; 0, 2)``."""
    return dist.Normal(0.0, OLD_PRIOR_SCALE).log_prob(theta)


def _log_tilt(theta: jax.Array) -> jax.Array:
    return jnp.log((0.25 + 25.0 * theta**2) / _TILT_NORMALISER)


def log_prior_new(theta: jax.Array) -> jax.Array:
    """``log [Normal(theta; 0, 1/2) (1/4 + 25 theta^2) / 6.5]`` (normalised)."""
    return dist.Normal(0.0, NEW_PRIOR_SCALE).log_prob(theta) + _log_tilt(theta)


def log_likelihood(theta: jax.Array, obs: float = OBSERVATION) -> jax.Array:
    """``log Cauchy(obs; theta, 1/2)``."""
    return dist.Cauchy(theta, LIKELIHOOD_SCALE).log_prob(obs)


def model(obs: Optional[jax.Array] = None, *, prior: str = "old"):
    """Prior swap: one parameter, a Cauchy likelihood, and the old or the new prior.

    The blog's data are ``obs = OBSERVATION = 0``; ``prior`` is ``"old"`` or ``"new"``.
    """
    if prior == "old":
        theta = numpyro.sample("theta", dist.Normal(0.0, OLD_PRIOR_SCALE))
    elif prior == "new":
        theta = numpyro.sample("theta", dist.Normal(0.0, NEW_PRIOR_SCALE))
        numpyro.factor("new_prior_tilt", _log_tilt(theta))
    else:
        raise ValueError(f"prior={prior!r}: choose 'old' or 'new'.")
    numpyro.sample("obs", dist.Cauchy(theta, LIKELIHOOD_SCALE), obs=obs)


class PriorSwapData(NamedTuple):
    """Exact samples of the old posterior ``p(theta | obs) ∝ pi_old(theta) L(theta)``."""

    samples: dict[str, jax.Array]  # {"theta": (num_samples,)}
    obs: float


@partial(jax.jit, static_argnums=1)
def _proposals(rng_key: jax.Array, batch: int) -> tuple[jax.Array, jax.Array]:
    """``batch`` draws of the old prior and whether rejection sampling accepts each."""
    k_theta, k_accept = jax.random.split(rng_key)
    theta = OLD_PRIOR_SCALE * jax.random.normal(k_theta, (batch,))
    accept = jnp.exp(log_likelihood(theta) - log_likelihood(jnp.zeros(())))
    return theta, jax.random.uniform(k_accept, (batch,)) < accept


def synthetic_prior_swap(rng_key: jax.Array, *, num_samples: int = 10_000) -> PriorSwapData:
    """Old-posterior samples by rejection: ``theta ~ pi_old``, accept w.p. ``1/(1+4 theta^2)``.

    Args:
        rng_key: a JAX PRNG key.
        num_samples: number of posterior samples.

    Returns:
        :class:`PriorSwapData`.
    """
    accepted: list[jax.Array] = []
    count = 0
    batch = 8 * num_samples  # acceptance rate is about 0.2
    while count < num_samples:
        rng_key, key = jax.random.split(rng_key)
        theta, keep = _proposals(key, batch)
        accepted.append(theta[keep])
        count += int(keep.sum())
    theta = jnp.concatenate(accepted)[:num_samples]
    return PriorSwapData(samples={"theta": theta}, obs=OBSERVATION)


MODEL_INFO = ModelSpec(
    name="prior_swap",
    model=model,
    guide=None,
    covariates=(),
    plates={},
    heldout_plate=None,
    split=None,
    paper_elbo=None,
    reference=f"{BLOG}, prior-swap example",
)
