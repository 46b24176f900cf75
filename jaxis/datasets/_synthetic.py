"""Synthetic data with the structure of the paper's datasets, drawn from each model's prior.

Each generator draws covariates like the real ones, then one joint draw of the latents and
``obs`` from the model's prior predictive on train + test plates, and splits ``obs`` and
the covariates along the held-out plate. No data file is needed: these feed the built-in
``jaxis run`` demo and CI. The true latents are returned in ``ModelData.latents``.

Covariates:

- chimpanzees: ``condition``, ``prosoc_left`` ~ Bernoulli(1/2) per trial;
- bus breakdown: ``run_type`` and ``bus_company_name`` one-hot, uniform over categories;
- MovieLens: ``x`` ~ Bernoulli(1/10) per (user, film, genre) (the real tag density);
- occupancy: ``weather`` ~ Normal(0, 1) (standardised) and ``quality`` ~ Bernoulli(0.9)
  per (year, route), shared by all bird species as in the survey.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
from numpyro import handlers

from ..models import gaussian_hierarchy, get_model
from ._model_data import ModelData, split_model_data


@partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _joint_draw(
    rng_key: jax.Array,
    name: str,
    covariates_fn: Callable,
    covariate_args: tuple,
    model_kwargs: tuple,
):
    """Covariates, then one prior-predictive trace of model ``name``: one compilation."""
    k_covariates, k_model = jax.random.split(rng_key)
    covariates = covariates_fn(k_covariates, *covariate_args)
    trace = handlers.trace(handlers.seed(get_model(name).model, k_model)).get_trace(
        **covariates, **dict(model_kwargs)
    )
    latents = {
        site: msg["value"]
        for site, msg in trace.items()
        if msg["type"] == "sample" and site != "obs"
    }
    return {**covariates, "obs": trace["obs"]["value"]}, latents


def _prior_predictive(
    rng_key: jax.Array,
    name: str,
    covariates_fn: Callable,
    covariate_args: tuple,
    num_train: int,
    model_kwargs: tuple = (),
) -> ModelData:
    """Draw covariates and a prior-predictive ``obs`` on train+test plates, then split."""
    all_data, latents = _joint_draw(rng_key, name, covariates_fn, covariate_args, model_kwargs)
    return split_model_data(
        name,
        all_data,
        num_train,
        description=f"synthetic {name}: one draw from the model's prior predictive",
        latents=latents,
    )


def _chimpanzee_covariates(rng_key, shape):
    k_cond, k_prosoc = jax.random.split(rng_key)
    return {
        "condition": jax.random.bernoulli(k_cond, 0.5, shape).astype(float),
        "prosoc_left": jax.random.bernoulli(k_prosoc, 0.5, shape).astype(float),
    }


def _bus_covariates(rng_key, shape, num_run_types, num_companies):
    k_run, k_company = jax.random.split(rng_key)
    run_type = jax.random.randint(k_run, shape, 0, num_run_types)
    company = jax.random.randint(k_company, shape, 0, num_companies)
    return {
        "run_type": jax.nn.one_hot(run_type, num_run_types),
        "bus_company_name": jax.nn.one_hot(company, num_companies),
    }


def _movielens_covariates(rng_key, shape):
    return {"x": jax.random.bernoulli(rng_key, 0.1, shape).astype(float)}


def _occupancy_covariates(rng_key, shape):
    num_years, num_birds, num_ids = shape
    k_weather, k_quality = jax.random.split(rng_key)
    per_site = (num_years, 1, num_ids)
    weather = jax.random.normal(k_weather, per_site)
    quality = jax.random.bernoulli(k_quality, 0.9, per_site).astype(float)
    return {
        "weather": jnp.broadcast_to(weather, shape),
        "quality": jnp.broadcast_to(quality, shape),
    }


def synthetic_chimpanzees(
    rng_key: jax.Array,
    *,
    num_actors: int = 7,
    num_blocks: int = 6,
    num_repeats: int = 10,
    num_test_repeats: int = 2,
) -> ModelData:
    """Chimpanzee-structured data (actors > blocks > repeats) from the model's prior."""
    shape = (num_actors, num_blocks, num_repeats + num_test_repeats)
    return _prior_predictive(rng_key, "chimpanzees", _chimpanzee_covariates, (shape,), num_repeats)


def synthetic_bus_breakdown(
    rng_key: jax.Array,
    *,
    num_years: int = 3,
    num_boroughs: int = 3,
    num_ids: int = 30,
    num_test_ids: int = 30,
    num_run_types: int = 5,
    num_companies: int = 50,
) -> ModelData:
    """Bus-delay-structured data (years > boroughs > ids) from the model's prior."""
    shape = (num_years, num_boroughs, num_ids + num_test_ids)
    args = (shape, num_run_types, num_companies)
    return _prior_predictive(rng_key, "bus_breakdown", _bus_covariates, args, num_ids)


def synthetic_movielens(
    rng_key: jax.Array,
    *,
    num_users: int = 300,
    num_films: int = 5,
    num_test_films: int = 5,
    num_features: int = 18,
) -> ModelData:
    """MovieLens-structured data (users > films, 18 genre tags) from the model's prior."""
    shape = (num_users, num_films + num_test_films, num_features)
    return _prior_predictive(rng_key, "movielens", _movielens_covariates, (shape,), num_films)


def synthetic_occupancy(
    rng_key: jax.Array,
    *,
    num_years: int = 6,
    num_birds: int = 12,
    num_ids: int = 200,
    num_test_ids: int = 100,
    num_replicates: int = 5,
) -> ModelData:
    """Occupancy-structured data (years, birds > ids > replicates) from the model's prior."""
    shape = (num_years, num_birds, num_ids + num_test_ids)
    return _prior_predictive(
        rng_key,
        "occupancy",
        _occupancy_covariates,
        (shape,),
        num_ids,
        (("num_replicates", num_replicates),),
    )


def synthetic_gaussian_hierarchy(
    rng_key: jax.Array,
    *,
    num_groups: int = 8,
    num_observations: int = 5,
    num_test_observations: int = 2,
) -> ModelData:
    """Conjugate-hierarchy data (groups > observations) from the model's prior predictive."""
    obs = gaussian_hierarchy.synthetic(
        rng_key, groups=num_groups, observations=num_observations + num_test_observations
    )
    return split_model_data(
        "gaussian_hierarchy",
        {"obs": obs},
        num_observations,
        description="synthetic gaussian_hierarchy: one draw from the model's prior predictive",
    )
