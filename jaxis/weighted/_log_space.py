"""Log-space reductions that stay finite, and NaN-free under ``jax.grad``.

Every weight computation in jaxis goes through these helpers, so that an all ``-inf``
input (no sample has any mass) gives ``-inf`` values and zero gradients instead of NaN:

    logsumexp(x)     = m + log sum_n exp(x_n - m),   m = max_n x_n  (``-inf`` if all ``-inf``)
    log_normalize(x) = x - logsumexp(x)             (all ``-inf`` if the total is zero)
    log_mean_exp_and_ratio(x) = (log mean exp(x), mean exp(2x) / mean(exp x)^2)

The ``where=`` masks mark ragged entries (padding) that take no part in a reduction.
``jax.scipy.special.logsumexp`` alone returns the right value for an all ``-inf`` input
but a NaN gradient; the double-``where`` below removes it.

Reference: Blanchard, Higham, Higham (2021), *Accurately computing the log-sum-exp and
softmax functions*, IMA J. Numer. Anal. 41, 2311.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp as _jax_logsumexp

Array = jax.Array

__all__ = [
    "add_log_ratio",
    "logsumexp",
    "log_mean_exp_and_ratio",
    "log_normalize",
    "log1mexp",
    "log_density_ratio",
    "per_sample",
]


def logsumexp(
    x: Array, axis: Optional[int] = None, *, where: Optional[Array] = None
) -> Array:
    """``log sum exp(x)`` over ``axis`` (entries with ``where == False`` skipped).

    Returns ``-inf`` with a zero gradient where nothing has mass.
    """
    x = jnp.asarray(x)
    if where is not None:
        x = jnp.where(where, x, -jnp.inf)
    any_mass = jnp.any(x > -jnp.inf, axis=axis, keepdims=True)
    safe_x = jnp.where(any_mass, x, 0.0)
    out = _jax_logsumexp(safe_x, axis=axis, keepdims=True)
    out = jnp.where(any_mass, out, -jnp.inf)
    return jnp.squeeze(out, axis=axis) if axis is not None else jnp.squeeze(out)


def log_mean_exp_and_ratio(
    x: Array, axis: int, *, where: Optional[Array] = None, count: Optional[Array] = None
) -> tuple[Array, Array]:
    """``log mean exp(x)`` and ``mean exp(2x) / (mean exp(x))^2`` along ``axis``, one pass.

    With ``w = exp(x - max)``: ``log mean = max + log sum w - log n`` and the ratio is
    ``n sum (w / sum w)^2`` (``>= 1``; ``inf`` where there is no mass). ``count`` overrides
    ``n`` (e.g. a total that includes draws absent from ``x``).
    """
    x = jnp.asarray(x)
    if where is not None:
        x = jnp.where(where, x, -jnp.inf)
    top = jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    w = jnp.exp(x - top)
    total = jnp.sum(w, axis=axis, keepdims=True)
    has_mass = total > 0
    safe_total = jnp.where(has_mass, total, 1.0)
    if count is None:
        count = x.shape[axis] if where is None else jnp.sum(where, axis=axis, keepdims=True)
    count = jnp.maximum(jnp.asarray(count, x.dtype), 1.0)
    log_mean = jnp.where(has_mass, top + jnp.log(safe_total) - jnp.log(count), -jnp.inf)
    ratio = count * jnp.sum(jnp.square(w / safe_total), axis=axis, keepdims=True)
    ratio = jnp.where(has_mass, ratio, jnp.inf)
    return jnp.squeeze(log_mean, axis), jnp.squeeze(ratio, axis)


def log_normalize(x: Array, axis: Optional[int] = None) -> Array:
    """``x - logsumexp(x)``: log self-normalised weights; all ``-inf`` if no mass.

    The maximum is subtracted first (exactly), so float32 keeps full relative precision
    for log weights of any magnitude.
    """
    x = jnp.asarray(x)
    top = jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    finite_top = jnp.isfinite(top)
    shifted = x - jnp.where(finite_top, top, 0.0)
    total = logsumexp(shifted, axis=axis)
    total = total if axis is None else jnp.expand_dims(total, axis)
    has_mass = jnp.isfinite(total) & finite_top
    return jnp.where(has_mass, shifted - jnp.where(has_mass, total, 0.0), -jnp.inf)


def add_log_ratio(log_weights: Array, log_ratio: Array) -> Array:
    """``log_weights + log_ratio`` where a zero on either side stays zero (no NaN)."""
    zero = (log_weights == -jnp.inf) | (log_ratio == -jnp.inf)
    total = jnp.where(zero, 0.0, log_weights) + jnp.where(zero, 0.0, log_ratio)
    return jnp.where(zero, -jnp.inf, total)


def log_density_ratio(log_new: Array, log_old: Array) -> Array:
    """``log_new - log_old``: ``-inf`` where ``new = 0``, ``+inf`` where only ``old = 0``."""
    finite_old = jnp.isfinite(log_old)
    ratio = jnp.where(finite_old, log_new - jnp.where(finite_old, log_old, 0.0), jnp.inf)
    return jnp.where(log_new == -jnp.inf, -jnp.inf, ratio)


def log1mexp(x: Array) -> Array:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate near 0 and for large ``-x``.

    Reference: Mächler (2012), *Accurately computing log(1 - exp(-|a|))*.
    """
    x = jnp.minimum(jnp.asarray(x), 0.0)
    near_zero = x > -0.6931471805599453
    safe_near = jnp.where(near_zero, x, -1.0)
    safe_far = jnp.where(near_zero, -1.0, x)
    return jnp.where(
        near_zero, jnp.log(-jnp.expm1(safe_near)), jnp.log1p(-jnp.exp(safe_far))
    )


def per_sample(value, samples, num_samples: int, name: str) -> Array:
    """Evaluate ``value`` per sample: a callable of the samples dict, or an array.

    Raises a ``ValueError`` naming ``name`` unless the result has shape ``(num_samples,)``.
    """
    out = value(samples) if callable(value) else value
    out = jnp.asarray(out)
    if out.shape != (num_samples,):
        kind = "the callable returned" if callable(value) else "got"
        raise ValueError(
            f"{name}: {kind} shape {out.shape}, expected one value per sample, shape "
            f"({num_samples},); reduce any event dims (e.g. sum over parameters) first."
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        out = out.astype(jnp.result_type(float))
    return out
