"""Model arguments the model needs concrete: found on demand, then kept static.

``filter_jit`` traces the array leaves of the model's arguments, so new data of the same
shape do not recompile. A model that computes a Python value from its data
(``n = int(np.max(labels)) + 1``, ``N = int(data.sum())``) cannot be traced that way; under
numpyro's MCMC such numpy arrays are concrete and the model works. When the abstract
structure pass fails with a :class:`~jaxis.trace._structure.ConcretizationError`,
:func:`concrete_leaves` finds the leaves responsible by re-running that pass with a subset
of the leaves concrete. Those leaves then become static (:class:`Concrete`, compared by
content), so the run compiles with them concrete, once per distinct value.

A leaf that is itself traced (a jax array under the caller's ``jax.jit`` or ``jax.vmap``)
cannot be made concrete: the error names the argument and the fix. If the pass fails even
with every leaf concrete, a sampled value is the cause and the pass's own error stands.
"""
from __future__ import annotations

import hashlib
import inspect
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np

from .trace._structure import ConcretizationError


class Concrete:
    """A model-argument leaf kept static: hashed and compared by shape, dtype and bytes."""

    def __init__(self, value: Any):
        self.value = value
        arr = np.asarray(value)
        digest = hashlib.sha1(np.ascontiguousarray(arr).tobytes()).hexdigest()
        self._key = (type(value).__name__, arr.shape, arr.dtype.str, digest)

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Concrete) and self._key == other._key

    def __repr__(self) -> str:
        return f"Concrete(shape={self._key[1]}, dtype={self._key[2]})"


def is_abstract(leaf: Any) -> bool:
    return isinstance(leaf, (jax.core.Tracer, jax.ShapeDtypeStruct))


def _stand_in(leaf: Any) -> Any:
    """A concrete value for ``leaf``: itself, or zeros of its shape if it is abstract."""
    if not is_abstract(leaf):
        return leaf
    try:
        return np.zeros(leaf.shape, leaf.dtype)
    except TypeError:  # e.g. a PRNG key dtype: leave it abstract
        return leaf


def concrete_leaves(
    precheck: Callable[[tuple, dict], Any], args: tuple, kwargs: dict,
    struct: Callable[[Any], jax.ShapeDtypeStruct], dynamic: Sequence[int],
    model: Optional[Callable] = None,
) -> Optional[frozenset]:
    """The leaves (flat indices among ``dynamic``) that must be concrete for ``precheck``.

    ``precheck(args, kwargs)`` is the abstract structure pass; it is run under
    ``jax.eval_shape`` with the leaves outside a candidate set abstract. Returns ``None``
    if it fails even with every leaf concrete (a sampled value is the cause).

    Raises:
        ValueError: a leaf that must be concrete is traced; the message names it.
    """
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))

    def passes(concrete: set) -> bool:
        abstract = [i for i in dynamic if i not in concrete]

        def probe(values):
            filled = list(leaves)
            for i in concrete:
                filled[i] = _stand_in(leaves[i])
            for i, v in zip(abstract, values):
                filled[i] = v
            a, kw = jax.tree_util.tree_unflatten(treedef, filled)
            precheck(a, kw)
            return 0

        try:
            jax.eval_shape(probe, [struct(leaves[i]) for i in abstract])
        except ConcretizationError:
            return False
        except Exception:  # not a concreteness problem (e.g. a stand-in's zeros): the
            return True    # run itself reports it
        return True

    needed = set(dynamic)
    if not passes(needed):
        return None
    for i in dynamic:
        if passes(needed - {i}):
            needed.discard(i)
    traced = [i for i in sorted(needed) if is_abstract(leaves[i])]
    if traced:
        raise ValueError(
            f"Model {describe_leaf(args, kwargs, traced[0], model)} must be concrete: the "
            "model computes a Python value from it (a size, int(...), a Python `if`), but "
            "here it is a traced JAX value (an argument of an enclosing jax.jit, jax.vmap or "
            "jax.grad). Pass it as a numpy array from outside the transformation (jaxis keeps "
            "such data concrete, as numpyro's MCMC does), or compute that value outside the "
            "model and pass it as an int argument."
        )
    return frozenset(needed)


def _parameters(model: Optional[Callable]) -> list[inspect.Parameter]:
    while not inspect.isfunction(model) and callable(getattr(model, "fn", None)):
        model = model.fn  # numpyro handlers wrap the model
    try:
        return list(inspect.signature(model).parameters.values())
    except (TypeError, ValueError):
        return []


def describe_leaf(args: tuple, kwargs: dict, index: int, model: Optional[Callable]) -> str:
    """``argument 0 ('labels')``, ``keyword argument 'labels'``, with a path into a pytree."""
    path, _ = jax.tree_util.tree_flatten_with_path((args, kwargs))[0][index]
    rest = jax.tree_util.keystr(tuple(path[2:]))
    inner = f", element {rest}" if rest else ""
    if path[0].idx == 1:
        return f"keyword argument {path[1].key!r}{inner}"
    pos = path[1].idx
    params = _parameters(model)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if pos < len(positional):
        name = f" ({positional[pos].name!r})"
    elif any(p.kind == p.VAR_POSITIONAL for p in params):
        star = next(p for p in params if p.kind == p.VAR_POSITIONAL)
        name = f" (*{star.name}[{pos - len(positional)}])"
    else:
        name = ""
    return f"argument {pos}{name}{inner}"
