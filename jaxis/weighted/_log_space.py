"""Log-space reductions that keep IEEE meaning, and stay NaN-free under ``jax.grad``.

Every weight computation in jaxis goes through these helpers. Their contract: a NaN input
gives a NaN output (never a finite number, never ``-inf``); an all ``-inf`` input (no
sample has any mass) gives ``-inf`` sums with zero gradients; ``+inf`` comes out only where
the sum really is infinite; a quantity that is undefined (``0/0``, ``inf/inf``) is NaN:

    logsumexp(x)     = m + log sum_n exp(x_n - m),   m = max_n x_n  (``-inf`` if all ``-inf``)
    log_normalize(x) = x - logsumexp(x)             (NaN if the total is 0, inf or NaN)
    log_mean_exp_and_ratio(x) = (log mean exp(x), mean exp(2x) / mean(exp x)^2)
    log_density_ratio(log_new, log_old) = log_new - log_old   (NaN where p_old = 0)

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

    Returns ``-inf`` with a zero gradient where nothing has mass, NaN where an entry is NaN.
    """
    x = jnp.asarray(x)
    if where is not None:
        x = jnp.where(where, x, -jnp.inf)
    any_mass = jnp.any(x > -jnp.inf, axis=axis, keepdims=True)
    any_nan = jnp.any(jnp.isnan(x), axis=axis, keepdims=True)
    safe_x = jnp.where(any_mass, x, 0.0)
    out = _jax_logsumexp(safe_x, axis=axis, keepdims=True)
    out = jnp.where(any_nan, jnp.nan, jnp.where(any_mass, out, -jnp.inf))
    return jnp.squeeze(out, axis=axis) if axis is not None else jnp.squeeze(out)


def log_mean_exp_and_ratio(
    x: Array, axis: int, *, where: Optional[Array] = None, count: Optional[Array] = None
) -> tuple[Array, Array]:
    """``log mean exp(x)`` and ``mean exp(2x) / (mean exp(x))^2`` along ``axis``, one pass.

    With ``w = exp(x - max)``: ``log mean = max + log sum w - log n`` and the ratio is
    ``n sum (w / sum w)^2`` (``>= 1``; ``inf`` where there is no mass; NaN where an entry
    is NaN, or ``+inf``). ``count`` overrides ``n`` (e.g. a total that includes draws absent
    from ``x``).
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
    any_nan = jnp.any(jnp.isnan(x), axis=axis, keepdims=True)
    log_mean = jnp.where(any_nan, jnp.nan, log_mean)
    ratio = jnp.where(any_nan | (log_mean == jnp.inf), jnp.nan, ratio)
    return jnp.squeeze(log_mean, axis), jnp.squeeze(ratio, axis)


def log_normalize(x: Array, axis: Optional[int] = None) -> Array:
    """``x - logsumexp(x)``: log self-normalised weights.

    All NaN where the total is undefined as a normaliser: zero (``0/0``), infinite
    (``inf/inf``) or NaN. The maximum is subtracted first (exactly), so float32 keeps full
    relative precision for log weights of any magnitude.
    """
    x = jnp.asarray(x)
    top = jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True, initial=-jnp.inf))
    finite_top = jnp.isfinite(top)
    shifted = x - jnp.where(finite_top, top, 0.0)
    total = logsumexp(shifted, axis=axis)
    total = total if axis is None else jnp.expand_dims(total, axis)
    has_mass = jnp.isfinite(total) & finite_top
    return jnp.where(has_mass, shifted - jnp.where(has_mass, total, 0.0), jnp.nan)


def log_density_ratio(log_new: Array, log_old: Array) -> Array:
    """``log(p_new / p_old)`` in IEEE arithmetic, NaN where ``p_old = 0``.

    ``p_new = 0`` gives ``-inf``; ``p_old = +inf`` gives ``-inf`` (a finite ``p_new``) or
    NaN (``inf / inf``); NaN stays NaN. ``p_old = 0`` is NaN, not ``+inf``: a sample the old
    density calls impossible cannot be reweighted (``jaxis.weighted._checks``).
    """
    impossible = log_old == -jnp.inf
    ratio = log_new - jnp.where(impossible, 0.0, log_old)
    return jnp.where(impossible, jnp.nan, ratio)


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
