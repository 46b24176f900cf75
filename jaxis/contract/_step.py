r"""One step of the plated contraction: sum out one latent's samples, in log space.

A step's operands ``x_f`` (log terms) are shifted by their maxima ``m_f`` over the summed
index ``v`` (under ``stop_gradient``), contracted in exp space by one einsum (pairwise
order planned once per static shapes by opt_einsum) and the shifts added back::

    out(e) = log einsum_v(exp(x_f - m_f)) + sum_f m_f

with the upper bound ``log(einsum + t) + sum_f m_f``, ``t = K * tiny / eps``, that
:mod:`jaxis.contract._log_z` carries to decide whether float32 underflow could matter.
Terms the step does not sum are added in log space.

When the step's output is next summed over plates and used by nothing else (the last
step of a plate level), :func:`contract_and_reduce` does both in one: the einsum writes
its output plates first (the order of its batched matmul, so no transpose of the
K^n-sized output), the logs are summed over the reduced plates in that order, and the
shifts and the unsummed terms are summed over those plates on their own, smaller,
shapes (``sum_p m(e) = P m(e)`` where ``m`` does not vary along plate ``p`` of size
``P``), instead of being broadcast to the output first. Same value to float rounding.

Reference: Bowyer, Heap, Aitchison 2023, eqs. 18, 27, 32, 43; Obermeyer et al. 2019,
*Tensor variable elimination for plated factor graphs*.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import opt_einsum
from jax.scipy.special import logsumexp

from ..graph._graph import FactorGraph
from ._exact import align, exact_logsumexp, max_keepdims, safe_log
from ._plan import Step

PRECISION = jax.lax.Precision.HIGHEST  # every exp-space contraction (see _log_z)


class PlatesFirst(tuple):
    """The dims ``(kvars, plates)`` of an array laid out plates first (the fast pass)."""


def names(dims) -> tuple[str, ...]:
    """The axis names of an array with these dims, in its layout."""
    ks, ps = dims
    return tuple(ps) + tuple(ks) if isinstance(dims, PlatesFirst) else tuple(ks) + tuple(ps)


def to_plates_first(x: jax.Array, dims) -> jax.Array:
    """A canonical array with these dims, laid out plates first."""
    ks, ps = dims
    return jnp.transpose(x, tuple(range(len(ks), len(ks) + len(ps))) + tuple(range(len(ks))))


def contract_step(graph: FactorGraph, operands, step: Step, exact: bool):
    """One step, its plate sum included: its output and an upper bound of it (``None``
    when the output is exact), over ``(step.kvars, step.out_plates)`` in canonical
    order. Operands may be laid out either way (only canonical ones with ``exact``)."""
    target = step.kvars + step.plates
    touching, rest = _split(operands, step)
    total = sum((align(x, names(d), target) for x, d in rest), jnp.zeros(()))
    bound = None
    if len(touching) == 1:
        x, d = touching[0]
        own = names(d)
        axes = tuple(i for i, n in enumerate(own) if n in step.sum_vars)
        kept = tuple(n for n in own if n not in step.sum_vars)
        total = total + align(logsumexp(x, axis=axes), kept, target)
    elif touching:
        value, upper = _shifted_einsum(graph, touching, step, exact, target)
        bound = None if upper is None else total + upper
        total = total + value
    shape = _shape(graph, target)
    axes = tuple(target.index(p) for p in step.reduce)
    out = jnp.sum(jnp.broadcast_to(total, shape), axis=axes)
    if bound is not None:
        bound = jnp.sum(jnp.broadcast_to(bound, shape), axis=axes)
    return out, bound


def can_fuse(operands, step: Step, after: Step, step_id: int) -> bool:
    """Is ``after`` a plate sum of ``step``'s output alone, and ``step`` an einsum?"""
    return (after.inputs == (step_id,) and not after.sum_vars and bool(after.reduce)
            and len(_split(operands, step)[0]) > 1)


def contract_and_reduce(graph: FactorGraph, operands, step: Step, after: Step):
    """``step`` then ``after`` (see :func:`can_fuse`), fast pass: ``after``'s output and
    its upper bound, laid out plates first (``PlatesFirst((after.kvars,
    after.out_plates))``)."""
    touching, rest = _split(operands, step)
    target = after.out_plates + after.kvars
    total, shifts = _shifted_product(graph, touching, step, step.plates + step.kvars,
                                     matmul_order=True)
    info = jnp.finfo(total.dtype)
    threshold = graph.size(step.sum_vars[0]) * info.tiny / info.eps
    axes = tuple(step.plates.index(p) for p in after.reduce)
    small = sum((_plate_sum(graph, x, names(d), after, target) for x, d in shifts + rest),
                jnp.zeros(()))
    shape = _shape(graph, target)
    value = sum_log(total, axes) + small
    bound = jax.lax.stop_gradient(sum_log(total + threshold, axes)) + small
    return jnp.broadcast_to(value, shape), jnp.broadcast_to(bound, shape)


def _size(graph: FactorGraph, name: str) -> int:
    if any(p.name == name for p in graph.plates):
        return graph.plate(name).size
    return graph.size(name)


def _shape(graph: FactorGraph, target) -> tuple[int, ...]:
    return tuple(_size(graph, n) for n in target)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def sum_log(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``sum(safe_log(x), axes)`` for ``x >= 0``, with one log per output element.

    Each ``x = m 2^e`` (``frexp``: ``m`` in ``[1/2, 1)``), so ``sum log x =
    log(prod m) + log(2) sum e``, both reduced in one pass (a variadic reduction); the
    product of at most ``_MANTISSAS`` mantissas stays above ``2^-64``, so it cannot
    underflow (more: the plain sum of logs). A zero gives ``-inf`` (mantissa 0), NaN
    gives NaN. The tangent is ``sum dx / x``, 0 where ``x = 0`` (like
    :func:`~jaxis.contract._exact.safe_log`).

    At K=15 the chimpanzee model's first plate sum (7 x 6 x 15^5 float32 entries, over
    the 6 blocks) took ~75 ms as a sum of logs on XLA's CPU backend (a log per entry
    and a reduction over a non-minor axis), against ~10 ms this way.
    """
    if math.prod(x.shape[a] for a in axes) > _MANTISSAS:
        return jnp.sum(safe_log(x), axis=axes)
    mant, expo = jnp.frexp(x)
    one, zero = jnp.ones((), x.dtype), jnp.zeros((), expo.dtype)
    mant, expo = jax.lax.reduce((mant, expo), (one, zero),
                                lambda a, b: (a[0] * b[0], a[1] + b[1]), axes)
    return jnp.log(mant) + math.log(2.0) * expo.astype(x.dtype)


@sum_log.defjvp
def _sum_log_jvp(axes, primals, tangents):
    (x,), (dx,) = primals, tangents
    return sum_log(x, axes), jnp.sum(dx / jnp.where(x == 0, jnp.inf, x), axis=axes)


_MANTISSAS = 64


def _split(operands, step: Step) -> tuple[list, list]:
    """The operands that hold the summed latent, and the others."""
    summed = set(step.sum_vars)
    touching = [(x, d) for x, d in operands if summed & set(d[0])]
    return touching, [(x, d) for x, d in operands if not summed & set(d[0])]


def _plate_sum(graph: FactorGraph, x, own: tuple, after: Step, target) -> jax.Array:
    """``x`` (axes ``own``) summed over ``after.reduce`` (a plate it lacks counts its
    size), aligned to ``target``."""
    axes = tuple(i for i, n in enumerate(own) if n in after.reduce)
    count = math.prod(graph.plate(p).size for p in after.reduce if p not in own)
    x = jnp.sum(x, axis=axes) if axes else x
    x = x * count if count > 1 else x
    return align(x, tuple(n for n in own if n not in after.reduce), target)


def _letters(graph: FactorGraph) -> dict:
    letters = {}
    for name in [l.name for l in graph.latents] + [p.name for p in graph.plates]:
        letters.setdefault(name, opt_einsum.get_symbol(len(letters)))
    return letters


def _shifted_product(graph: FactorGraph, operands, step: Step, out: tuple,
                     matmul_order: bool = False):
    """``(einsum of exp(x_f - m_f) over axes out, [(m_f, its dims)])``, ``m_f`` the max
    of ``x_f`` over the summed latent (0 where not finite)."""
    letters = _letters(graph)
    shifted, subs, shifts = [], [], []
    for x, d in operands:
        own = names(d)
        axes = tuple(i for i, n in enumerate(own) if n in step.sum_vars)
        m = max_keepdims(jax.lax.stop_gradient(x), axes)
        m = jnp.where(jnp.isfinite(m), m, 0.0)
        e = jnp.exp(x - m)
        if matmul_order:  # plates, kept kvars, the summed one: a batched matmul's operand
            # (marginals at K=15: 0.97-1.05 s before, 0.90-0.95 s after, same session)
            order = tuple(d[1]) + tuple(k for k in d[0] if k not in step.sum_vars) + tuple(
                k for k in d[0] if k in step.sum_vars)
            e, own = jnp.transpose(e, tuple(own.index(n) for n in order)), order
        shifted.append(e)
        subs.append("".join(letters[n] for n in own))
        kept = tuple(k for k in d[0] if k not in step.sum_vars)
        dims = (kept, d[1])
        shifts.append((jnp.squeeze(m, axis=axes),
                       PlatesFirst(dims) if isinstance(d, PlatesFirst) else dims))
    eq = ",".join(subs) + "->" + "".join(letters[n] for n in out)
    total = jnp.einsum(eq, *shifted, optimize=_path(eq, tuple(x.shape for x in shifted)),
                       precision=PRECISION)
    return total, shifts


def _shifted_einsum(graph: FactorGraph, operands, step: Step, exact: bool, target: tuple):
    """``log einsum(exp(x_f - m_f)) + sum_f m_f`` over ``target`` axes.

    Returns it with its upper bound ``log(einsum + t) + sum_f m_f`` (``exact=False``), or
    with its lossy entries recomputed exactly and no bound (``exact=True``, canonical
    ``target`` only).
    """
    total, shifts = _shifted_product(graph, operands, step, target)
    shift_total = sum((align(m, names(d), target) for m, d in shifts),
                      jnp.zeros(()))
    info = jnp.finfo(total.dtype)
    threshold = graph.size(step.sum_vars[0]) * info.tiny / info.eps
    fast = safe_log(total) + shift_total
    if not exact:
        return fast, jax.lax.stop_gradient(jnp.log(total + threshold) + shift_total)
    lossy = total < threshold  # False for NaN: NaN stays NaN
    v = step.sum_vars[0]
    return jnp.where(lossy, exact_logsumexp(graph, operands, v, step.kvars, step.plates),
                     fast), None


@functools.lru_cache(maxsize=512)
def _path(eq: str, shapes: tuple) -> list:
    """opt_einsum's contraction order for ``eq`` on these static shapes, planned once."""
    return opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="auto")[0]
