"""Reduce the time axis of a scan's Markov chain: a log-space matrix-chain product.

The factors of a chain (:mod:`jaxis.trace._scan`) and any source terms on its time plate
sum, per time step ``t``, to one log matrix over the previous and the current sample
index of the chain latent ``x``, batched over the indices ``b`` of the global latents the
body uses and over the elements ``n`` of the plates declared inside the body (many
independent chains, each with its own K samples per step):

    M_t(k_{t-1}, k_t; b, n) = sum_f F_f(t, k_{t-1}, k_t, b, n)

and the chain contributes the factor

    C(k_init, b, n) = log sum_{k_0..k_{T-1}} exp(sum_t M_t(k_{t-1}, k_t; b, n))

(``k_{-1} = k_init``, the index of the latent the initial carry depends on; a constant
initial carry has every row of ``M_0`` equal and row 0 is used). ``C`` is the log of a
product of T matrices, computed as a balanced tree of pairwise log-matrix products
``(A (x) B)(i, j) = logsumexp_k A(i, k) + B(k, j)``: depth ``log2 T``, O(T K^2) memory for
the matrices and a K^3 transient per product (times the global and plate batch). Each
product is an exact log-sum-exp (max-shifted), so nothing underflows in float32 and ``C``
needs no bound in :mod:`jaxis.contract._log_z`: it enters the plated contraction as an
ordinary exact factor over ``(k_init, b)`` in the body's plates, which the contraction
then reduces as any plate (a sum of logs over independent chains). Marginals and moments
of ``x_t`` are gradients of ``log Z`` with respect to sources over ``(k_t, t)``, which
enter ``M_t``; the gradient of an impossible (``-inf``) entry is 0, NaN propagates.

References: Obermeyer et al. 2019, *Tensor variable elimination for plated factor graphs*
(Markov dims, section 5); Sarkka and Garcia-Fernandez 2021, *Temporal parallelization of
Bayesian smoothers* (the parallel matrix-chain product).
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from ..graph._graph import FactorGraph
from ..trace._scan_structure import ChainSpec
from ._exact import align, safe_log

_PREV = "<prev>"  # the name of the previous step's index axis


def _lse(x: jax.Array, axis: int) -> jax.Array:
    """``log sum exp`` over ``axis``; zero (not NaN) gradient where every entry is -inf."""
    m = jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    return safe_log(jnp.sum(jnp.exp(x - m), axis=axis)) + jnp.squeeze(m, axis=axis)


def log_matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """``log(exp(a) @ exp(b))`` over the last two axes, exactly (batched)."""
    return _lse(a[..., :, :, None] + b[..., None, :, :], axis=-2)


def chain_product(m: jax.Array) -> jax.Array:
    """``m[0] (x) m[1] (x) ... (x) m[n-1]`` for ``m`` of shape ``(n, ..., K, K)``, by a
    balanced tree of pairwise log-matrix products (``n >= 1``)."""
    while m.shape[0] > 1:
        half = m.shape[0] // 2
        pairs = log_matmul(m[0:2 * half:2], m[1:2 * half:2])
        m = jnp.concatenate([pairs, m[2 * half:]], axis=0) if m.shape[0] % 2 else pairs
    return m[0]


class ChainMatrix(NamedTuple):
    """The log matrices ``M_t`` of one chain: ``(T, *batch sizes, *plate sizes, n_init,
    n)`` over the global latents ``batch`` (canonical order) and the chain latent's other
    ``plates`` (canonical order, without the time plate), made of the terms ``ids``.

    ``n_init`` is 1 for a constant initial carry (row 0 of ``M_0``; every row is equal).
    """

    chain: ChainSpec
    ids: tuple[int, ...]
    batch: tuple[str, ...]
    plates: tuple[str, ...]
    first: jax.Array  # M_0: (*batch, *plates, n_init, n)
    rest: jax.Array  # M_1..M_{T-1}: (T - 1, *batch, *plates, n, n)


def chain_matrices(graph: FactorGraph, arrays: Sequence[jax.Array],
                   specs: Sequence[tuple]) -> list[ChainMatrix]:
    """Sum every chain's terms into its matrices ``M_t`` (see the module doc).

    ``arrays[i]`` has dims ``specs[i] = (kvars, plates)``; the graph's factors come first,
    and a chain factor has one more trailing axis (the previous step's index).
    """
    prev = [graph.prev_ndim(f.name) for f in graph.factors]
    prev += [0] * (len(arrays) - len(prev))
    out = []
    for chain in graph.chains:
        ids = tuple(i for i, (_, ps) in enumerate(specs) if chain.plate in ps)
        x = chain.latent
        batch = graph.canonical({k for i in ids for k in specs[i][0]} - {x}, ())[0]
        plates = graph.canonical((), set(graph.latent(x).plates) - {chain.plate})[1]
        target = (chain.plate,) + batch + plates + (_PREV, x)
        m = sum(align(arrays[i], specs[i][0] + specs[i][1] + (_PREV,) * prev[i], target)
                for i in ids)
        T = graph.plate(chain.plate).size
        n = graph.size(x)  # K, or the support size of an enumerated chain latent
        m = jnp.broadcast_to(m, (T,) + graph.shape(batch, plates) + (n, n))
        first = m[0] if chain.init else m[0][..., :1, :]
        out.append(ChainMatrix(chain, ids, batch, plates, first, m[1:]))
    return out


def reduce_chains(graph: FactorGraph, arrays: Sequence[jax.Array], specs: Sequence[tuple],
                  matrices: Optional[Sequence[ChainMatrix]] = None):
    """Replace every chain's terms by its factor ``C(k_init, b, n)``; ``(arrays, specs)``.

    The other terms keep their order; the chains' factors follow, one per chain.
    ``matrices``: :func:`chain_matrices` of the same terms, if already computed.
    """
    if not graph.chains:
        return tuple(arrays), tuple(specs)
    if matrices is None:
        matrices = chain_matrices(graph, arrays, specs)
    used = {i for mat in matrices for i in mat.ids}
    arrays = [a for i, a in enumerate(arrays) if i not in used]
    specs = [s for i, s in enumerate(specs) if i not in used]
    for mat in matrices:
        chain, batch = mat.chain, mat.batch
        total = (log_matmul(mat.first, chain_product(mat.rest)) if mat.rest.shape[0]
                 else mat.first)
        out = _lse(total, axis=-1)  # (*batch, *plates, K_init or 1)
        if chain.init:
            kvars = graph.canonical(batch + (chain.init,), ())[0]
            out = align(out, batch + mat.plates + (chain.init,), kvars + mat.plates)
        else:
            kvars, out = batch, out[..., 0]
        arrays.append(out)
        specs.append((kvars, mat.plates))
    return tuple(arrays), tuple(specs)
