"""``log_z``: the log of the MP marginal-likelihood estimate, by plated contraction.

    log P_MP(J) = log sum_k prod_f exp(F_f(k) + S(k; J))

computed in log space: at each step, each operand is shifted by its own maximum over the
index being summed (under ``stop_gradient``), the shifted exponentials are contracted by
one opt_einsum expression planned once from static shapes, and the shifts are added back.
Every query (moments, marginals, joint marginals, samples) is a derivative of this one
function with respect to source terms ``S``.

Exactness in float32: when the operands peak at different values of the summed index, the
product of their shifted exponentials can underflow although the sum is representable
(factors 100 nats apart, say). Each contraction output ``s`` is a sum of at most K
products; where ``s < K * tiny / eps`` it may have lost relative precision to underflow,
and those entries are recomputed exactly, as an online log-sum-exp over the summed index
(``lax.scan`` over its K values, memory of the order of the output). The fallback runs
only when some entry needs it (``lax.cond``; under ``vmap`` the condition is taken over
the whole batch, so the conditional stays a branch instead of becoming a select that
computes both). NaN propagates as NaN; ``-inf`` (an impossible combination) keeps a zero
gradient.

Cost: the fallback is ``K`` output-sized passes of one step (about 5 ns per output entry
and sample on this project's 2-core CPU). It runs whenever an entry falls below the
threshold, also where that entry is negligible for ``Z`` (the chimpanzee model's
HalfCauchy scales put some entries thousands of nats down, so it runs on every call
there); telling negligible entries apart needs the whole graph, so it is not attempted.

Reference: Bowyer, Heap, Aitchison 2023, eqs. 18, 27, 32, 43.
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import opt_einsum
from jax.custom_batching import custom_vmap
from jax.scipy.special import logsumexp

from ..graph._graph import FactorGraph
from ._exact import align, exact_logsumexp, safe_log
from ._plan import Step, plan_contraction


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
    """``log`` of the MP estimate with source terms; a scalar (``-inf`` if every term is 0)."""
    return forward_terms(graph, log_factors, sources, keep=False)[-1][0]


def forward_terms(
    graph: FactorGraph,
    log_factors: Sequence[jax.Array],
    sources: Sequence[Source] = (),
    *,
    keep: bool = True,
) -> list:
    """Run the elimination schedule; return every term as ``(array, (kvars, plates))``.

    Terms ``0..F-1`` are the factors and sources, then one per step; the last is ``log Z``.
    With ``keep=False`` consumed terms are dropped (``None``) so XLA may free them.
    """
    specs = term_specs(graph, sources)
    steps = plan_contraction(graph, specs)
    terms: list = list(zip(list(log_factors) + [s.array for s in sources], specs))
    for step in steps:
        operands = [terms[i] for i in step.inputs]
        if not keep:
            for i in step.inputs:
                terms[i] = None
        out = _contract(graph, operands, step)
        if step.reduce:
            axes = tuple(len(step.kvars) + step.plates.index(p) for p in step.reduce)
            out = jnp.sum(out, axis=axes)
        terms.append((out, (step.kvars, step.out_plates)))
    return terms


def _contract(graph: FactorGraph, operands, step: Step) -> jax.Array:
    kvars, plates = step.kvars, step.plates
    summed = set(step.sum_vars)
    touching = [(x, d) for x, d in operands if summed & set(d[0])]
    rest = [(x, d) for x, d in operands if not summed & set(d[0])]
    total = sum((align(graph, x, d, kvars, plates) for x, d in rest), jnp.zeros(()))
    if len(touching) == 1:
        x, (ks, ps) = touching[0]
        axes = tuple(i for i, k in enumerate(ks) if k in summed)
        kept = tuple(k for k in ks if k not in summed)
        total = total + align(graph, logsumexp(x, axis=axes), (kept, ps), kvars, plates)
    elif touching:
        total = total + _shifted_einsum(graph, touching, step)
    return jnp.broadcast_to(total, graph.shape(kvars, plates))


def _shifted_einsum(graph: FactorGraph, operands, step: Step) -> jax.Array:
    """``log einsum(exp(x_f - m_f)) + sum_f m_f`` with ``m_f`` = max over summed indices."""
    summed = set(step.sum_vars)
    letters = {}
    for name in [l.name for l in graph.latents] + [p.name for p in graph.plates]:
        letters.setdefault(name, opt_einsum.get_symbol(len(letters)))
    shifted, subs, shift_total = [], [], jnp.zeros(())
    for x, (ks, ps) in operands:
        axes = tuple(i for i, k in enumerate(ks) if k in summed)
        m = jax.lax.stop_gradient(jnp.max(x, axis=axes, keepdims=True))
        m = jnp.where(jnp.isfinite(m), m, 0.0)
        shifted.append(jnp.exp(x - m))
        subs.append("".join(letters[n] for n in ks + ps))
        kept = tuple(k for k in ks if k not in summed)
        shift_total = shift_total + align(
            graph, jnp.squeeze(m, axis=axes), (kept, ps), step.kvars, step.plates
        )
    out_sub = "".join(letters[n] for n in step.kvars + step.plates)
    expr = _expression(",".join(subs) + "->" + out_sub, tuple(x.shape for x in shifted))
    total = expr(*shifted, backend="jax")
    info = jnp.finfo(total.dtype)
    lossy = total < graph.K * info.tiny / info.eps  # False for NaN: NaN stays NaN
    fast = safe_log(total) + shift_total
    v = step.sum_vars[0]
    return jax.lax.cond(
        _any_in_batch(lossy),
        lambda: jnp.where(lossy, exact_logsumexp(graph, operands, v, step.kvars, step.plates),
                          fast),
        lambda: fast,
    )


@custom_vmap
def _any_in_batch(x: jax.Array) -> jax.Array:
    """``any(x)``; under ``vmap``, over the whole batch (an unbatched predicate)."""
    return jnp.any(x)


@_any_in_batch.def_vmap
def _any_in_batch_rule(axis_size, in_batched, x):
    return jnp.any(x), False


@functools.lru_cache(maxsize=512)
def _expression(eq: str, shapes: tuple):
    return opt_einsum.contract_expression(eq, *shapes, optimize="auto")
