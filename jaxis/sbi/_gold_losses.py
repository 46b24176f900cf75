"""Losses that regress on the joint score and joint ratio (the "gold" of :mod:`._gold`).

With samples ``(x_i, z_i)`` drawn at ``theta0`` (label ``y = 0``) or ``theta1`` (``y = 1``),
joint log ratios ``log r_i = log r(x_i, z_i | theta0, theta1)`` and joint scores
``t_i = t(x_i, z_i | theta0)``, and an estimator's ``log r_hat(x_i)``, score ``t_hat(x_i)``:

- **SALLY**: ``mean |t_hat - t|^2``, minimised by ``E[t | x] = grad_theta log p(x | theta0)``.
- **ROLR**: ``mean [ y |r_hat - r|^2 + (1 - y) |1/r_hat - 1/r|^2 ]``, minimised by
  ``r_hat(x) = p(x | theta0) / p(x | theta1)`` (each term's conditional mean).
- **RASCAL**: ROLR ``+ alpha mean[(1 - y) |t_hat - t|^2]`` with ``t_hat = grad_theta0 log
  r_hat`` (the ratio's own score, from a ``theta``-parametrised estimator).
- **SCANDAL**: a density estimator's ``- mean log p_hat(x_i | theta_i) + alpha mean |t_hat -
  t|^2`` with ``t_hat = grad_theta log p_hat``.

All are pure functions of arrays (batch axis first), to use inside a loss for
``jaxis.sbi.fit``.

Reference: Brehmer, Louppe, Pavez, Cranmer (2020), *Mining gold from implicit models to
improve likelihood-free inference*, PNAS 117(10), eqs. 11-16.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def _sq(a: Array, b: Array) -> Array:
    """``|a - b|^2`` summed over everything but the leading batch axis."""
    d = jnp.asarray(a) - jnp.asarray(b)
    return jnp.sum(d.reshape(d.shape[:1] + (-1,)) ** 2, axis=-1)


def sally_loss(score_hat: Array, score: Array) -> Array:
    """SALLY: ``mean_i |t_hat_i - t_i|^2`` (shapes ``(B, ...)``)."""
    return jnp.mean(_sq(score_hat, score))


def rolr_loss(log_r_hat: Array, log_r: Array, y: Array) -> Array:
    """ROLR: ``mean [ y |r_hat - r|^2 + (1 - y) |1/r_hat - 1/r|^2 ]`` (shapes ``(B,)``)."""
    term1 = (jnp.exp(log_r_hat) - jnp.exp(log_r)) ** 2
    term0 = (jnp.exp(-log_r_hat) - jnp.exp(-log_r)) ** 2
    return jnp.mean(y * term1 + (1 - y) * term0)


def rascal_loss(log_r_hat: Array, score_hat: Array, log_r: Array, score: Array, y: Array,
                alpha: float = 1.0) -> Array:
    """RASCAL: ROLR plus ``alpha mean[(1 - y) |t_hat - t|^2]`` (the score at ``theta0``)."""
    return rolr_loss(log_r_hat, log_r, y) + alpha * jnp.mean((1 - y) * _sq(score_hat, score))


def scandal_loss(log_p_hat: Array, score_hat: Array, score: Array, alpha: float = 1.0) -> Array:
    """SCANDAL: ``- mean log p_hat(x_i | theta_i) + alpha mean |t_hat_i - t_i|^2``."""
    return -jnp.mean(log_p_hat) + alpha * jnp.mean(_sq(score_hat, score))
