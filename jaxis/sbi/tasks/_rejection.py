"""Exact rejection sampling with static shapes: fill ``n`` rows, round after round.

Each round draws ``n`` candidates with an acceptance mask; accepted candidates are
written, in order, into the first free rows of the output (``count + cumsum(accept)``).
The loop is a ``lax.while_loop``, so a sampler built on it runs under ``jax.jit`` and
``jax.vmap``; rows still empty after ``max_rounds`` rounds stay NaN, and ``count`` says
how many were filled. The accepted draws are exact samples of the candidate law
restricted to the acceptance region (von Neumann, 1951).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
Proposal = Callable[[Array, int], "tuple[Array, Array]"]

__all__ = ["rejection_fill"]


def rejection_fill(
    rng_key: Array, propose: Proposal, num_samples: int, dim: int, *, max_rounds: int = 1000
) -> tuple[Array, Array]:
    """``(draws (num_samples, dim), count)`` from ``propose(key, m) -> (candidates, accept)``.

    ``candidates`` is ``(m, dim)`` and ``accept`` a boolean ``(m,)``; rows past ``count``
    are NaN (``count < num_samples`` only when ``max_rounds`` rounds were not enough).
    """
    dtype = jnp.result_type(float)

    def cond(carry):
        _, _, count, rounds = carry
        return (count < num_samples) & (rounds < max_rounds)

    def body(carry):
        key, draws, count, rounds = carry
        key, sub = jax.random.split(key)
        candidates, accept = propose(sub, num_samples)
        position = count + jnp.cumsum(accept) - 1
        row = jnp.where(accept & (position < num_samples), position, num_samples)
        draws = draws.at[row].set(candidates.astype(dtype), mode="drop")
        count = jnp.minimum(count + accept.sum(), num_samples)
        return key, draws, count, rounds + 1

    start = (rng_key, jnp.full((num_samples, dim), jnp.nan, dtype), jnp.asarray(0), jnp.asarray(0))
    _, draws, count, _ = jax.lax.while_loop(cond, body, start)
    return draws, count
