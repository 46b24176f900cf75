"""``log_z``: the log of the MP marginal-likelihood estimate, by plated contraction.

    log P_MP(J) = log sum_k prod_f exp(F_f(k) + S(k; J))

computed in log space: at each step, each operand is shifted by its own maximum over the
index being summed (under ``stop_gradient``), the shifted exponentials are contracted by
one einsum (its pairwise order planned once per static shapes by opt_einsum), and the shifts
are added back (:mod:`jaxis.contract._step`). Every exp-space product runs at
``precision=HIGHEST`` (``_step.PRECISION``): the
TF32/bf16 matmul defaults of GPUs and TPUs keep ~10 mantissa bits, which corrupts log Z
well beyond its Monte Carlo error; on CPU it is the default anyway.
Every query (moments, marginals, joint marginals, samples) is a derivative of this one
function with respect to source terms ``S``.

Exactness in float32: when the operands peak at different values of the summed index, the
product of their shifted exponentials can underflow although the sum is representable
(factors 100 nats apart, say). Each contraction output ``s`` is a sum of at most K
products of numbers <= 1, so its underflow loss is below ``t = K * tiny / eps``: the true
value lies in ``[s, s + t]``. The fast pass carries, next to each step's value, an upper
bound (every output raised by ``t``, then contracted on). ``Z`` grows with every entry, so
the bound's ``log Z_hi >= log Z``; if ``log Z_hi - log Z_fast <= tol`` (``1e-4`` plus a few
rounding units of ``log Z``), the fast value is exact to that tolerance and so are its
gradients (entries it lost carry at most that posterior mass). Otherwise the contraction
is recomputed with every lossy entry evaluated exactly, as an online log-sum-exp over the
summed index (``lax.scan`` over its K values, memory of the order of the step's output;
:mod:`jaxis.contract._exact`). One ``lax.cond`` per call decides (under ``vmap``, over the
whole batch), inside a ``custom_vjp`` whose backward pass differentiates the pass that was
used, so the fast path keeps no residual of the exact one. NaN propagates as NaN; ``-inf``
(an impossible combination) keeps a zero gradient.

Cost: the bound adds one elementwise pass per einsum step and repeats the steps after the
first einsum on the bound (the small steps, on the paper's models); the exact pass runs
only where a lost entry could matter (float32 data 100 nats from their proposal, say).

Reference: Bowyer, Heap, Aitchison 2023, eqs. 18, 27, 32, 43.
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

from ..graph._graph import FactorGraph
from ._chain import reduce_chains
from ._plan import plan_contraction
from ._step import (PlatesFirst, can_fuse, contract_and_reduce, contract_step,
                    to_plates_first)


class Source(NamedTuple):
    """An extra log factor (e.g. ``J * m(z_i)``) over ``kvars`` and ``plates`` (canonical)."""

    array: jax.Array
    kvars: tuple[str, ...]
    plates: tuple[str, ...]


def term_specs(graph: FactorGraph, sources: Sequence[Source] = ()) -> tuple:
    return tuple((f.kvars, f.plates) for f in graph.factors) + tuple(
        (s.kvars, s.plates) for s in sources
    )


def log_z(
    graph: FactorGraph, log_factors: Sequence[jax.Array], sources: Sequence[Source] = ()
) -> jax.Array:
    """``log`` of the MP estimate with source terms; a scalar (``-inf`` if every term is 0).

    The time axes of scans' Markov chains are reduced first (exactly, in log space).
    """
    arrays, specs = reduce_chains(graph, tuple(log_factors) + tuple(s.array for s in sources),
                                  term_specs(graph, sources))
    return _log_z(graph, specs, arrays)


def forward_terms(graph: FactorGraph, arrays: Sequence, specs: tuple, start: int = 0,
                  fuse: bool = False) -> list:
    """Run the elimination schedule; return every term as ``(array, (kvars, plates))``.

    ``arrays`` with dims ``specs``: the factors and sources, with any chains already
    reduced (:func:`~jaxis.contract._chain.reduce_chains`). Terms ``0..len(specs)-1``
    are these, then one per step; the last is ``log Z``. Exact to the module's tolerance
    (recomputed exactly where the fast pass may not be). With ``start > 0`` the schedule
    resumes at step ``start``: ``arrays`` then also holds the outputs of the steps before
    it (``None`` for any term those steps consumed), taken as exact. With ``fuse``, an
    einsum step whose output is only summed over plates by the next is done with that
    sum (as in :func:`log_z`): its own term is ``None`` and the sum's is laid out plates
    first (dims a :class:`~jaxis.contract._step.PlatesFirst`); no step draws from such
    a term (it is the input of a step that sums no latent).
    """
    arrays, specs = tuple(arrays), tuple(specs)
    fast, hi = _run(graph, specs, arrays, exact=False, keep=True, start=start, fuse=fuse)

    def exact(a):  # in the fast pass's layout
        outs = _run(graph, specs, a, exact=True, keep=True, start=start)[0]
        return [None if fx is None else
                to_plates_first(x, d) if isinstance(fd, PlatesFirst) else x
                for (x, d), (fx, fd) in zip(outs, fast)]

    values = jax.lax.cond(_needs_exact(fast[-1][0], hi), exact,
                          lambda a: [x for x, _ in fast], arrays)
    return list(zip(arrays, resumed_dims(graph, specs, start))) + [
        (x, d) for x, (_, d) in zip(values, fast)]


def resumed_dims(graph: FactorGraph, specs: tuple, start: int) -> list:
    """The dims of the terms before step ``start``: the inputs, then the steps' outputs."""
    steps = plan_contraction(graph, specs)[:start]
    return list(specs) + [(step.kvars, step.out_plates) for step in steps]


def _needs_exact(fast: jax.Array, hi: jax.Array) -> jax.Array:
    """Could entries the fast pass lost change ``log Z`` by more than the tolerance?

    True for NaN (the exact pass then gives NaN too) and for a fast ``-inf``.
    """
    info = jnp.finfo(jnp.result_type(fast))
    tol = 1e-4 + 16 * info.eps * jnp.abs(jnp.where(jnp.isfinite(fast), fast, 0.0))
    return _any_in_batch(~(hi - fast <= tol))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _log_z(graph: FactorGraph, specs: tuple, arrays: tuple) -> jax.Array:
    outs, hi = _run(graph, specs, arrays, exact=False, keep=False)
    return _checked(graph, specs, arrays, outs[-1][0], hi)[0]


def _checked(graph, specs, arrays, fast, hi):
    """``fast``, or the exact pass's value where the bound says ``fast`` may be off."""
    need = _needs_exact(fast, hi)
    exact = lambda a: _exact_log_z(graph, specs, a)
    return jax.lax.cond(need, exact, lambda a: fast, arrays), need


def _log_z_fwd(graph, specs, arrays):
    def fast_fn(a):
        outs, hi = _run(graph, specs, a, exact=False, keep=False)
        return outs[-1][0], jax.lax.stop_gradient(hi)

    fast, pull_fast, hi = jax.vjp(fast_fn, arrays, has_aux=True)
    value, need = _checked(graph, specs, arrays, fast, hi)
    return value, (pull_fast, need, arrays)


def _log_z_bwd(graph, specs, res, g):
    pull_fast, need, arrays = res

    def exact_ct(a):
        return jax.vjp(lambda b: _exact_log_z(graph, specs, b), a)[1](g)[0]

    return (jax.lax.cond(_any_in_batch(need), exact_ct, lambda a: pull_fast(g)[0], arrays),)


_log_z.defvjp(_log_z_fwd, _log_z_bwd)


def _exact_log_z(graph, specs, arrays):
    return _run(graph, specs, arrays, exact=True, keep=False)[0][-1][0]


def _run(graph: FactorGraph, specs: tuple, arrays: tuple, *, exact: bool, keep: bool,
         start: int = 0, fuse: bool = True):
    """The elimination schedule over ``arrays`` (terms with dims ``specs``).

    Returns the step outputs ``(array, (kvars, plates))`` (the last is ``log Z``) and the
    upper bound of ``log Z`` (``exact=False``; with ``exact=True`` lossy entries are
    recomputed exactly and the bound is the value). With ``keep=False`` consumed terms are
    dropped so XLA may free them. With ``fuse`` the fast pass does an einsum step and the
    plate sum of its output in one (:func:`~jaxis.contract._step.contract_and_reduce`:
    the einsum step's output is then ``None``, the sum's laid out plates first).
    ``start``: resume at that step (:func:`forward_terms`).
    """
    steps = plan_contraction(graph, specs)
    terms: list = list(zip(arrays, resumed_dims(graph, specs, start)))
    bounds: list = [None] * len(arrays)  # None: the bound is the value itself
    outs = []
    fused = -1  # a step done together with the one before it
    for k in range(start, len(steps)):
        if k == fused:
            continue
        step = steps[k]
        operands = [terms[i] for i in step.inputs]
        raised = None
        if any(bounds[i] is not None for i in step.inputs):
            raised = [(terms[i][0] if bounds[i] is None else bounds[i], terms[i][1])
                      for i in step.inputs]
        if not keep:
            for i in step.inputs:
                terms[i] = bounds[i] = None
        after = steps[k + 1] if k + 1 < len(steps) else None
        if (fuse and not exact and after is not None
                and can_fuse(operands, step, after, len(specs) + k)):
            contract = functools.partial(contract_and_reduce, after=after)
            out, bound = contract(graph, operands, step)
            if raised is not None:
                bound = contract(graph, raised, step)[1]
            terms.append((None, (step.kvars, step.plates)))
            bounds.append(None)
            outs.append(terms[-1])
            fused, step = k + 1, after  # its output is this step's
            dims = PlatesFirst((step.kvars, step.out_plates))
        else:
            out, bound = contract_step(graph, operands, step, exact)
            if raised is not None:
                value, b = contract_step(graph, raised, step, exact)
                bound = value if b is None else b
            dims = (step.kvars, step.out_plates)
        terms.append((out, dims))
        bounds.append(bound)
        outs.append(terms[-1])
    return outs, (outs[-1][0] if bounds[-1] is None else bounds[-1])


@custom_vmap
def _any_in_batch(x: jax.Array) -> jax.Array:
    """``any(x)``; under ``vmap``, over the whole batch (an unbatched predicate)."""
    return jnp.any(x)


@_any_in_batch.def_vmap
def _any_in_batch_rule(axis_size, in_batched, x):
    return jnp.any(x), False
