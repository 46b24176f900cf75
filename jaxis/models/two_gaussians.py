r"""Two Gaussian modes under a uniform prior, explored by nested sampling (the blog's last example).

Two parameters ``theta = (x, y)``::

    prior       theta ~ Uniform(-10, 10)^2
    likelihood  L(theta) = exp(-(x - 2)^2 - y^2) + exp(-(x + 2)^2 - y^2)
    evidence    Z = (2 pi) / 400          (the tails beyond the box are below e^-60)
    target      Normal(theta; (0, 2), I)  (the new distribution the nested samples are
                                           reweighted to, off both modes)

:func:`synthetic_nested_samples` runs an exact nested sampler for this likelihood (a
constant number of live points; each replacement is a rejection draw from the prior above
the current likelihood threshold), then appends the final live points in increasing
likelihood. Point ``i`` comes with the number of live points ``n_i`` when it died
(``n_live`` during the run, then ``n_live, ..., 1``) and its expected log prior mass
``log X_i = -sum_{k <= i} 1 / n_k`` (Skilling 2006), the inputs of
``jaxis.transforms.from_nested``. The evidence is ``Z ≈ sum_i L_i (X_{i-1} - X_i)``.

The blog normalises its 2-D target with ``-log(2 pi) / 2``; the 2-D normal needs ``-log(2 pi)``,
which :func:`log_target` uses.

Example:
    >>> import jax
    >>> ns = synthetic_nested_samples(jax.random.key(0), num_live=200, num_iterations=2000)
    >>> ns.samples["theta"].shape, ns.log_likelihood.shape, ns.log_volume.shape
    ((2200, 2), (2200,), (2200,))

Reference: McDougall, *The Importance of Importance Sampling* (../shared/papers), section
"Why You Should Never Subsample your Nested Samples"; Skilling 2006, *Nested sampling for
general Bayesian computation*.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._spec import BLOG, ModelSpec

BOX = 10.0
MODE_OFFSET = 2.0
TARGET_MEAN = (0.0, 2.0)
LOG_EVIDENCE = math.log(2.0 * math.pi / (2.0 * BOX) ** 2)
"""``log Z`` of the likelihood under the uniform prior."""


def log_likelihood(theta: jax.Array) -> jax.Array:
    """``log L(theta)`` for ``theta`` of shape ``(..., 2)``."""
    x, y = theta[..., 0], theta[..., 1]
    return jnp.logaddexp(-((x - MODE_OFFSET) ** 2), -((x + MODE_OFFSET) ** 2)) - y**2


def log_prior(theta: jax.Array) -> jax.Array:
    """``log Uniform(theta; -10, 10)^2``."""
    return _prior().log_prob(theta)


def log_target(theta: jax.Array) -> jax.Array:
    """``log Normal(theta; (0, 2), I)``, the blog's reweighting target."""
    return dist.Normal(jnp.asarray(TARGET_MEAN), 1.0).to_event(1).log_prob(theta)


def _prior() -> dist.Distribution:
    return dist.Uniform(-BOX, BOX).expand([2]).to_event(1)


def model():
    """Two Gaussian modes: uniform prior on a box, bimodal likelihood as a factor ``obs``."""
    theta = numpyro.sample("theta", _prior())
    numpyro.factor("obs", log_likelihood(theta))


class NestedRun(NamedTuple):
    """Dead points of a nested-sampling run (then the final live points), likelihood rising."""

    samples: dict[str, jax.Array]  # {"theta": (N, 2)}
    log_likelihood: jax.Array  # (N,)
    log_volume: jax.Array  # (N,) expected log prior mass log X_i inside each point's contour
    num_live: jax.Array  # (N,) live points when each point died


def _draw_above(rng_key, log_l_min, batch: int):
    """One prior draw with ``log L > log_l_min``: rejection in batches of ``batch``."""

    def body(state):
        key, _, _ = state
        key, sub = jax.random.split(key)
        candidates = jax.random.uniform(sub, (batch, 2), minval=-BOX, maxval=BOX)
        ok = log_likelihood(candidates) > log_l_min
        first = jnp.argmax(ok)
        return key, candidates[first], ok[first]

    init = (rng_key, jnp.zeros(2), jnp.asarray(False))
    _, point, _ = jax.lax.while_loop(lambda s: ~s[2], body, init)
    return point


def synthetic_nested_samples(
    rng_key: jax.Array, *, num_live: int = 500, num_iterations: int = 5000, batch: int = 1024
) -> NestedRun:
    """An exact nested-sampling run on the two-Gaussian likelihood.

    Args:
        rng_key: a JAX PRNG key.
        num_live: live points ``n_live``.
        num_iterations: replacements before the final live points are appended; the run
            reaches ``log X = -num_iterations / num_live`` (10 by default; the posterior
            bulk sits near ``log X = -4``).
        batch: rejection candidates drawn at once.

    Returns:
        :class:`NestedRun` with ``num_iterations + num_live`` points.
    """
    k_init, k_run = jax.random.split(rng_key)
    live = jax.random.uniform(k_init, (num_live, 2), minval=-BOX, maxval=BOX)

    def step(live, key):
        log_l = log_likelihood(live)
        worst = jnp.argmin(log_l)
        new = _draw_above(key, log_l[worst], batch)
        return live.at[worst].set(new), (live[worst], log_l[worst])

    keys = jax.random.split(k_run, num_iterations)
    live, (dead, dead_log_l) = jax.lax.scan(step, live, keys)
    order = jnp.argsort(log_likelihood(live))
    samples = jnp.concatenate([dead, live[order]])
    log_l = jnp.concatenate([dead_log_l, log_likelihood(live)[order]])
    num_alive = jnp.concatenate(
        [jnp.full(num_iterations, num_live), jnp.arange(num_live, 0, -1)]
    )
    log_x = -jnp.cumsum(1.0 / num_alive)
    return NestedRun({"theta": samples}, log_l, log_x, num_alive)


MODEL_INFO = ModelSpec(
    name="two_gaussians",
    model=model,
    guide=None,
    covariates=(),
    plates={},
    heldout_plate=None,
    split=None,
    paper_elbo=None,
    reference=f"{BLOG}, two-Gaussian nested-sampling example",
)
