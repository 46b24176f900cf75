"""jit a function of model arguments: arrays are traced, everything else is static.

Model arguments often mix data arrays with Python configuration (sizes, flags, ``None``
observations). Array leaves (and Python floats) become traced arguments; all other leaves
must be hashable and become part of the compilation cache key, so a second call with the
same shapes and configuration does not recompile.

An array leaf the model needs concrete (it computes a size or a Python branch from it) is
found when tracing fails, and from then on kept static, compared by content
(:mod:`jaxis._concrete_args`): the run compiles once per distinct value of that leaf.

Before the first call with a new signature an optional ``guard`` sees the computation
lowered on abstract arguments (e.g. to check its memory); its compilation is shared with
the call.
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any, Callable, Optional

import jax
import numpy as np
from jax.api_util import shaped_abstractify

from ._concrete_args import Concrete, concrete_leaves, is_abstract
from .trace._structure import ConcretizationError

_PASSED = 16  # argument values remembered as checked, per run
_DYNAMIC = (jax.Array, np.ndarray, np.generic, float, complex, jax.ShapeDtypeStruct)


def _is_dynamic(leaf: Any) -> bool:
    return isinstance(leaf, _DYNAMIC) and not isinstance(leaf, bool)


def _struct(x) -> jax.ShapeDtypeStruct:
    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    aval = x.aval if isinstance(x, jax.core.Tracer) else shaped_abstractify(x)
    return jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=aval.weak_type)


def _value(leaf: Any) -> Any:
    return leaf.value if isinstance(leaf, Concrete) else leaf


def filter_jit(
    fn: Callable, precheck: Optional[Callable] = None, guard: Optional[Callable] = None,
    model: Optional[Callable] = None,
) -> Callable:
    """``fn(rng_key, *args, **kwargs)`` jitted over ``rng_key`` and the array leaves.

    ``precheck(args, kwargs)``, if given, runs outside jit whenever the arguments are
    concrete (not traced by an outer transformation), to validate data values, once per
    distinct argument values (array leaves compared by content: a warm call with the same
    data skips it); it is also
    the abstract pass that finds the leaves ``fn`` needs concrete when tracing ``fn``
    raises a ``ConcretizationError`` (``model`` names them in errors).
    ``guard(lowered, rng_key, args, kwargs)``, if given, runs once per signature of the
    traced arguments (also under an outer transformation) with the computation lowered
    on abstract arguments, and those arguments (array leaves as ``ShapeDtypeStruct``); it
    may return another jitted computation of ``(rng_key, static, dynamic)`` (the ``_jitted``
    of another ``filter_jit``) to be called instead for that signature.
    The returned function has ``lower(rng_key, *args, **kwargs)``, which accepts
    ``ShapeDtypeStruct`` leaves.
    """

    @functools.partial(jax.jit, static_argnums=(1,))
    def inner(rng_key, static, dynamic):
        treedef, static_leaves = static
        leaves, dyn = [], iter(dynamic)
        for is_dyn, leaf in static_leaves:
            leaves.append(next(dyn) if is_dyn else _value(leaf))
        args, kwargs = jax.tree_util.tree_unflatten(treedef, leaves)
        return fn(rng_key, *args, **kwargs)

    def split(args, kwargs, concrete=frozenset()):
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        static_leaves = tuple(
            (False, Concrete(l)) if i in concrete
            else (True, None) if _is_dynamic(l) else (False, l)
            for i, l in enumerate(leaves))
        static = (treedef, static_leaves)
        try:
            hash(static)
        except TypeError as e:
            raise TypeError(
                "A model argument is neither an array nor hashable; pass data as arrays "
                f"and configuration as hashable values ({e})."
            ) from None
        return static, [l for i, l in enumerate(leaves) if _is_dynamic(l) and i not in concrete]

    known: dict = {}  # signature -> leaves kept concrete

    def with_concrete(go, args, kwargs):
        """``go(static, dynamic)``, keeping concrete the leaves the model needs concrete."""
        static, dynamic = split(args, kwargs)
        signature = (static, tuple((s.shape, s.dtype) for s in map(_struct, dynamic)))
        leaves = jax.tree_util.tree_leaves((args, kwargs))
        if signature in known and not any(is_abstract(leaves[i]) for i in known[signature]):
            return go(*split(args, kwargs, known[signature]))
        try:
            return go(static, dynamic)
        except ConcretizationError as e:
            if precheck is None:
                raise
            error = e
        needed = concrete_leaves(precheck, args, kwargs, _struct,
                                 [i for i, l in enumerate(leaves) if _is_dynamic(l)], model)
        if not needed:
            raise error  # a sampled value is the cause: the structure pass's message stands
        known[signature] = needed
        return go(*split(args, kwargs, needed))

    def lower(rng_key, *args, **kwargs):
        return with_concrete(
            lambda static, dynamic: inner.lower(_struct(rng_key), static,
                                                [_struct(l) for l in dynamic]),
            args, kwargs)

    checked: dict = {}  # signature -> the guard's replacement computation, or None

    def call(rng_key, static, dynamic):
        if guard is not None:
            structs = [_struct(rng_key)] + [_struct(l) for l in dynamic]
            signature = (static, tuple((s.shape, s.dtype, s.weak_type) for s in structs))
            if signature not in checked:
                treedef, static_leaves = static
                it = iter(structs[1:])
                a, kw = jax.tree_util.tree_unflatten(
                    treedef, [next(it) if d else _value(l) for d, l in static_leaves])
                checked[signature] = guard(inner.lower(structs[0], static, structs[1:]),
                                           structs[0], a, kw)
            if checked[signature] is not None:
                return checked[signature](rng_key, static, dynamic)
        return inner(rng_key, static, dynamic)

    passed: "OrderedDict[tuple, None]" = OrderedDict()  # arguments that passed precheck

    def check(args, kwargs) -> None:
        """``precheck`` once per distinct argument values (compared by content)."""
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        if any(isinstance(l, jax.core.Tracer) for l in leaves):
            return
        try:
            key = (treedef, tuple(Concrete(l) if _is_dynamic(l) else l for l in leaves))
            hash(key)
        except TypeError:  # split() names unhashable configuration
            key = None
        if key is not None and key in passed:
            passed.move_to_end(key)
            return
        precheck(args, kwargs)
        if key is not None:
            passed[key] = None
            while len(passed) > _PASSED:
                passed.popitem(last=False)

    @functools.wraps(fn)
    def wrapped(rng_key, *args, **kwargs):
        if precheck is not None:
            check(args, kwargs)
        return with_concrete(functools.partial(call, rng_key), args, kwargs)

    wrapped._jitted = inner  # exposes _cache_size() for no-recompile checks
    wrapped.lower = lower
    return wrapped
