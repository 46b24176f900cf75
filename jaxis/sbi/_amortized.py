"""Amortised importance sampling: a learned ``q(theta | x)`` with the model's exact density.

Draws come from the defensive mixture of the learned proposal and the prior,

    q_a(theta) = (1 - a) q(theta | x_obs) + a p(theta),

and are weighted by the exact joint density of the numpyro model,

    log w_n = log p(x_obs, theta_n) - log q_a(theta_n) - log N.

The prior component bounds the weights, ``w <= p(x_obs | theta) / a``, so the estimator
has finite variance whenever the likelihood is bounded, however poor ``q`` is (Hesterberg
1995). The result is a :class:`jaxis.WeightedSamples`: ``log_evidence()``, ``ess()``,
``pareto_k()`` and ``jaxis.psis`` apply unchanged.

References: Le, Baydin, Wood (2017), *Inference compilation and universal probabilistic
programming*; Hesterberg (1995), *Weighted average importance sampling and defensive
mixture distributions*.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from numpyro import handlers
from numpyro.infer.util import log_density

from ..weighted import WeightedSamples
from ._proposal import Proposal
from ._simulator import simulate, simulator_spec

Array = jax.Array


def amortized_is(
    rng_key: Array,
    model: Callable,
    q: Proposal,
    x_obs: Array,
    K: int,
    *args,
    defensive: float = 0.1,
    **kwargs,
) -> WeightedSamples:
    """``K`` importance samples of the posterior ``p(theta | x_obs)`` drawn from ``q_a``.

    Args:
        rng_key: PRNG key.
        model: the numpyro model ``q`` was trained on; ``*args, **kwargs`` go to it. Every
            latent site of the model must be one of ``q``'s parameter sites (the joint
            density ``p(x_obs, theta)`` is then exact).
        q: a :class:`Proposal` from :func:`train_proposal`.
        x_obs: the observed data, shape ``q.spec.x_shape``.
        K: number of draws.
        defensive: the prior's share ``a`` in ``[0, 1]`` of the proposal mixture (a number,
            or a traced scalar, e.g. to vmap over it).

    Returns:
        :class:`jaxis.WeightedSamples` over ``q``'s parameter sites.

    Example (schematic)::

        ws = amortized_is(key, model, q, x_obs, 10_000)
        ws.log_evidence(), ws.ess(), ws.pareto_k()
    """
    if isinstance(defensive, (int, float)) and not 0.0 <= defensive <= 1.0:
        raise ValueError(f"defensive must be in [0, 1] (the prior's share); got {defensive}.")
    spec = q.spec
    latent = simulator_spec(model, args, kwargs, x_site=spec.x_site).theta_sites
    extra = sorted(set(latent) - set(spec.theta_sites))
    if extra:
        raise ValueError(
            f"model: latent sites {extra} are not parameters of q; amortized_is needs the exact "
            "joint density, so train q on every latent site (theta_sites=None)."
        )
    x_obs = jnp.asarray(x_obs)
    if x_obs.shape != spec.x_shape:
        raise ValueError(f"x_obs must have shape {spec.x_shape}; got {x_obs.shape}.")
    k_mix, k_prior, k_q = jax.random.split(rng_key, 3)
    from_prior = jax.random.bernoulli(k_mix, defensive, (int(K),))
    prior_draws, _ = simulate(k_prior, model, spec, K, args, kwargs)
    q_draws = q.sample(k_q, x_obs, K)
    theta = jax.tree_util.tree_map(
        lambda a, b: jnp.where(from_prior.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
        prior_draws, q_draws)
    conditioned = handlers.condition(model, {spec.x_site: x_obs})

    def joint_and_prior(values):
        log_joint, trace = log_density(conditioned, args, kwargs, values)
        log_prior = sum(jnp.sum(trace[s]["fn"].log_prob(trace[s]["value"]))
                        for s in spec.theta_sites)
        return log_joint, log_prior

    log_joint, log_prior = jax.vmap(joint_and_prior)(theta)
    a = jnp.asarray(defensive, log_joint.dtype)
    log_mix = jnp.logaddexp(jnp.log1p(-a) + q.log_prob(theta, x_obs), jnp.log(a) + log_prior)
    return WeightedSamples.from_log_ratios(theta, log_joint - log_mix)
