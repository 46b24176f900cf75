"""The per-run function of each method: one call computes every metric of one run.

``metrics(rng_key, train, all) -> dict`` with

- ``elbo``: ``log`` of the method's evidence estimate (its mean over runs is the ELBO);
- ``means``: posterior means of the scalar global latents;
- ``ess``: MP IS: the mean marginal ESS ``1 / sum_k P(k_i)^2`` over the scalar global
  latents (over every latent if there is none); global IS: Kish's ``(sum w)^2 / sum w^2``;
- ``predictive_ll`` (when there is held-out data):

      log p(y_test | y_train) ≈ logmeanexp_n [log p(y_all | z_n) - log p(y_train | z_n)]

  over ``num_draws`` posterior draws z_n (MP IS: exact draws from the MP posterior; global
  IS: draws resampled by weight).

Every quantity comes from the library's own estimators; nothing is re-derived here.

Reference: Bowyer, Heap, Aitchison 2023, section 5 (Figs. 1 and 2).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from .._mpis import mpis
from ..models import ModelSpec
from ..queries import ess, log_evidence, moments, predictive_log_likelihood
from ..queries import predictive_log_likelihood_from_draws
from ..trace._global_is import global_is

METHOD_LABELS = {"mp_is": "MP IS", "global_is": "global IS"}
"""The methods the runner measures, with their display names."""


def _identity(value: jax.Array) -> jax.Array:
    return value


def learned_mp_metrics(model: Callable, guide: Callable, K: int, num_draws: int,
                       sites: tuple[str, ...]) -> Callable:
    """``metrics(rng_key, params, train, all)`` of one MP IS run with ``K`` samples per
    latent from ``guide`` at its ``numpyro.param`` values ``params`` (``None``: initial)."""

    def metrics(rng_key, params, train, all_):
        k_run, k_pred = jax.random.split(rng_key)
        mpt = mpis(model, guide, K=K, params=params, check_memory=False)(k_run, **train)
        site_ess = ess(mpt)
        ess_sites = sites or tuple(site_ess)
        out = {
            "elbo": log_evidence(mpt),
            "means": moments(mpt, {s: _identity for s in sites}),
            "ess": jnp.mean(jnp.concatenate([jnp.ravel(site_ess[s]) for s in ess_sites])),
        }
        if all_ is not None:
            out["predictive_ll"] = predictive_log_likelihood(
                k_pred, mpt, model, train, all_, num_draws
            )
        return out

    return metrics


def mp_is_metrics(spec: ModelSpec, K: int, num_draws: int, sites: tuple[str, ...]) -> Callable:
    """The metrics of one MP IS run with ``K`` samples per latent (``sites``: scalar globals)
    from the model's proposal (the row is memory-checked as a whole)."""
    metrics = learned_mp_metrics(spec.model, spec.guide, K, num_draws, sites)
    return lambda rng_key, train, all_: metrics(rng_key, None, train, all_)


def global_is_metrics(
    spec: ModelSpec, K: int, num_draws: int, sites: tuple[str, ...]
) -> Callable:
    """The metrics of one global IS run with ``K`` joint samples (``sites``: scalar globals)."""
    run = global_is(spec.model, spec.guide, K=K, check_memory=False)  # the row is checked

    def metrics(rng_key, train, all_):
        k_run, k_draw, k_pred = jax.random.split(rng_key, 3)
        ws = run(k_run, **train)
        out = {
            "elbo": ws.log_evidence(),
            "means": ws.moments({s: _identity for s in sites}),
            "ess": ws.ess(),
        }
        if all_ is not None:
            draws = ws.resample(k_draw, num_draws).samples
            out["predictive_ll"] = predictive_log_likelihood_from_draws(
                k_pred, draws, spec.model, train, all_
            )
        return out

    return metrics


BUILDERS = {"mp_is": mp_is_metrics, "global_is": global_is_metrics}
"""Method name -> ``builder(spec, K, num_draws, sites) -> metrics``."""


def check_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """``methods`` if the runner can run each of them; ``ValueError`` naming the key else.

    The config schema calls this, so a config is valid only if it is runnable.
    """
    unknown = [m for m in methods if m not in BUILDERS]
    if unknown:
        raise ValueError(
            f"methods: the runner measures {', '.join(BUILDERS)}, not {unknown[0]}. "
            "Fix: --set 'methods=[mp_is, global_is]' (the blog's weight transforms are "
            "shown end to end in notebooks/blog_importance_sampling.ipynb)."
        )
    return methods
