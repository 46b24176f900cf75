"""A minimal multilayer perceptron in plain JAX, z-scoring, and an optax training loop.

The network is ``f(x) = W_L h_{L-1} + b_L`` with ``h_l = act(W_l h_{l-1} + b_l)`` and
``h_0 = x``; weights start from the LeCun-normal draw ``W ~ N(0, 1/fan_in)`` and zero
biases. Inputs are z-scored, ``(x - mean) / std``, with the moments of the training data
(:class:`Standardizer`); a constant column keeps ``std = 1``. :func:`fit` runs
``num_steps`` minibatch updates of any optax optimiser inside one ``lax.scan``; given
held-out ``validation`` data it scores them every ``eval_every`` steps and returns the
parameters with the lowest held-out loss (early stopping without the early exit).

The neural parts of :mod:`jaxis.sbi` (ratio estimators, amortised proposals, the C2ST
classifier) are built on these three pieces and nothing heavier.

Reference: LeCun, Bottou, Orr, Müller (1998), *Efficient BackProp* (input
standardisation and the ``1/fan_in`` initialisation); optax (DeepMind 2020).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import optax

Array = jax.Array
Params = list  # [(W, b), ...]


def init_mlp(rng_key: Array, sizes: Sequence[int]) -> Params:
    """Parameters ``[(W_1, b_1), ..., (W_L, b_L)]`` of an MLP with layer widths ``sizes``.

    ``sizes = (d_in, h_1, ..., d_out)``; ``W_l`` has shape ``(sizes[l-1], sizes[l])`` and is
    drawn from ``N(0, 1/sizes[l-1])``; biases are zero.
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(
            f"sizes must list at least an input and an output width, all >= 1; got {sizes}."
        )
    keys = jax.random.split(rng_key, len(sizes) - 1)
    dtype = jnp.result_type(float)
    return [
        (jax.random.normal(k, (m, n), dtype) / jnp.sqrt(jnp.asarray(m, dtype)), jnp.zeros(n, dtype))
        for k, m, n in zip(keys, sizes[:-1], sizes[1:])
    ]


def apply_mlp(params: Params, x: Array, activation: Callable = jax.nn.silu) -> Array:
    """The network's output for inputs ``x`` of shape ``(..., d_in)``: ``(..., d_out)``."""
    d_in = params[0][0].shape[0]
    if jnp.shape(x)[-1:] != (d_in,):
        raise ValueError(f"x must have trailing size {d_in} (the input width); got {jnp.shape(x)}.")
    h = x
    for w, b in params[:-1]:
        h = activation(h @ w + b)
    w, b = params[-1]
    return h @ w + b


@jax.tree_util.register_pytree_node_class
class Standardizer:
    """Z-scoring ``(x - mean) / std`` with the column moments of training data ``(N, d)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxis.sbi import Standardizer
        >>> s = Standardizer.fit(jnp.array([[0.0, 5.0], [2.0, 5.0]]))
        >>> s(jnp.array([1.0, 5.0])).tolist(), s.inverse(jnp.zeros(2)).tolist()
        ([0.0, 0.0], [1.0, 5.0])
    """

    def __init__(self, mean: Array, std: Array):
        self.mean, self.std = mean, std

    @classmethod
    def fit(cls, data: Array) -> "Standardizer":
        """Moments of ``data`` (``(N, d)``, ``N >= 2``); a constant column gets ``std = 1``."""
        data = jnp.asarray(data)
        if data.ndim != 2 or data.shape[0] < 2:
            raise ValueError(f"data must have shape (N, d) with N >= 2; got {data.shape}.")
        std = jnp.std(data, axis=0)
        return cls(jnp.mean(data, axis=0), jnp.where(std > 0, std, 1.0))

    def __call__(self, x: Array) -> Array:
        return (x - self.mean) / self.std

    def inverse(self, z: Array) -> Array:
        """``mean + std * z``: back from the standardised scale."""
        return self.mean + self.std * z

    def tree_flatten(self):
        return (self.mean, self.std), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


class FitInfo(NamedTuple):
    """The loss at every step of :func:`fit`, and the held-out loss at every evaluation
    (``None`` without validation data)."""

    losses: Array
    val_losses: Optional[Array] = None


def fit(
    rng_key: Array,
    loss_fn: Callable[[Any, Array, Any], Array],
    params: Any,
    data: Any,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    batch_size: int = 256,
    validation: Any = None,
    eval_every: int = 100,
) -> tuple[Any, FitInfo]:
    """Minimise ``loss_fn(params, rng_key, batch)`` over random minibatches of ``data``.

    ``data`` is a pytree of arrays sharing the leading axis ``N``; each step draws
    ``batch_size`` rows uniformly (with replacement) and applies one optimizer update, all
    inside one ``lax.scan`` (jit- and vmap-able; ``num_steps``, ``batch_size`` and
    ``eval_every`` static). With ``validation`` (a pytree like ``data``), ``num_steps`` is
    rounded up to a multiple of ``eval_every``, the whole validation set is scored after
    every ``eval_every`` steps (one fixed key), and the parameters with the lowest score
    are returned (a NaN score propagates). Returns the parameters and :class:`FitInfo`.
    """
    rows = {jnp.shape(leaf)[0] for leaf in jax.tree_util.tree_leaves(data)}
    if len(rows) != 1:
        raise ValueError(f"data: every array needs the same leading size; got {sorted(rows)}.")
    (num,) = rows
    if int(num_steps) < 1 or int(batch_size) < 1 or int(eval_every) < 1:
        raise ValueError(f"num_steps, batch_size and eval_every must be >= 1; got {num_steps}, "
                         f"{batch_size}, {eval_every}.")
    grad = jax.value_and_grad(loss_fn)

    def step(carry, key):
        p, opt_state = carry
        k_batch, k_loss = jax.random.split(key)
        idx = jax.random.randint(k_batch, (int(batch_size),), 0, num)
        batch = jax.tree_util.tree_map(lambda a: a[idx], data)
        loss, g = grad(p, k_loss, batch)
        updates, opt_state = optimizer.update(g, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), loss

    if validation is None:
        keys = jax.random.split(rng_key, int(num_steps))
        (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), keys)
        return params, FitInfo(losses)
    k_steps, k_val = jax.random.split(rng_key)
    rounds, every = -(-int(num_steps) // int(eval_every)), int(eval_every)

    def round_(carry, keys):
        p, opt_state, best_p, best = carry
        (p, opt_state), losses = jax.lax.scan(step, (p, opt_state), keys)
        score = loss_fn(p, k_val, validation)
        take = (score < best) | jnp.isnan(score)
        best_p = jax.tree_util.tree_map(lambda a, b: jnp.where(take, a, b), p, best_p)
        return (p, opt_state, best_p, jnp.where(take, score, best)), (losses, score)

    keys = jax.random.split(k_steps, rounds * every).reshape(rounds, every, -1)
    start = (params, optimizer.init(params), params, jnp.asarray(jnp.inf))
    (_, _, params, _), (losses, scores) = jax.lax.scan(round_, start, keys)
    return params, FitInfo(losses.reshape(-1), scores)
