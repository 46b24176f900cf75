"""Walk an elimination schedule backwards, drawing each step's latent given later draws.

Step ``s`` of :func:`~jaxis.contract._plan.plan_contraction` sums out one latent ``v``
from inputs whose other sample indices belong to latents eliminated later. With those
already drawn (``k_>``), the inputs read at ``k_>`` give ``v``'s exact conditional

    P(k_v | k_>) ∝ exp(sum_{i in inputs(s)} T_i(k_v, k_>)),

per element of the step's plates; drawing steps last-to-first therefore draws the joint.

Reference: Bowyer, Heap, Aitchison 2023, section 3 (eqs. 36-44); Koller & Friedman 2009,
Alg. 12.1 (sampling by variable elimination, adapted).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..contract._step import names
from ..graph._graph import FactorGraph


def _gather(graph: FactorGraph, x, dims, v: str, draws: dict, plates, n: int):
    """``x`` indexed at the drawn indices of every latent but ``v``: ``(n, K_v, *plates)``
    (``x`` laid out as its ``dims`` say: canonical, or plates first)."""
    ks, ps = dims
    rank = 2 + len(plates)
    idx = {}
    for k in ks:
        if k == v:
            idx[k] = jnp.arange(graph.size(v)).reshape((1, graph.size(v)) + (1,) * len(plates))
        else:
            own = set(graph.latent(k).plates)
            shape = (n, 1) + tuple(graph.plate(p).size if p in own else 1 for p in plates)
            idx[k] = draws[k].reshape(shape)
    for p in ps:
        shape = [1] * rank
        shape[2 + plates.index(p)] = graph.plate(p).size
        idx[p] = jnp.arange(graph.plate(p).size).reshape(shape)
    gathered = x[tuple(idx[name] for name in names(dims))]  # in the term's layout
    return jnp.broadcast_to(gathered, (n, graph.size(v)) + graph.shape((), plates))


def draw_steps(graph: FactorGraph, steps, terms: list, keys: jax.Array, draws: dict,
               n: int, which: range) -> dict:
    """Walk the steps ``which`` of the schedule backwards, drawing each step's summed
    latent from its inputs at the ``draws`` so far (a copy, updated, is returned)."""
    draws = dict(draws)
    for s in reversed(which):
        step = steps[s]
        if not step.sum_vars:
            continue
        v = step.sum_vars[0]
        logits = sum(_gather(graph, *terms[i], v, draws, step.plates, n)
                     for i in step.inputs)
        draws[v] = jax.random.categorical(keys[s], logits, axis=1)
    return draws
