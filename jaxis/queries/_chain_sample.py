"""Exact posterior draws of a scan's chain indices: forward filtering, backward sampling.

Per element of the plates declared in the body (independent chains, batched), given
the indices ``b`` of the global latents the chain's body uses and the index
``k_init`` of its initial state (drawn first, from the contraction in which the chain
enters as the exact factor ``C(k_init, b)``; :mod:`jaxis.contract._chain`), the chain's
indices have the conditional

    P(k_0..k_{T-1} | k_init, b) ∝ exp(sum_t M_t(k_{t-1}, k_t; b)),   k_{-1} = k_init.

Forward messages ``a_t(j) = log sum_i exp(a_{t-1}(i) + M_t(i, j))``, ``a_0 = M_0(k_init,
.)``, are computed for every ``(b, k_init)`` (a sequential log-space pass; memory of the
order of the matrices, O(T K^2) per global index), then read at each draw's ``(b,
k_init)``. Backwards, ``k_{T-1} ∝ exp(a_{T-1})`` and ``k_t | k_{t+1} ∝ exp(a_t(k_t) +
M_{t+1}(k_t, k_{t+1}))``. This is exact: the product of these conditionals is the joint.

References: Frühwirth-Schnatter 1994, *Data augmentation and dynamic linear models*;
Carter and Kohn 1994 (forward filtering, backward sampling); Obermeyer et al. 2019.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..contract._chain import ChainMatrix, log_matmul
from ..graph._graph import FactorGraph


def forward_messages(mat: ChainMatrix) -> jax.Array:
    """``a_t`` for every global index, plate element and initial row:
    ``(T, *batch, *plates, n_init, n)``."""
    def step(a, m_t):
        a = log_matmul(a, m_t)
        return a, a

    _, rest = jax.lax.scan(step, mat.first, mat.rest)
    return jnp.concatenate([mat.first[None], rest], axis=0)


def _plate_index(graph: FactorGraph, mat: ChainMatrix, n: int) -> tuple:
    """Index arrays of the chain's plates, broadcasting to ``(n, *plate sizes)``."""
    rank = 1 + len(mat.plates)
    idx = []
    for i, p in enumerate(mat.plates):
        shape = [1] * rank
        shape[1 + i] = graph.plate(p).size
        idx.append(jnp.arange(graph.plate(p).size).reshape(shape))
    return tuple(idx)


def _at_plates(graph: FactorGraph, mat: ChainMatrix, draw: jax.Array, name: str, n: int):
    """A latent's ``(n, *its plates)`` index draws, shaped to broadcast against
    ``(n, *mat.plates)``."""
    own = set(graph.latent(name).plates)
    return draw.reshape((n,) + tuple(graph.plate(p).size if p in own else 1
                                     for p in mat.plates))


def sample_chain(rng_key: jax.Array, graph: FactorGraph, mat: ChainMatrix, draws: dict,
                 n: int) -> jax.Array:
    """Draw the chain's indices given ``draws`` of its globals and initial state:
    ``(n, T, *plate sizes)`` (one chain per element of the body's plates).

    ``draws[k]``: ``(n, *plates of k)`` indices of every latent in ``mat.batch`` (and of
    the initial state ``mat.chain.init``, if any).
    """
    plates = _plate_index(graph, mat, n)
    batch = tuple(_at_plates(graph, mat, draws[k], k, n) for k in mat.batch) + plates
    init = (_at_plates(graph, mat, draws[mat.chain.init], mat.chain.init, n)
            if mat.chain.init else jnp.zeros((n,) + (1,) * len(plates), jnp.int32))
    alpha = forward_messages(mat)
    a = alpha[(slice(None),) + batch + (init,)]  # (T, n, *plates, K): at each (b, k_init)
    key_last, key_rest = jax.random.split(rng_key)
    last = jax.random.categorical(key_last, a[-1], axis=-1)
    if mat.rest.shape[0] == 0:
        return last[:, None]
    to_prev = jnp.swapaxes(mat.rest, -1, -2)  # M_{t+1}(k_t, k_{t+1}) with k_{t+1} first

    def back(k_next, inp):
        a_t, m_next, key = inp
        k = jax.random.categorical(key, a_t + m_next[batch + (k_next,)], axis=-1)
        return k, k

    keys = jax.random.split(key_rest, mat.rest.shape[0])
    _, ks = jax.lax.scan(back, last, (a[:-1], to_prev, keys), reverse=True)
    return jnp.moveaxis(jnp.concatenate([ks, last[None]], axis=0), 0, 1)
