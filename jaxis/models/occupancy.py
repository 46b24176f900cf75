r"""Multi-species bird occupancy with a discrete presence latent (paper appendix C.4, eqs. 72-73).

Plates (data layout ``(years, birds, ids, replicates)``): years ``m`` at dim -4, birds ``j``
at dim -3, route ids ``i`` at dim -2, replicates ``r`` at dim -1; nesting birds > years >
ids > replicates. ``weather[m, j, i]`` and ``quality[m, j, i]`` are per route visit::

    mu_bird_mean, sigma_bird_mean, mu_quality_weight, sigma_quality_weight,
    mu_weather_weight, sigma_weather_weight                       ~ Normal(0, 1)
    quality_weight[j] ~ Normal(mu_quality_weight, exp(sigma_quality_weight))
    weather_weight[j] ~ Normal(mu_weather_weight, exp(sigma_weather_weight))
    bird_mean[j]      ~ Normal(mu_bird_mean, exp(sigma_bird_mean))
    bird_year_mean[m, j] ~ Normal(bird_mean[j], 1)
    z[m, j, i] ~ Bernoulli(logits = bird_year_mean[m, j] * weather_weight[j] * weather[m, j, i])
    obs[m, j, i, r] ~ Bernoulli(logits = z * quality_weight[j] * quality[m, j, i] + (1 - z) * (-10))

Proposal (eq. 73): ``Normal(0, 1)`` for every continuous latent, and for ``z`` the
*parent-dependent* proposal ``Bernoulli(logits = bird_year_mean * weather_weight * weather)``
evaluated at the proposal's own samples of ``bird_year_mean`` and ``weather_weight``.
``exp(.)`` of a ``sigma_*`` latent is a Normal *scale*, as in the paper's code.

Example:
    >>> import jax.numpy as jnp
    >>> from jaxis.models import site_shapes
    >>> weather = quality = jnp.ones((6, 12, 200))
    >>> shapes = site_shapes(model, dict(weather=weather, quality=quality))
    >>> shapes["bird_year_mean"], shapes["z"], shapes["obs"]
    ((6, 12, 1, 1), (6, 12, 200, 1), (6, 12, 200, 5))

Reference: Bowyer, Heap, Aitchison 2023, appendix C.4; data: USGS North American Breeding
Bird Survey.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._spec import PAPER, ModelSpec, PaperResult

PLATES = {"birds": -3, "years": -4, "ids": -2, "replicates": -1}
FALSE_POSITIVE_LOGIT = -10.0
_HYPER = (
    "mu_bird_mean",
    "sigma_bird_mean",
    "mu_quality_weight",
    "sigma_quality_weight",
    "mu_weather_weight",
    "sigma_weather_weight",
)


def _presence_logits(bird_year_mean, weather_weight, weather):
    """``logits^z`` of eq. 72, with ``weather`` moved to the (years, birds, ids) plate dims."""
    return bird_year_mean * weather_weight * weather[..., None]


def model(
    weather: jax.Array,
    quality: jax.Array,
    obs: Optional[jax.Array] = None,
    *,
    num_replicates: int = 5,
):
    """Bird occupancy: latent presence z, detections with per-species quality weights.

    ``num_replicates`` sets the replicates plate only when ``obs`` is None (prior
    predictive); otherwise it is ``obs.shape[-1]``.
    """
    num_years, num_birds, num_ids = jnp.shape(weather)
    if obs is not None:
        num_replicates = jnp.shape(obs)[-1]
    hyper = {name: numpyro.sample(name, dist.Normal(0.0, 1.0)) for name in _HYPER}
    with numpyro.plate("birds", num_birds, dim=PLATES["birds"]):
        quality_weight = numpyro.sample(
            "quality_weight",
            dist.Normal(hyper["mu_quality_weight"], jnp.exp(hyper["sigma_quality_weight"])),
        )
        weather_weight = numpyro.sample(
            "weather_weight",
            dist.Normal(hyper["mu_weather_weight"], jnp.exp(hyper["sigma_weather_weight"])),
        )
        bird_mean = numpyro.sample(
            "bird_mean", dist.Normal(hyper["mu_bird_mean"], jnp.exp(hyper["sigma_bird_mean"]))
        )
        with numpyro.plate("years", num_years, dim=PLATES["years"]):
            bird_year_mean = numpyro.sample("bird_year_mean", dist.Normal(bird_mean, 1.0))
            with numpyro.plate("ids", num_ids, dim=PLATES["ids"]):
                logits_z = _presence_logits(bird_year_mean, weather_weight, weather)
                z = numpyro.sample("z", dist.Bernoulli(logits=logits_z))
                with numpyro.plate("replicates", num_replicates, dim=PLATES["replicates"]):
                    logits_y = z * quality_weight * quality[..., None] + (
                        1.0 - z
                    ) * FALSE_POSITIVE_LOGIT
                    numpyro.sample("obs", dist.Bernoulli(logits=logits_y), obs=obs)


def guide(
    weather: jax.Array,
    quality: jax.Array,
    obs: Optional[jax.Array] = None,
    *,
    num_replicates: int = 5,
):
    """The paper's proposal (eq. 73): standard normals, and z given the proposal's parents."""
    num_years, num_birds, num_ids = jnp.shape(weather)
    for name in _HYPER:
        numpyro.sample(name, dist.Normal(0.0, 1.0))
    with numpyro.plate("birds", num_birds, dim=PLATES["birds"]):
        numpyro.sample("quality_weight", dist.Normal(0.0, 1.0))
        weather_weight = numpyro.sample("weather_weight", dist.Normal(0.0, 1.0))
        numpyro.sample("bird_mean", dist.Normal(0.0, 1.0))
        with numpyro.plate("years", num_years, dim=PLATES["years"]):
            bird_year_mean = numpyro.sample("bird_year_mean", dist.Normal(0.0, 1.0))
            with numpyro.plate("ids", num_ids, dim=PLATES["ids"]):
                logits_z = _presence_logits(bird_year_mean, weather_weight, weather)
                numpyro.sample("z", dist.Bernoulli(logits=logits_z))


MODEL_INFO = ModelSpec(
    name="occupancy",
    model=model,
    guide=guide,
    covariates=("weather", "quality"),
    plates=PLATES,
    heldout_plate="ids",
    split=(200, 100),
    paper_elbo=PaperResult(K=5, elbo=-63020.0, standard_error=615.0, source=PAPER),
    reference=f"{PAPER}, appendix C.4, eqs. 72-73",
)
