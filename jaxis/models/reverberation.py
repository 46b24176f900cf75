r"""Reverberation-mapping radius-luminosity (R-L) hierarchy (the blog's hierarchical example).

Sources ``j`` (plate at dim -1) with log-luminosity ``L_j`` and a measured lag
``obs_j`` (days) with error ``lag_error_j``; population ``Lambda = (alpha, beta, sigma)``::

    alpha ~ Normal(0, 1),  beta ~ Normal(0, 2),  sigma ~ HalfNormal(1)
    log10_lag[j] ~ Normal(alpha (L_j - 44) + beta, sigma)
    obs[j]       ~ Normal(10 ** log10_lag[j], lag_error[j])

Recycling route: each source is first fitted alone under the vague prior
``pi_0(lag) = Uniform(0, 1000 d)``, giving lag samples ``lag_ji``; then the population
likelihood is ``log L(Lambda) = sum_j logmeanexp_i [log pi(lag_ji | Lambda) - log pi_0(lag_ji)]``
(up to a constant) with the R-L prior as a density in days,
``pi(lag | Lambda) = Normal(log10 lag; alpha (L - 44) + beta, sigma) / (lag ln 10)``
(:func:`log_population_prior`, :func:`log_vague_prior`).

The blog gives no prior for ``Lambda`` (it scans ``alpha`` at fixed ``beta, sigma``); the
priors above are our weakly informative choice. The blog's code also has two slips that we
do not copy: its old prior in log-lag is ``ln 10 / (1000 lag)`` (the Jacobian is
``lag ln 10 / 1000``), and its lag "posterior samples" are ``|obs + noise|`` rather than
draws of the posterior under ``pi_0``; :func:`synthetic_reverberation` draws the exact
posterior, ``TruncatedNormal(obs, lag_error; 0, 1000)``.

Example:
    >>> import jax
    >>> data = synthetic_reverberation(jax.random.key(0), num_sources=30, num_samples=1000)
    >>> log_r = log_population_prior(data.lag_samples, data.log_luminosity[:, None],
    ...     alpha=0.44, beta=1.43, sigma=0.25) - log_vague_prior(data.lag_samples)

Reference: McDougall, *The Importance of Importance Sampling* (../shared/papers), section
"A More Realistic Example - Hierarchical Models".
"""
from __future__ import annotations

import math
from functools import partial
from typing import Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._spec import BLOG, ModelSpec

PLATES = {"sources": -1}
PIVOT_LOG_LUMINOSITY = 44.0
MAX_LAG_DAYS = 1000.0


def sample_population() -> tuple[jax.Array, jax.Array, jax.Array]:
    """Sample the R-L parameters ``alpha, beta, sigma`` from their priors (numpyro sites)."""
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 1.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 2.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    return alpha, beta, sigma


def _mean_log10_lag(log_luminosity, alpha, beta):
    return alpha * (log_luminosity - PIVOT_LOG_LUMINOSITY) + beta


def model(log_luminosity: jax.Array, lag_error: jax.Array, obs: Optional[jax.Array] = None):
    """Reverberation mapping: R-L population of lags, each measured with Gaussian error."""
    (num_sources,) = jnp.shape(log_luminosity)
    alpha, beta, sigma = sample_population()
    with numpyro.plate("sources", num_sources, dim=PLATES["sources"]):
        log10_lag = numpyro.sample(
            "log10_lag", dist.Normal(_mean_log10_lag(log_luminosity, alpha, beta), sigma)
        )
        numpyro.sample("obs", dist.Normal(10.0**log10_lag, lag_error), obs=obs)


def log_population_prior(
    lag: jax.Array, log_luminosity: jax.Array, *, alpha, beta, sigma
) -> jax.Array:
    """``log pi(lag | alpha, beta, sigma)``: the R-L log-normal prior as a density in days.

    ``log_luminosity`` must broadcast against ``lag`` (e.g. ``(J, 1)`` against ``(J, S)``).
    """
    mean = _mean_log10_lag(log_luminosity, alpha, beta)
    return dist.Normal(mean, sigma).log_prob(jnp.log10(lag)) - jnp.log(lag * math.log(10.0))


def log_vague_prior(lag: jax.Array) -> jax.Array:
    """``log pi_0(lag)`` of the per-source fits: ``Uniform(0, 1000)`` days."""
    inside = (lag > 0.0) & (lag <= MAX_LAG_DAYS)
    return jnp.where(inside, -math.log(MAX_LAG_DAYS), -jnp.inf)


class ReverberationData(NamedTuple):
    """Mock R-L data: per-source measurements and posterior lag samples under ``pi_0``."""

    log_luminosity: jax.Array  # (J,)
    lag_error: jax.Array  # (J,) days
    lag_obs: jax.Array  # (J,) days, the model's ``obs``
    lag_samples: jax.Array  # (J, S) days, exact draws of p(lag_j | obs_j) under pi_0
    latents: Mapping[str, jax.Array]  # true alpha, beta, sigma, log10_lag


@partial(jax.jit, static_argnames=("num_sources", "num_samples"))
def synthetic_reverberation(
    rng_key: jax.Array,
    *,
    num_sources: int = 30,
    num_samples: int = 1000,
    alpha: float = 0.44,
    beta: float = 1.43,
    sigma: float = 0.25,
) -> ReverberationData:
    """Mock lags as in the blog: ``L ~ U(43, 45)``, errors ``min(30/lag + 0.3, 0.5) lag``.

    Args:
        rng_key: a JAX PRNG key.
        num_sources: number of sources ``J``.
        num_samples: posterior lag samples per source ``S``.
        alpha, beta, sigma: the true R-L slope, offset (log10 days) and scatter (dex).

    Returns:
        :class:`ReverberationData`.
    """
    k_lum, k_lag, k_obs, k_post = jax.random.split(rng_key, 4)
    log_luminosity = jax.random.uniform(k_lum, (num_sources,), minval=43.0, maxval=45.0)
    log10_lag = _mean_log10_lag(log_luminosity, alpha, beta)
    log10_lag = log10_lag + sigma * jax.random.normal(k_lag, (num_sources,))
    lag = 10.0**log10_lag
    lag_error = jnp.minimum(30.0 / lag + 0.3, 0.5) * lag
    lag_obs = lag + lag_error * jax.random.normal(k_obs, (num_sources,))
    posterior = dist.TruncatedNormal(lag_obs, lag_error, low=0.0, high=MAX_LAG_DAYS)
    lag_samples = posterior.sample(k_post, (num_samples,)).T
    truth = {"alpha": alpha, "beta": beta, "sigma": sigma, "log10_lag": log10_lag}
    return ReverberationData(
        log_luminosity=log_luminosity,
        lag_error=lag_error,
        lag_obs=lag_obs,
        lag_samples=lag_samples,
        latents={k: jnp.asarray(v) for k, v in truth.items()},
    )


MODEL_INFO = ModelSpec(
    name="reverberation",
    model=model,
    guide=None,
    covariates=("log_luminosity", "lag_error"),
    plates=PLATES,
    heldout_plate=None,
    split=None,
    paper_elbo=None,
    reference=f"{BLOG}, radius-luminosity hierarchy",
)
