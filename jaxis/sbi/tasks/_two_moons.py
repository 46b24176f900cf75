"""The two_moons task: a crescent simulator with an exact density and an exact inverse.

Simulator (sbibm): ``theta ~ U([-1, 1]^2)``, ``a ~ U(-pi/2, pi/2)``, ``r ~ N(0.1, 0.01)``,
``p = (r cos a + 0.25, r sin a)`` and

    x = p + (-|z_0|, z_1),   z = R theta,   z_0 = (theta_0 + theta_1) / sqrt 2,
                                            z_1 = (theta_1 - theta_0) / sqrt 2.

**Likelihood.** ``(a, r) -> (u, v) = (r cos a, r sin a)`` is one-to-one from
``(-pi/2, pi/2) x (R \\ {0})`` (``r > 0`` covers ``u > 0``, ``r < 0`` covers ``u < 0``),
with Jacobian ``|r|``. So with ``(u, v) = x - (0.25 - |z_0|, z_1)`` and
``rho = sqrt(u^2 + v^2)``:

    log p(x | theta) = log N(sign(u) rho; 0.1, 0.01) - log pi - log rho.

(sbibm's ``_likelihood`` drops the ``-log pi - log rho`` terms; its reference posterior
uses the simulator, as here.)

**Exact posterior.** Given ``x``, draw ``p`` from the crescent; then
``|z_0| = p_0 - x_0`` (no preimage when ``p_0 < x_0``: rejected), ``z_1 = x_1 - p_1``, a
fair sign for ``z_0``, ``theta = R^T z``; keep ``theta`` inside the prior box. ``theta ->
x`` has unit Jacobian on each half-plane, so the kept draws have density
``∝ p(x | theta) 1[theta in box]``, the posterior (sbibm's sampler, plus the
``p_0 >= x_0`` check).

Reference: Greenberg, Nonnenmacher, Macke (2019), *Automatic posterior transformation
for likelihood-free inference*, ICML; Lueckmann et al. (2021), AISTATS (sbibm).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ._rejection import rejection_fill
from ._task import Task, check_filled, make_task

Array = jax.Array

__all__ = ["TwoMoons", "two_moons"]

R_LOC, R_SCALE, OFFSET = 0.1, 0.01, 0.25


def _crescent(rng_key: Array, shape: tuple) -> Array:
    """Draws of ``p = (r cos a + 0.25, r sin a)``, shape ``shape + (2,)``."""
    key_a, key_r = jax.random.split(rng_key)
    a = jax.random.uniform(key_a, shape, minval=-math.pi / 2, maxval=math.pi / 2)
    r = R_LOC + R_SCALE * jax.random.normal(key_r, shape)
    return jnp.stack([r * jnp.cos(a) + OFFSET, r * jnp.sin(a)], axis=-1)


def _rotate(theta: Array) -> Array:
    """``z = R theta`` (rotation by -pi/4)."""
    s = 1 / math.sqrt(2)
    return jnp.stack([s * (theta[..., 0] + theta[..., 1]),
                      s * (theta[..., 1] - theta[..., 0])], axis=-1)


class TwoMoons(dist.Distribution):
    """``p(x | theta)`` of two_moons: event shape ``(2,)``, batch shape ``theta.shape[:-1]``."""

    arg_constraints = {"theta": constraints.real_vector}
    support = constraints.real_vector

    def __init__(self, theta: Array, *, validate_args=None):
        self.theta = jnp.asarray(theta)
        super().__init__(jnp.shape(self.theta)[:-1], (2,), validate_args=validate_args)

    def _shift(self) -> Array:
        z = _rotate(self.theta)
        return jnp.stack([-jnp.abs(z[..., 0]), z[..., 1]], axis=-1)

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + self.batch_shape
        return _crescent(key, shape) + self._shift()

    def log_prob(self, value):
        p = value - self._shift()
        u, v = p[..., 0] - OFFSET, p[..., 1]
        rho = jnp.hypot(u, v)
        radius = jnp.where(u < 0, -rho, rho)
        return dist.Normal(R_LOC, R_SCALE).log_prob(radius) - math.log(math.pi) - jnp.log(rho)


def _posterior(rng_key: Array, x: Array, num: int) -> Array:
    def propose(key, m):
        key_p, key_sign = jax.random.split(key)
        p = _crescent(key_p, (m,))
        sign = jnp.where(jax.random.bernoulli(key_sign, 0.5, (m,)), 1.0, -1.0)
        z0, z1 = sign * (p[:, 0] - x[0]), x[1] - p[:, 1]
        s = 1 / math.sqrt(2)
        theta = jnp.stack([s * (z0 - z1), s * (z0 + z1)], axis=-1)  # R^T z
        inside = jnp.all(jnp.abs(theta) <= 1.0, axis=-1)
        return theta, inside & (p[:, 0] >= x[0])

    draws, count = rejection_fill(rng_key, propose, num, 2)
    return check_filled(draws, count, "two_moons reference posterior")


def two_moons() -> Task:
    prior = dist.Uniform(-jnp.ones(2), jnp.ones(2)).to_event(1)
    return make_task("two_moons", prior, TwoMoons, _posterior)
