"""Learned proposals in the runner (the paper's Figure 3): train, evaluate, time.

For every method of ``cfg.learning`` and every learning rate, ``num_runs`` runs (one
compiled program per batch of seeds) train the mean-field proposal
(:mod:`._learning_methods`) for ``num_iterations`` steps. The MP methods' training steps
take the runs in turn (``lax.map``), not vmapped: a vmapped batch adds an axis to every
array, and on the K^5 x 420 chimpanzee factor XLA's CPU backend then ran each run's step
2-3x slower than alone (3 runs, K=10, a loaded machine: MP RWS 4.0 s per iteration and
run vmapped, 2.0 s in turn; MP VI 5.5 s against 1.8 s). The global-IS methods stay
vmapped (VI: 0.43 s vmapped, 0.55 s in turn), as do initialisation and evaluation.

At iteration 0 (the initial proposal) and every ``eval_every`` iterations each run
records, with the current proposal ``q``:

- ELBO: ``log P-hat_MP`` at the learning ``K`` (one :func:`jaxis.mpis` run of ``q``), the
  MP bound the paper reports;
- predictive log-likelihood of the held-out data from ``num_posterior_samples`` exact MP
  posterior draws (:mod:`._metrics`, the one-shot rows' estimator).

Wall time: the training steps alone are timed (evaluation excluded), warm, one
``eval_every`` chunk at a time; ``time_per_iteration_s`` is the batch's time per
iteration divided by the runs in the batch (the per-run share). After training, one-shot
MP IS at each ``final_K`` uses the final proposal (ELBO, predictive LL, ESS).

Keys depend only on the seed, the method, the learning rate's position and the run.

Reference: Bowyer, Heap, Aitchison 2023, section 5 (Fig. 3) and appendices C.5, D.1.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._memory import RUNTIME_ALLOWANCE, compiled_peak, resolve_budget
from ..config import Config
from ..learn import qem_guide
from ..models import get_model
from ._data import ExperimentData
from ._learning_methods import LEARNING_LABELS, MP_METHODS, make_learner
from ._metrics import learned_mp_metrics


@dataclass(frozen=True)
class LearningRow:
    """One method at one learning rate, ``num_runs`` runs (first axis of the arrays).

    Attributes:
        method: a key of :data:`LEARNING_LABELS`.
        lr: the learning rate.
        K: samples per latent of the training steps and of the recorded bound.
        iterations: ``(E,)`` the iterations at the evaluation points (0 first).
        elbo: ``(runs, E)`` ``log P-hat_MP`` with the proposal at each evaluation point.
        predictive_ll: ``(runs, E)`` held-out predictive log-likelihood (``None``: none).
        train_time_s: ``(E,)`` training wall time per run up to each evaluation point.
        time_per_iteration_s: warm training time per iteration and run.
        compile_s: trace and compile time of the method (shared by its learning rates).
        runs_per_batch: runs compiled together (one batch).
        final: ``final_K`` -> ``{"elbo", "predictive_ll", "ess"}``, ``(runs,)`` each, of
            one-shot MP IS with the final proposal.
    """

    method: str
    lr: float
    K: int
    iterations: np.ndarray
    elbo: np.ndarray
    predictive_ll: Optional[np.ndarray]
    train_time_s: np.ndarray
    time_per_iteration_s: float
    compile_s: float
    runs_per_batch: int
    final: Mapping[int, Mapping[str, Optional[np.ndarray]]]

    @property
    def label(self) -> str:
        return f"{LEARNING_LABELS[self.method]} lr {self.lr:g}"


@dataclass(frozen=True)
class _Compiled:
    """A method's compiled, vmapped ``init(keys, lr, train) -> (states, params)`` and
    ``chunk(states, train) -> (states, params)`` (``eval_every`` steps), the shared
    ``evaluate(keys, params, train, all)`` at the learning K and at each final K."""

    init: Callable
    chunk: Callable
    evaluate: Callable
    finals: Mapping[int, Callable]
    compile_s: float
    batch: int


def _structure(tree) -> tuple:
    """``(treedef, leaves)`` of the shapes and dtypes of ``tree``: hashable (a cache key)."""
    leaves, treedef = jax.tree_util.tree_flatten(jax.eval_shape(lambda: tree))
    return treedef, tuple(leaves)


@functools.lru_cache(maxsize=16)
def _evaluator(model: str, K: int, num_draws: int, sites: tuple, treedef, leaves):
    """``evaluate`` compiled once per model, K and shapes (every method shares it: the
    proposal is the same guide, its parameters an argument), with its compile time."""
    spec = get_model(model)
    metrics = learned_mp_metrics(spec.model, qem_guide(spec.model), K, num_draws, sites)
    keys, params, train, all_ = jax.tree_util.tree_unflatten(treedef, leaves)
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(metrics, (0, 0, None, None))).lower(
        keys, params, train, all_).compile()
    return compiled, time.perf_counter() - start


def _compile(cfg: Config, data: ExperimentData, method: str, batch: int) -> _Compiled:
    spec, learning = get_model(cfg.model), cfg.learning
    learner = make_learner(method, spec.model, qem_guide(spec.model), learning.K, data.train)

    def with_params(states):
        return states, jax.vmap(learner.params)(states)

    def init(keys, lr, train):
        return with_params(jax.vmap(learner.init, (0, None, None))(keys, lr, train))

    def chunk(states, train):  # MP methods: runs in turn (see the module docstring)
        one = lambda s: jax.lax.fori_loop(0, learning.eval_every,
                                          lambda _, x: learner.step(x, train), s)
        runs = jax.lax.map(one, states) if method in MP_METHODS else jax.vmap(one)(states)
        return with_params(runs)

    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    lr = jnp.asarray(1.0, jnp.result_type(float))
    start = time.perf_counter()
    c_init = jax.jit(init).lower(keys, lr, data.train).compile()
    states, params = jax.eval_shape(init, keys, lr, data.train)
    c_chunk = jax.jit(chunk).lower(states, data.train).compile()
    compile_s = time.perf_counter() - start
    shapes = _structure((keys, params, dict(data.train), data.all))
    fns = {}
    for K in {learning.K, *learning.final_K}:
        fns[K], seconds = _evaluator(cfg.model, K, cfg.num_posterior_samples,
                                     data.scalar_globals, *shapes)
        compile_s += seconds
    return _Compiled(c_init, c_chunk, fns[learning.K],
                     {K: fns[K] for K in learning.final_K}, compile_s, batch)


def _peak(c: _Compiled) -> int:
    fns = (c.init, c.chunk, c.evaluate, *c.finals.values())
    return max(compiled_peak(f) for f in fns) + RUNTIME_ALLOWANCE


def compile_method(cfg: Config, data: ExperimentData, method: str) -> _Compiled:
    """Compile ``method`` for all of ``cfg.num_runs`` in one batch, or for the largest
    batch of runs that fits in memory; ``ValueError`` if not even one run fits."""
    learning = cfg.learning
    compiled, budget = _compile(cfg, data, method, cfg.num_runs), resolve_budget(None)
    need = _peak(compiled)
    if need > budget and cfg.num_runs > 1:
        compiled = _compile(cfg, data, method, max(1, cfg.num_runs * budget // need))
        need = _peak(compiled)
    if need > budget:
        raise ValueError(
            f"learning.K: one run of {LEARNING_LABELS[method]} at K={learning.K} needs about "
            f"{need / 2**30:.2f} GiB, over the memory budget of {budget / 2**30:.2f} GiB. "
            f"Fix: use a smaller learning.K, e.g. --set learning.K={max(1, learning.K // 2)}."
        )
    return compiled


def _stack(parts: list) -> dict:
    return jax.tree_util.tree_map(lambda *v: np.concatenate([np.asarray(x) for x in v]), *parts)


def measure_learning(cfg: Config, data: ExperimentData, method: str, lr: float,
                     keys: jax.Array, compiled: _Compiled,
                     on_chunk: Callable[[], None] = lambda: None) -> LearningRow:
    """Train ``method`` at ``lr`` once per key of ``keys`` (``(num_runs, 2)``)."""
    learning, batch = cfg.learning, compiled.batch
    num_chunks = learning.num_iterations // learning.eval_every
    rate = jnp.asarray(lr, jnp.result_type(float))
    evals, finals, times = [], [], np.zeros(num_chunks)
    for lo in range(0, len(keys), batch):
        run_keys = keys[lo:lo + batch]
        if len(run_keys) < batch:  # the last batch is padded with spare keys (dropped below)
            run_keys = jnp.concatenate([run_keys, keys[: batch - len(run_keys)]])
        k_init, k_eval, k_final = (jax.vmap(lambda k, i=i: jax.random.fold_in(k, i))(run_keys)
                                   for i in range(3))
        states, params = compiled.init(k_init, rate, data.train)
        points = [compiled.evaluate(k_eval, params, data.train, data.all)]
        for c in range(num_chunks):
            start = time.perf_counter()
            states, params = jax.block_until_ready(compiled.chunk(states, data.train))
            times[c] += time.perf_counter() - start
            eval_keys = jax.vmap(lambda k: jax.random.fold_in(k, c + 1))(k_eval)
            points.append(compiled.evaluate(eval_keys, params, data.train, data.all))
            on_chunk()
        keep = min(batch, len(keys) - lo)
        evals.append(jax.tree_util.tree_map(lambda *v: np.stack(v, 1)[:keep], *points))
        finals.append({K: jax.tree_util.tree_map(lambda v: np.asarray(v)[:keep],
                                                 f(k_final, params, data.train, data.all))
                       for K, f in compiled.finals.items()})
    ev, fin = _stack(evals), _stack(finals) if finals[0] else {}
    runs_timed = batch * len(range(0, len(keys), batch))
    per_iteration = times / (learning.eval_every * runs_timed)  # per run, per iteration
    return LearningRow(
        method=method,
        lr=lr,
        K=learning.K,
        iterations=np.arange(num_chunks + 1) * learning.eval_every,
        elbo=ev["elbo"],
        predictive_ll=ev.get("predictive_ll"),
        train_time_s=np.concatenate([[0.0], np.cumsum(per_iteration * learning.eval_every)]),
        time_per_iteration_s=float(per_iteration.mean()),
        compile_s=compiled.compile_s,
        runs_per_batch=batch,
        final={K: {"elbo": v["elbo"], "predictive_ll": v.get("predictive_ll"),
                   "ess": v["ess"]} for K, v in fin.items()},
    )
