"""jit a function of model arguments: arrays are traced, everything else is static.

Model arguments often mix data arrays with Python configuration (sizes, flags, ``None``
observations). Array leaves (and Python floats) become traced arguments; all other leaves
must be hashable and become part of the compilation cache key, so a second call with the
same shapes and configuration does not recompile.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import jax
import numpy as np

_DYNAMIC = (jax.Array, np.ndarray, np.generic, float, complex)


def _is_dynamic(leaf: Any) -> bool:
    return isinstance(leaf, _DYNAMIC) and not isinstance(leaf, bool)


def filter_jit(fn: Callable, precheck: Optional[Callable] = None) -> Callable:
    """``fn(rng_key, *args, **kwargs)`` jitted over ``rng_key`` and the array leaves.

    ``precheck(args, kwargs)``, if given, runs outside jit whenever the arguments are
    concrete (not traced by an outer transformation), to validate data values.
    """

    @functools.partial(jax.jit, static_argnums=(1,))
    def inner(rng_key, static, dynamic):
        treedef, static_leaves = static
        leaves, dyn = [], iter(dynamic)
        for is_dyn, leaf in static_leaves:
            leaves.append(next(dyn) if is_dyn else leaf)
        args, kwargs = jax.tree_util.tree_unflatten(treedef, leaves)
        return fn(rng_key, *args, **kwargs)

    @functools.wraps(fn)
    def wrapped(rng_key, *args, **kwargs):
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        static_leaves = tuple((True, None) if _is_dynamic(l) else (False, l) for l in leaves)
        dynamic = [l for l in leaves if _is_dynamic(l)]
        if precheck is not None and not any(isinstance(l, jax.core.Tracer) for l in dynamic):
            precheck(args, kwargs)
        static = (treedef, static_leaves)
        try:
            hash(static)
        except TypeError as e:
            raise TypeError(
                "A model argument is neither an array nor hashable; pass data as arrays "
                f"and configuration as hashable values ({e})."
            ) from None
        return inner(rng_key, static, dynamic)

    wrapped._jitted = inner  # exposes _cache_size() for no-recompile checks
    return wrapped
