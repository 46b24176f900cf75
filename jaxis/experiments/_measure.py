"""One row of an experiment: a method at one K, compiled once, run ``num_runs`` times.

Each run is one call of the method's jitted metrics function (:mod:`._metrics`) of
``(rng_key, train, all)``. Every row is traced and compiled first (:func:`check_row`: bad
input and a K too large for memory fail there, before any run), then timed on its own;
each run's wall time is warm. The memory check reads XLA's own estimate of the compiled
run (arguments, outputs and temporaries) and compares it with 80% of the memory available,
so it covers every method (global IS holds all K joint draws at once). Traced and compiled functions are cached per
process, model, method, K and data shapes, so repeated experiments do not recompile.
"""
from __future__ import annotations

import functools
import resource
import sys
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import jax
import numpy as np

from .._memory import (
    RUNTIME_ALLOWANCE,
    compiled_peak,
    largest_fitting,
    over_budget_message,
    resolve_budget,
)
from ..models import get_model
from ._data import ExperimentData
from ._metrics import BUILDERS, METHOD_LABELS


@dataclass(frozen=True)
class Row:
    """Per-run results of one method at one K (arrays have one entry per run).

    Attributes:
        method: ``"mp_is"`` or ``"global_is"``.
        K: samples per latent (MP IS) or joint samples (global IS).
        elbo: ``log`` of the evidence estimate of each run.
        predictive_ll: held-out predictive log-likelihood (``None``: no held-out data).
        posterior_means: scalar global latent -> its posterior mean in each run.
        ess: effective sample size of each run (see :mod:`._metrics`).
        time_s: warm wall time of each run, in seconds.
        compile_s: time to trace and compile the run's function (once per process and
            shapes).
        peak_rss_mb: the process's peak resident memory during the row, in MiB (on
            Linux the high-water mark is reset before each row; elsewhere it is the
            process peak so far).
    """

    method: str
    K: int
    elbo: np.ndarray
    predictive_ll: Optional[np.ndarray]
    posterior_means: Mapping[str, np.ndarray]
    ess: np.ndarray
    time_s: np.ndarray
    compile_s: float
    peak_rss_mb: float

    @property
    def label(self) -> str:
        return METHOD_LABELS[self.method]


def mean_se(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error ``sd / sqrt(n)`` (NaN with a single value)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float("nan")
    with np.errstate(invalid="ignore"):  # -inf runs give a NaN spread
        return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def _signature(arrays: Optional[Mapping[str, jax.Array]]):
    if arrays is None:
        return None
    return tuple((k, tuple(v.shape), str(v.dtype)) for k, v in sorted(arrays.items()))


def _structs(signature):
    if signature is None:
        return None
    return {k: jax.ShapeDtypeStruct(shape, dtype) for k, shape, dtype in signature}


def _row_key(method: str, K: int, model: str, data: ExperimentData, num_draws: int):
    """Everything that fixes a row's compiled function (hashable)."""
    key = jax.random.PRNGKey(0)
    return (method, model, K, num_draws, data.scalar_globals,
            jax.ShapeDtypeStruct(key.shape, key.dtype),
            _signature(data.train), _signature(data.all))


@functools.lru_cache(maxsize=64)
def _lowered(method, model, K, num_draws, sites, key_struct, train_sig, all_sig):
    """The traced run function and the time it took; bad input and too large a K (the
    memory guard) raise here, before anything is compiled or run."""
    fn = BUILDERS[method](get_model(model), K, num_draws, sites)
    start = time.perf_counter()
    lowered = jax.jit(fn).lower(key_struct, _structs(train_sig), _structs(all_sig))
    return lowered, time.perf_counter() - start


@functools.lru_cache(maxsize=64)
def _compiled(*row_key):
    """The compiled run function and its trace + compile time; once per process and shapes."""
    lowered, trace_s = _lowered(*row_key)
    start = time.perf_counter()
    return lowered.compile(), trace_s + time.perf_counter() - start


def _row_peak(*row_key) -> int:
    """Peak bytes of one run of a row, from XLA's buffer assignment (see ``jaxis._memory``)."""
    return compiled_peak(_compiled(*row_key)[0]) + RUNTIME_ALLOWANCE


def _check_fits(method: str, K: int, model: str, data: ExperimentData, num_draws: int) -> None:
    """``ValueError`` naming the config key and the largest K that fits, if one run of the
    row needs more than 80% of the memory available now."""
    need = _row_peak(*_row_key(method, K, model, data, num_draws))
    budget = resolve_budget(None)
    if need > budget:
        key = "K" if method == "mp_is" else "global_is_K"
        at = lambda k: _row_peak(*_row_key(method, k, model, data, num_draws))
        fits = largest_fitting(at, K, need, budget)
        raise ValueError(f"{key}: " + over_budget_message(METHOD_LABELS[method], K, need,
                                                          budget, fits)
                         + f" Fix: use smaller {key} values, e.g. --set '{key}=[{fits}]'.")


def check_row(
    method: str, K: int, model: str, data: ExperimentData, *, num_posterior_samples: int
) -> None:
    """Trace and compile ``method`` at ``K`` without running it: raises ``ValueError`` for
    bad input or a row too large for memory (the compiled function is kept for
    :func:`measure_row`)."""
    _check_fits(method, K, model, data, num_posterior_samples)


def _reset_peak_rss() -> None:
    """Reset the kernel's resident-memory high-water mark (Linux; a no-op elsewhere)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (``ru_maxrss``: KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def measure_row(
    method: str,
    K: int,
    model: str,
    data: ExperimentData,
    keys: jax.Array,
    *,
    num_posterior_samples: int,
    on_run: Callable[[], None] = lambda: None,
) -> Row:
    """Compile ``method`` at ``K`` for ``model`` and run it once per key in ``keys``.

    Args:
        method: a key of :data:`METHOD_LABELS`.
        K: samples per latent (MP IS) or joint samples (global IS).
        model: the model's name in :data:`jaxis.models.REGISTRY`.
        data: the experiment's data.
        keys: ``(num_runs, 2)`` PRNG keys, one per run.
        num_posterior_samples: draws for the predictive log-likelihood.
        on_run: called after each run (e.g. to advance a progress bar).
    """
    _reset_peak_rss()
    compiled, compile_s = _compiled(*_row_key(method, K, model, data, num_posterior_samples))
    outputs, times = [], []
    for key in keys:
        start = time.perf_counter()
        outputs.append(jax.block_until_ready(compiled(key, dict(data.train), data.all)))
        times.append(time.perf_counter() - start)
        on_run()
    stacked = jax.tree_util.tree_map(lambda *v: np.stack([np.asarray(x) for x in v]), *outputs)
    return Row(
        method=method,
        K=K,
        elbo=stacked["elbo"],
        predictive_ll=stacked.get("predictive_ll"),
        posterior_means=dict(stacked["means"]),
        ess=stacked["ess"],
        time_s=np.asarray(times),
        compile_s=compile_s,
        peak_rss_mb=_peak_rss_mb(),
    )
