"""A benchmark task: prior, simulator and exact likelihood as one numpyro model.

Every task is ``theta ~ prior`` (site ``"theta"``, event shape ``(D,)``) followed by
``x ~ p(x | theta)`` (site ``"x"``, event shape ``(D_x,)``), written as the numpyro model

    def model(x=None):
        theta = numpyro.sample("theta", prior)
        return numpyro.sample("x", likelihood(theta), obs=x)

so the same object is a simulator (``model()`` under ``seed``), a joint density
(``numpyro.infer.util.log_density(model, (), {"x": x}, {"theta": theta})``) and a
prior predictive. Observations 1-10 and their true parameters are sbibm's (see
``_observations``); ``reference_posterior`` draws exactly from ``p(theta | x_i)``.

Reference: Lueckmann, Boelts, Greenberg, Goncalves, Macke (2021), *Benchmarking
simulation-based inference*, AISTATS (the sbibm tasks).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from ...weighted._checks import check_count, concrete
from ._observations import OBSERVATIONS, TRUE_PARAMETERS

Array = jax.Array
PosteriorSampler = Callable[[Array, Array, int], Array]

__all__ = ["Task", "make_task", "check_filled"]


def _numpyro_model(prior: dist.Distribution, likelihood: Callable) -> Callable:
    def model(x=None):
        theta = numpyro.sample("theta", prior)
        return numpyro.sample("x", likelihood(theta), obs=x)

    return model


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """An sbibm task as a numpyro model, with observations and an exact posterior sampler.

    Fields: ``name``; ``prior`` (distribution of ``theta``, event shape ``(D,)``);
    ``likelihood`` (``theta (..., D) -> distribution of x``, event shape ``(D_x,)``);
    ``posterior_sampler`` (``(key, x, n) -> (n, D)`` exact posterior draws for any
    ``x``); ``model`` (the numpyro model ``model(x=None)`` with sites ``"theta"`` and
    ``"x"``).

    Example:
        >>> import jax
        >>> from jaxis.sbi import tasks
        >>> task = tasks.get("gaussian_linear")
        >>> task.observation(1).shape, task.reference_posterior(jax.random.PRNGKey(0), 1, 5).shape
        ((10,), (5, 10))
    """

    name: str
    prior: dist.Distribution
    likelihood: Callable[[Array], dist.Distribution]
    posterior_sampler: PosteriorSampler
    model: Callable = dataclasses.field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "model", _numpyro_model(self.prior, self.likelihood))

    @property
    def dim_parameters(self) -> int:
        return self.prior.event_shape[0]

    @property
    def dim_data(self) -> int:
        return OBSERVATIONS[self.name].shape[1]

    def sample_prior(self, rng_key: Array, num_samples: int) -> Array:
        """``num_samples`` prior draws of ``theta``, shape ``(num_samples, D)``."""
        return self.prior.sample(rng_key, (check_count(num_samples, "num_samples"),))

    def simulate(self, rng_key: Array, theta: Array) -> Array:
        """One simulation ``x ~ p(x | theta)`` per row of ``theta`` (``(..., D) -> (..., D_x)``)."""
        return self.likelihood(jnp.asarray(theta)).sample(rng_key)

    def log_likelihood(self, theta: Array, x: Array) -> Array:
        """The exact ``log p(x | theta)``, broadcasting over leading dims."""
        return self.likelihood(jnp.asarray(theta)).log_prob(jnp.asarray(x))

    def _row(self, table: dict, i: int, what: str) -> Array:
        rows = table[self.name]
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 1 <= i <= len(rows):
            raise ValueError(
                f"{what}: the observation number must be an int in 1..{len(rows)} "
                f"(sbibm's numbering), got {i!r}."
            )
        return jnp.asarray(rows[i - 1], dtype=jnp.result_type(float))

    def observation(self, i: int) -> Array:
        """sbibm's observation ``i`` (1..10), shape ``(D_x,)``."""
        return self._row(OBSERVATIONS, i, "observation")

    def true_parameters(self, i: int) -> Array:
        """The parameters that generated observation ``i`` (1..10), shape ``(D,)``."""
        return self._row(TRUE_PARAMETERS, i, "true_parameters")

    def reference_posterior(self, rng_key: Array, i: int, num_samples: int) -> Array:
        """``num_samples`` exact draws from ``p(theta | observation(i))``, ``(num_samples, D)``."""
        num = check_count(num_samples, "num_samples")
        return self.posterior_sampler(rng_key, self.observation(i), num)


def make_task(name: str, prior, likelihood, posterior_sampler) -> Task:
    """A :class:`Task` whose observations are sbibm's for ``name``."""
    if name not in OBSERVATIONS:
        raise ValueError(f"no sbibm observations for task {name!r}.")
    return Task(name, prior, likelihood, posterior_sampler)


def check_filled(draws: Array, count: Array, name: str) -> Array:
    """``draws`` of a rejection sampler that filled ``count`` rows (rest NaN).

    Outside jit, too few accepted draws raise a ``ValueError``; under jit the unfilled
    rows stay NaN.
    """
    if concrete(count) and int(count) < draws.shape[0]:
        raise ValueError(
            f"{name}: the rejection sampler accepted only {int(count)} of "
            f"{draws.shape[0]} draws within its round limit; the observation lies where "
            "the prior has (almost) no posterior mass."
        )
    return draws
