"""SMC-ABC: population Monte Carlo ABC with adaptive epsilon (Beaumont et al. 2009).

Generation 0 is rejection ABC: of ``m_0`` prior-predictive draws the ``P`` closest form
the population, ``epsilon_0 = d_(P)``, equal weights. Generation ``t >= 1``:

1. ``epsilon_t`` = the ``epsilon_quantile`` quantile of the previous population's distances;
2. ``Sigma = kernel_scale * weighted covariance`` of the previous particles
   (``kernel_scale = 2``: Beaumont et al.'s optimal Gaussian random-walk kernel);
3. propose ``u* = u_j + N(0, Sigma)`` with ``j ~ wbar``, simulate ``x* ~ p(x | T(u*))``,
   in batches, keeping the ``P`` closest proposals so far (a running top-``P``), until the
   ``P``-th closest is within ``epsilon_t`` or the budget is spent; the new population's
   ``epsilon`` is its ``P``-th distance;
4. weight ``w_i = pi_u(u_i) / (m_t sum_j wbar_j N(u_i; u_j, Sigma))``, with ``m_t`` the
   proposals made in the generation, so ``sum_i w_i`` estimates ``P(d <= epsilon)``
   under the prior predictive (``log_evidence()``).

Keeping the ``P`` closest (instead of Beaumont et al.'s first ``P`` within
``epsilon_t``) lets the last generation use the rest of the budget: it ends at a smaller
epsilon than its predecessor or, if not, is dropped and the previous population returned.

**Unconstrained space.** Particles move in ``u``, ``theta = T(u)`` with ``T =
biject_to(support)`` per site, and ``pi_u`` includes ``log |det J_T|``
(``_simulator``): a proposal never leaves the prior's support, nothing is rejected for
it, and the weights stay exact.

**Budget.** Proposals are simulated in batches of ``batch_size``; proposals past the
budget ``num_simulations`` are masked out (computed, never counted or used). A proposal
whose distance or prior density is NaN ranks last (and is counted). The distance is
rejection ABC's (``_abc``; its z-scoring scale comes from the first chunk of generation
0). Everything is one ``lax.while_loop``: the function runs under ``jax.jit`` and
``jax.vmap``; no progress bar.

Reference: Beaumont, Cornuet, Marin, Robert (2009), *Adaptive approximate Bayesian
computation*, Biometrika 96, 983; Sisson, Fan, Tanaka (2007), PNAS 104, 1760.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ..weighted._checks import check_count
from ._abc import (ABCSamples, Distance, check_fraction, empty_best, make_distance,
                   merge_best, simulate_best)
from ._simulator import check_x_obs, prior_predictive, simulate_at, simulator_spec

Array = jax.Array

__all__ = ["smc_abc"]


def _log_kernel_mixture(u_new: Array, u_old: Array, log_wbar: Array, chol: Array) -> Array:
    """``log sum_j wbar_j N(u_new_i; u_old_j, L L^T)`` for every new particle: ``(P,)``."""
    whiten = lambda u: jax.scipy.linalg.solve_triangular(chol, u.T, lower=True).T
    z_new, z_old = whiten(u_new), whiten(u_old)
    maha = (jnp.sum(z_new**2, 1)[:, None] + jnp.sum(z_old**2, 1)[None, :]
            - 2 * z_new @ z_old.T)
    log_norm = jnp.sum(jnp.log(jnp.diag(chol))) + 0.5 * u_new.shape[1] * math.log(2 * math.pi)
    return jax.nn.logsumexp(log_wbar[None, :] - 0.5 * maha, axis=1) - log_norm


def smc_abc(
    rng_key: Array,
    model: Callable,
    x_obs: Array,
    num_simulations: int,
    *,
    num_particles: Optional[int] = None,
    epsilon_quantile: float = 0.2,
    kernel_scale: float = 2.0,
    initial_factor: int = 5,
    batch_size: Optional[int] = None,
    distance: Optional[Distance] = None,
    summary: Optional[Callable[[Array], Array]] = None,
    chunk_size: int = 10_000,
    x_site: Optional[str] = None,
) -> ABCSamples:
    """Population Monte Carlo ABC on a numpyro simulator ``model(x=None)``.

    ``num_particles`` defaults to sbibm's heuristic (100, or 1000 above 10,000
    simulations); generation 0 uses ``initial_factor * num_particles`` simulations (at
    most half the budget, at least ``num_particles``); ``batch_size`` defaults to
    ``num_particles``. See the module docstring for the algorithm; the result's
    ``epsilon`` is the returned population's largest distance.

    Example (not run as a doctest: one SMC compilation costs seconds; a call like it runs
    in ``tests/sbi/test_abc.py``)::

        task = jaxis.sbi.tasks.get("two_moons")
        ws = smc_abc(key, task.model, task.observation(1), 10_000)   # ABCSamples
        ws.samples["theta"].shape, ws.epsilon, ws.num_simulations    # (100, 2), ...
    """
    budget = check_count(num_simulations, "num_simulations")
    if num_particles is None:
        num_particles = 1000 if budget > 10_000 else 100
    num = check_count(num_particles, "num_particles")
    if num > budget:
        raise ValueError(
            f"num_particles={num} exceeds num_simulations={budget}; use num_simulations >= "
            "num_particles (several times more for more than one generation)."
        )
    alpha = check_fraction(epsilon_quantile, "epsilon_quantile")
    if not kernel_scale > 0:
        raise ValueError(f"kernel_scale must be > 0, got {kernel_scale!r}.")
    batch = check_count(batch_size if batch_size is not None else num, "batch_size")
    initial = check_count(initial_factor, "initial_factor") * num
    initial = min(initial, max(budget // 2, num))  # sbibm's first-round size
    chunk_size = check_count(chunk_size, "chunk_size")
    sites = simulator_spec(model, x_site=x_site)
    x_obs = check_x_obs(x_obs, sites)
    run = _smc_runner(model, sites, summary, distance, budget, num, alpha, float(kernel_scale),
                      batch, initial, chunk_size)
    return run(rng_key, x_obs)


@functools.lru_cache(maxsize=32)
def _smc_runner(model, sites, summary, distance, budget, num, alpha, kernel_scale, batch,
                initial, chunk_size):
    """The jitted run, built once per model and static configuration (no recompilation)."""
    return jax.jit(lambda key, x_obs: _populations(
        key, x_obs, model, sites, summary, distance, budget, num, alpha, kernel_scale, batch,
        initial, chunk_size))


def _populations(rng_key, x_obs, model, sites, summary, distance, budget, num, alpha,
                 kernel_scale, batch, initial, chunk_size) -> ABCSamples:
    """Generation 0 by rejection, then PMC generations until the budget is spent."""

    def simulate_prior(key):
        theta, x, u = prior_predictive(key, model, sites)
        return (theta, ravel_pytree(u)[0]), x

    k0, key = jax.random.split(rng_key)
    pilot = lambda x: make_distance(x, x_obs, summary, distance)
    d, (theta, u), distance_fn = simulate_best(k0, simulate_prior, pilot, initial, num,
                                               chunk_size)
    template = jax.eval_shape(lambda k: prior_predictive(k, model, sites)[2], k0)
    zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), template)
    unravel = ravel_pytree(zeros)[1]
    simulate_batch = jax.vmap(lambda k, v: simulate_at(k, model, sites, unravel(v)))
    log_w = jnp.full((num,), -math.log(initial), d.dtype)
    state = (key, u, theta, log_w, d, jnp.max(d), jnp.asarray(initial), jnp.asarray(True))

    def generation(state):
        key, u, theta, log_w, d, eps, used, _ = state
        log_wbar = log_w - jax.nn.logsumexp(log_w)
        eps_target = jnp.quantile(d, alpha)
        wbar = jnp.exp(log_wbar)
        centred = u - wbar @ u
        chol = jnp.linalg.cholesky(kernel_scale * (centred.T * wbar) @ centred)

        def propose(fill):
            key, best, used, made = fill
            key, k_idx, k_noise, k_sim = jax.random.split(key, 4)
            parent = jax.random.categorical(k_idx, log_wbar, shape=(batch,))
            u_new = u[parent] + jax.random.normal(k_noise, (batch, u.shape[1]), u.dtype) @ chol.T
            theta_new, x_new, log_prior = simulate_batch(jax.random.split(k_sim, batch), u_new)
            in_budget = jnp.arange(batch) < budget - used
            best = merge_best(best, (u_new, theta_new, log_prior), distance_fn(x_new),
                              in_budget & ~jnp.isnan(log_prior), num)
            return key, best, used + jnp.minimum(batch, budget - used), made + in_budget.sum()

        keep_going = lambda fill: (fill[1][1][-1] > eps_target) & (fill[2] < budget)
        records = (u, theta, jnp.zeros_like(d))
        start = (key, empty_best(records, num, d.dtype), used, jnp.asarray(0))
        key, (new_d, rank, (new_u, new_theta, log_prior)), used, made = jax.lax.while_loop(
            keep_going, propose, start)
        new_log_w = (log_prior - _log_kernel_mixture(new_u, u, log_wbar, chol)
                     - jnp.log(jnp.maximum(made, 1).astype(d.dtype)))
        improved = rank[-1] < eps  # the P-th closest proposal beats the previous epsilon
        keep = lambda new, old: jnp.where(improved, new, old)
        return (key, keep(new_u, u), jax.tree_util.tree_map(keep, new_theta, theta),
                keep(new_log_w, log_w), keep(new_d, d), keep(rank[-1], eps), used, improved)

    running = lambda state: state[7] & (state[6] < budget)
    _, _, theta, log_w, d, eps, used, _ = jax.lax.while_loop(running, generation, state)
    return ABCSamples(theta, log_w, distances=d, epsilon=eps, num_simulations=used)
