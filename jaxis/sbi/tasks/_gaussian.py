"""The Gaussian sbibm tasks: gaussian_linear, gaussian_linear_uniform, gaussian_mixture.

- **gaussian_linear** (D = 10): ``theta ~ N(0, 0.1 I)``, ``x | theta ~ N(theta, 0.1 I)``.
  sbibm writes these as precision matrices ``inverse(0.1 I)``: 0.1 is the *variance*.
  Posterior (conjugate): ``N(x / 2, 0.05 I)``.
- **gaussian_linear_uniform** (D = 10): ``theta ~ U([-1, 1]^10)``, ``x | theta ~
  N(theta, 0.1 I)``. Posterior: ``N(x, 0.1 I)`` truncated to the box, a product of ten
  independent truncated normals, drawn exactly by inverse-CDF (numpyro's
  ``TruncatedNormal``) instead of sbibm's joint rejection.
- **gaussian_mixture** (D = 2): ``theta ~ U([-10, 10]^2)``, ``x | theta ~
  0.5 N(theta, I) + 0.5 N(theta, 0.01 I)`` (one component index for both coordinates).
  Posterior: ``0.5 N(x, I) + 0.5 N(x, 0.01 I)`` restricted to the box, drawn exactly by
  rejection from the untruncated mixture (as sbibm does).

Reference: Lueckmann et al. (2021), *Benchmarking simulation-based inference*, AISTATS.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from ._rejection import rejection_fill
from ._task import Task, check_filled, make_task

Array = jax.Array

__all__ = ["gaussian_linear", "gaussian_linear_uniform", "gaussian_mixture"]

VARIANCE = 0.1  # sbibm's prior_scale / simulator_scale, used as a variance
MIXTURE_SCALES = (1.0, 0.1)  # standard deviations of the two mixture components


def _linear_likelihood(theta: Array) -> dist.Distribution:
    return dist.Normal(theta, jnp.sqrt(VARIANCE)).to_event(1)


def _box(dim: int, bound: float) -> dist.Distribution:
    return dist.Uniform(-bound * jnp.ones(dim), bound * jnp.ones(dim)).to_event(1)


def _linear_posterior(rng_key: Array, x: Array, num: int) -> Array:
    # precisions add: 1/0.1 + 1/0.1 = 20, so variance 0.05 and mean x/2
    return x / 2 + jnp.sqrt(VARIANCE / 2) * jax.random.normal(rng_key, (num,) + x.shape)


def _linear_uniform_posterior(rng_key: Array, x: Array, num: int) -> Array:
    truncated = dist.TruncatedNormal(x, jnp.sqrt(VARIANCE), low=-1.0, high=1.0)
    return truncated.sample(rng_key, (num,))


def _mixture_likelihood(theta: Array) -> dist.Distribution:
    batch = jnp.shape(theta)[:-1]
    weights = jnp.broadcast_to(jnp.array([0.5, 0.5]), batch + (2,))
    scales = jnp.array(MIXTURE_SCALES)[:, None]
    components = dist.Normal(theta[..., None, :], scales).to_event(1)
    return dist.MixtureSameFamily(dist.Categorical(probs=weights), components)


def _mixture_posterior(rng_key: Array, x: Array, num: int) -> Array:
    def propose(key, m):
        candidates = _mixture_likelihood(x).sample(key, (m,))  # symmetric in (x, theta)
        return candidates, jnp.all(jnp.abs(candidates) <= 10.0, axis=-1)

    draws, count = rejection_fill(rng_key, propose, num, x.shape[-1])
    return check_filled(draws, count, "gaussian_mixture reference posterior")


def gaussian_linear() -> Task:
    prior = dist.Normal(jnp.zeros(10), jnp.sqrt(VARIANCE)).to_event(1)
    return make_task("gaussian_linear", prior, _linear_likelihood, _linear_posterior)


def gaussian_linear_uniform() -> Task:
    return make_task("gaussian_linear_uniform", _box(10, 1.0), _linear_likelihood,
                     _linear_uniform_posterior)


def gaussian_mixture() -> Task:
    return make_task("gaussian_mixture", _box(2, 10.0), _mixture_likelihood, _mixture_posterior)
