"""Built runs are cached per model function, so building twice does not recompile.

``jaxis.mpis(model, K=20)`` inside a loop over datasets or hyper-parameters builds a new
jitted run every time; each would compile afresh (seconds). Like ``jax.jit``, which caches
on the function's identity, a builder returns the run it built before for the same model
function and the same options, so its compilations (and its memory check) are reused.
The cache keeps the most recent ``MAX_RUNS`` builds (a run holds its model and its
compiled executables, so the cache is bounded rather than unbounded).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

MAX_RUNS = 32
_RUNS: "OrderedDict[tuple, Callable]" = OrderedDict()


def cached_build(model: Callable, options: tuple, build: Callable[[], Callable]) -> Callable:
    """``build()``, or the run it returned before for this ``model`` and ``options``.

    ``options`` (the guide, K and the builder's settings) and the model must be hashable;
    otherwise the run is built afresh.
    """
    key = (model,) + tuple(options)
    try:
        hash(key)
    except TypeError:
        return build()
    if key in _RUNS:
        _RUNS.move_to_end(key)
        return _RUNS[key]
    run = _RUNS[key] = build()
    while len(_RUNS) > MAX_RUNS:
        _RUNS.popitem(last=False)
    return run
