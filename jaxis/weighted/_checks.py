"""Input checks shared by weighted samples and transforms: raise outside jit, flag inside.

Bad input gets a ``ValueError`` that names the argument and the fix, before any large
allocation, but only where the values are concrete. Under ``jax.jit``/``vmap`` the same
trouble is reported as values instead (NaN weights, NaN estimates), because a traced
value cannot be inspected.
"""
from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = ["concrete", "check_count", "check_possible", "where_listed"]


def concrete(*values: Any) -> bool:
    """True when no value is a tracer (so it can be checked on the host)."""
    return not any(isinstance(v, jax.core.Tracer) for v in values)


def where_listed(mask: np.ndarray, most: int = 5) -> str:
    """The first ``most`` indices where ``mask`` holds, as text (tuples for 2-D masks)."""
    hits = np.argwhere(mask)
    shown = [int(h[0]) if len(h) == 1 else tuple(int(i) for i in h) for h in hits[:most]]
    more = f" and {len(hits) - most} more" if len(hits) > most else ""
    return f"{shown}{more}"


def check_count(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as a Python int ``>= minimum`` (a static size); ``ValueError`` otherwise."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        count = operator.index(value)
    except TypeError:
        raise ValueError(
            f"{name} must be an integer >= {minimum} (a number of samples), got {value!r}."
        ) from None
    if count < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {count}.")
    return count


def check_possible(log_old: Array, exists: Array, name: str) -> None:
    """Raise if ``log_old = -inf`` (density 0) where a sample ``exists``; no-op under jit.

    A sample drawn from (or weighted for) a density cannot sit where that density is zero:
    the ratio ``p_new / p_old`` is then undefined, and the result would silently be
    ``+inf`` or NaN. Under jit the transforms return a NaN weight there instead.
    """
    if not concrete(log_old, exists):
        return
    bad = np.asarray(jnp.broadcast_to(log_old == -jnp.inf, jnp.shape(exists)) & exists)
    if bad.any():
        raise ValueError(
            f"{name} is -inf (density 0) at sample(s) {where_listed(bad)}, which carry "
            f"weight: no draw can come from where {name} has no mass. Fix: pass the density "
            "the samples were actually drawn (or weighted) under."
        )
