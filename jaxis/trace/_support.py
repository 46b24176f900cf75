"""Does a guide site propose on exactly the support of the model site?

Importance sampling needs the proposal to cover the target, and numpyro's ``log_prob``
does not check its argument's support: a Normal proposal for a HalfNormal latent scores
negative draws as if they were positive, and a Normal proposal for a Poisson latent
scores non-integers. Either gives a finite, plausible and wrong estimate. So a guide
site must have the same support as the model site (up to measure-zero boundaries:
``positive`` and ``nonnegative`` are the same continuous support).

Supports are compared by a normalised signature: the constraint's kind and its bounds.
A bound that is not concrete (it depends on a sampled value, e.g. ``Uniform(0, theta)``)
is not compared.
"""
from __future__ import annotations

from typing import Optional

import jax
import numpy as np
from numpyro.distributions import constraints as C

_UNKNOWN = "?"


def _bound(x) -> object:
    if isinstance(x, jax.core.Tracer):
        return _UNKNOWN
    arr = np.asarray(x, dtype=float)
    return float(arr) if arr.size == 1 else tuple(arr.ravel().tolist())


def signature(c: C.Constraint) -> tuple:
    """A hashable description of a support, e.g. ``("ge", 0.0)`` or ``("integer", 0.0, 2.0)``."""
    while isinstance(c, C._IndependentConstraint):
        c = c.base_constraint
    if c is C.boolean or isinstance(c, C._Boolean):
        return ("integer", 0.0, 1.0)
    if isinstance(c, C._IntegerInterval):
        return ("integer", _bound(c.lower_bound), _bound(c.upper_bound))
    if isinstance(c, C._IntegerGreaterThan):
        return ("integer", _bound(c.lower_bound), float("inf"))
    if isinstance(c, C._Interval):
        return ("interval", _bound(c.lower_bound), _bound(c.upper_bound))
    if isinstance(c, (C._GreaterThan, C._GreaterThanEq)):
        return ("interval", _bound(c.lower_bound), float("inf"))
    if isinstance(c, (C._LessThan, C._LessThanEq)):
        return ("interval", float("-inf"), _bound(c.upper_bound))
    if isinstance(c, C._Real):
        return ("interval", float("-inf"), float("inf"))
    return (type(c).__name__,)


def _same(a: tuple, b: tuple) -> bool:
    if len(a) != len(b) or a[0] != b[0]:
        return False
    return all(x == _UNKNOWN or y == _UNKNOWN or x == y for x, y in zip(a[1:], b[1:]))


def support_mismatch(model_support: C.Constraint, guide_support: C.Constraint) -> Optional[str]:
    """``None`` if the supports agree, else a message fragment naming both."""
    if _same(signature(model_support), signature(guide_support)):
        return None
    return f"the model's support is {model_support} but the guide proposes on {guide_support}"
