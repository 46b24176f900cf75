"""Rejection ABC: simulate from the prior predictive in chunks, keep the closest quantile.

For ``n = num_simulations`` prior-predictive draws ``(theta_i, x_i)`` and summaries
``s(x)``, the distance to the observation is (default) the Euclidean norm of z-scored
summaries,

    d_i = || (s(x_i) - s(x_obs)) / sigma ||_2,

with ``sigma`` the per-coordinate standard deviation of the summaries of the first chunk
of simulations (a constant coordinate gets ``sigma = 1``). This z-scoring is jaxis's
choice: sbi's ``MCABC`` (used by sbibm) takes the plain L2 distance; pass
``distance=lambda s, s_obs: jnp.linalg.norm(s - s_obs)`` for that. The ``k = floor(q n)``
draws with the smallest ``d_i`` are kept (``epsilon = d_(k)``), each with weight ``1/n``,
so ``log_evidence()`` is ``log(k / n)``, the estimate of ``P(d <= epsilon)`` under the
prior predictive. Given ``d_(k)``, the other ``k - 1`` kept draws are i.i.d. from the ABC
posterior ``p(theta | d(x, x_obs) < d_(k))``.

Memory is bounded: chunks of ``chunk_size`` simulations are ``vmap``-ed inside a
``lax.scan`` that carries only the ``k`` best, merged with ``lax.top_k``. A simulation
with a NaN distance ranks last and keeps its NaN if it is kept. No progress bar: the
whole run is one compiled scan (it runs under ``jax.jit`` and ``jax.vmap``), cached per
model and static configuration, so new keys and observations reuse the compilation.

Reference: Pritchard, Seielstad, Perez-Lezaun, Feldman (1999), *Population growth of
human Y chromosomes*, Mol. Biol. Evol. 16, 1791; Beaumont, Zhang, Balding (2002),
*Approximate Bayesian computation in population genetics*, Genetics 162, 2025.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from ..weighted._checks import check_count
from ..weighted._weighted_samples import WeightedSamples
from ._simulator import SimulatorSpec, check_x_obs, prior_predictive, simulator_spec

Array = jax.Array
Distance = Callable[[Array, Array], Array]

__all__ = ["ABCSamples", "rejection_abc", "make_distance", "simulate_best", "empty_best",
           "merge_best", "check_fraction"]


@jax.tree_util.register_pytree_node_class
class ABCSamples(WeightedSamples):
    """``WeightedSamples`` of an ABC run, with each sample's ``distances``, the final
    threshold ``epsilon`` and the ``num_simulations`` spent."""

    def __init__(self, samples, log_weights, *, distances, epsilon, num_simulations):
        super().__init__(samples, log_weights)
        self.distances = jnp.asarray(distances)
        self.epsilon = jnp.asarray(epsilon)
        self.num_simulations = jnp.asarray(num_simulations)

    def tree_flatten(self):
        children = (self.samples, self.log_weights, self.distances, self.epsilon,
                    self.num_simulations)
        return children, None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        (obj.samples, obj.log_weights, obj.distances, obj.epsilon,
         obj.num_simulations) = children
        return obj


def check_fraction(value: Any, name: str) -> float:
    """``value`` as a Python float in ``(0, 1]``; ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # tracers included
        raise ValueError(
            f"{name} must be a Python float in (0, 1] (it sets static sizes), got {value!r}.")
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must lie in (0, 1], got {value}.")
    return float(value)


def make_distance(pilot_x: Array, x_obs: Array, summary, distance) -> Callable[[Array], Array]:
    """``x (m, ...) -> d (m,)``: the user's ``distance`` on summaries, or by default the
    Euclidean distance of summaries z-scored by the pilot simulations' standard deviation."""
    summarize = jax.vmap(lambda x: jnp.ravel(summary(x) if summary is not None else x))
    s_obs = summarize(x_obs[None])[0]
    if distance is not None:
        return lambda x: jax.vmap(distance, (0, None))(summarize(x), s_obs)
    scale = jnp.std(summarize(pilot_x), axis=0)
    scale = jnp.where(scale == 0, 1.0, scale)  # NaN stays NaN
    return lambda x: jnp.sqrt(jnp.sum(((summarize(x) - s_obs) / scale) ** 2, axis=-1))


def empty_best(records, num_keep: int, dtype) -> tuple:
    """A running top-``num_keep`` with nothing kept yet: distances NaN, ranks ``+inf``,
    records shaped like one chunk's rows, NaN for floating sites (never silently a number)."""

    def placeholder(a):
        fill = jnp.nan if jnp.issubdtype(a.dtype, jnp.inexact) else 0
        return jnp.full((num_keep,) + a.shape[1:], fill, a.dtype)

    return (jnp.full((num_keep,), jnp.nan, dtype), jnp.full((num_keep,), jnp.inf, dtype),
            jax.tree_util.tree_map(placeholder, records))


def merge_best(best, records, d, valid, num_keep):
    """The ``num_keep`` smallest distances of ``best`` and a new chunk, sorted ascending;
    invalid rows and NaN distances rank ``+inf`` (last)."""
    best_d, best_rank, best_records = best
    rank = jnp.where(valid & ~jnp.isnan(d), d, jnp.inf)
    all_rank = jnp.concatenate([best_rank, rank])
    _, idx = jax.lax.top_k(-all_rank, num_keep)
    pick = lambda a, b: jnp.concatenate([a, b])[idx]
    return (pick(best_d, d), all_rank[idx], jax.tree_util.tree_map(pick, best_records, records))


def simulate_best(rng_key, simulate_one, make_distance, num_simulations, num_keep, chunk_size):
    """Simulate ``num_simulations`` draws in chunks; keep the ``num_keep`` closest.

    ``simulate_one(key) -> (record, x)``. Returns ``(distances, records, distance_fn)``
    sorted by distance, with ``distance_fn`` the function built on the first chunk.
    """
    chunk = min(chunk_size, num_simulations)
    num_chunks = -(-num_simulations // chunk)
    keys = jax.random.split(rng_key, num_chunks * chunk)
    keys = keys.reshape((num_chunks, chunk) + keys.shape[1:])
    simulate_chunk = jax.vmap(simulate_one)
    records, x = simulate_chunk(keys[0])
    distance_fn = make_distance(x)
    d = distance_fn(x)
    best = merge_best(empty_best(records, num_keep, d.dtype), records, d,
                      jnp.arange(chunk) < num_simulations, num_keep)

    def step(best, inputs):
        index, chunk_keys = inputs
        records, x = simulate_chunk(chunk_keys)
        valid = index * chunk + jnp.arange(chunk) < num_simulations
        return merge_best(best, records, distance_fn(x), valid, num_keep), None

    rest = (jnp.arange(1, num_chunks), keys[1:])
    best, _ = jax.lax.scan(step, best, rest)
    return best[0], best[2], distance_fn


def rejection_abc(
    rng_key: Array,
    model: Callable,
    x_obs: Array,
    num_simulations: int,
    *,
    quantile: float = 0.01,
    distance: Optional[Distance] = None,
    summary: Optional[Callable[[Array], Array]] = None,
    chunk_size: int = 10_000,
    x_site: Optional[str] = None,
) -> ABCSamples:
    """Rejection ABC on a numpyro simulator (``model()``, data site ``x_site``): the closest
    ``quantile``.

    Keeps the ``floor(quantile * num_simulations)`` prior-predictive draws whose data are
    closest to ``x_obs`` (see the module docstring for the distance), each with weight
    ``1 / num_simulations``. ``distance(s, s_obs) -> scalar`` and ``summary(x) -> vector``
    are optional user functions; the result's ``samples`` hold every latent site.

    Example:
        >>> import jax, math, numpyro, numpyro.distributions as dist
        >>> from jaxis.sbi import rejection_abc
        >>> def model(x=None):
        ...     theta = numpyro.sample("theta", dist.Normal(0.0, 1.0))
        ...     numpyro.sample("x", dist.Normal(theta, 0.5), obs=x)
        >>> ws = rejection_abc(jax.random.PRNGKey(0), model, 1.0, 2000, quantile=0.05)
        >>> ws.samples["theta"].shape, round(float(ws.log_evidence()), 4) == round(math.log(.05), 4)
        ((100,), True)
    """
    num_simulations = check_count(num_simulations, "num_simulations")
    chunk_size = check_count(chunk_size, "chunk_size")
    quantile = check_fraction(quantile, "quantile")
    num_keep = math.floor(quantile * num_simulations + 1e-9)
    if num_keep < 1:
        raise ValueError(
            f"num_simulations={num_simulations} is too small for quantile={quantile}: it keeps "
            f"no simulation; use num_simulations >= {math.ceil(1 / quantile)} or a larger quantile."
        )
    sites = simulator_spec(model, x_site=x_site)
    x_obs = check_x_obs(x_obs, sites)
    run = _rejection_runner(model, sites, summary, distance, num_simulations, num_keep,
                            chunk_size)
    return run(rng_key, x_obs)


@functools.lru_cache(maxsize=32)
def _rejection_runner(model, sites, summary, distance, num_simulations, num_keep, chunk_size):
    """The jitted run, built once per model and static configuration (no recompilation)."""

    def run(key, x_obs):
        simulate_one = lambda k: _theta_and_x(model, sites, k)
        pilot = lambda x: make_distance(x, x_obs, summary, distance)
        d, theta, _ = simulate_best(key, simulate_one, pilot, num_simulations, num_keep,
                                    chunk_size)
        log_w = jnp.full((num_keep,), -math.log(num_simulations), d.dtype)
        return ABCSamples(theta, log_w, distances=d, epsilon=jnp.max(d),
                          num_simulations=num_simulations)

    return jax.jit(run)


def _theta_and_x(model: Callable, sites: SimulatorSpec, key: Array):
    theta, x, _ = prior_predictive(key, model, sites)
    return theta, x
