"""Classifier two-sample test (C2ST) with sbibm's settings, in JAX and optax.

Label reference samples ``a`` with 0 and samples ``b`` with 1, z-score both by the moments
of ``a``, and train a classifier by ``F``-fold cross-validation; the score is the mean
held-out accuracy,

    C2ST = (1/F) sum_f (1/|T_f|) sum_{i in T_f} 1[ 1(logit(u_i) > 0) = y_i ],

0.5 when the two distributions are equal and 1 when they are disjoint; its expectation
is at most the Bayes-optimal accuracy ``1/2 + TV(p_a, p_b)/2`` (equal sample sizes).

Settings as sbibm's (Lueckmann et al. 2021): an MLP with two hidden layers of ``10 d``
ReLU units, Adam (step ``1e-3``), minibatches of 200, an L2 penalty ``1e-4`` on the
weights, 5 folds, z-scoring by the reference. sbibm runs scikit-learn's
``MLPClassifier`` (Glorot-uniform initial weights, here LeCun-normal) until the
training loss stalls; here the number of epochs is fixed
(``num_epochs``) so that the test is one jit-able function, vmapped over the folds.

References: Lopez-Paz, Oquab (2017), *Revisiting classifier two-sample tests*;
Lueckmann et al. (2021), *Benchmarking simulation-based inference*, AISTATS.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from ._mlp import Standardizer, apply_mlp, fit, init_mlp

Array = jax.Array


def _as_matrix(samples: Array, name: str) -> Array:
    samples = jnp.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2:
        raise ValueError(f"{name} must have shape (N, d) or (N,); got {samples.shape}.")
    return samples.astype(jnp.result_type(float))


def c2st(
    rng_key: Array,
    samples_a: Array,
    samples_b: Array,
    *,
    num_folds: int = 5,
    num_epochs: int = 50,
    batch_size: int = 200,
    l2: float = 1e-4,
    learning_rate: float = 1e-3,
    z_score: bool = True,
) -> Array:
    """Cross-validated accuracy of a classifier telling ``samples_a`` from ``samples_b``.

    Args:
        rng_key: PRNG key (fold split, initialisation, minibatches).
        samples_a: reference samples ``(N_a, d)`` (e.g. the reference posterior); its
            moments z-score both sets.
        samples_b: samples ``(N_b, d)`` under test.
        num_folds: cross-validation folds (rows beyond a multiple of it are dropped).
        num_epochs: passes over each fold's training rows.
        batch_size, l2, learning_rate: the optimiser's settings (sbibm's defaults).
        z_score: standardise by ``samples_a``'s mean and sd.

    Returns:
        The mean held-out accuracy, a scalar in ``[0, 1]``; NaN if any sample is NaN.

    Example (schematic)::

        score = c2st(key, reference_samples, nre_samples)   # 0.5 is indistinguishable
    """
    a, b = _as_matrix(samples_a, "samples_a"), _as_matrix(samples_b, "samples_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"samples_a and samples_b differ in dimension: {a.shape[1]} vs {b.shape[1]}."
        )
    data = jnp.concatenate([a, b])
    labels = jnp.concatenate([jnp.zeros(a.shape[0]), jnp.ones(b.shape[0])]).astype(data.dtype)
    folds, num = int(num_folds), data.shape[0]
    if folds < 2 or num < 2 * folds or a.shape[0] < 2:
        raise ValueError(
            f"num_folds must be >= 2 with at least 2 rows per fold and 2 reference rows; got "
            f"num_folds={num_folds} for {a.shape[0]} + {b.shape[0]} samples."
        )
    if z_score:
        data = Standardizer.fit(a)(data)
    k_split, k_init, k_fit = jax.random.split(rng_key, 3)
    size = num // folds
    idx = jax.random.permutation(k_split, num)[:folds * size].reshape(folds, size)
    train_idx = jnp.stack([jnp.concatenate([idx[:f], idx[f + 1:]]).ravel() for f in range(folds)])
    dim = data.shape[1]
    steps = max(1, num_epochs * math.ceil(train_idx.shape[1] / batch_size))
    optimizer = optax.adam(learning_rate)

    def loss(params, key, batch):
        u, y = batch
        logits = apply_mlp(params, u, jax.nn.relu)[:, 0]
        penalty = sum(jnp.sum(w**2) for w, _ in params)
        return (jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y))
                + 0.5 * l2 * penalty / u.shape[0])

    def one_fold(k_i, k_f, train, test):
        params = init_mlp(k_i, (dim, 10 * dim, 10 * dim, 1))
        params, _ = fit(k_f, loss, params, (data[train], labels[train]), optimizer, steps,
                        batch_size)
        guess = apply_mlp(params, data[test], jax.nn.relu)[:, 0] > 0
        return jnp.mean(guess == (labels[test] > 0.5))

    accuracies = jax.vmap(one_fold)(jax.random.split(k_init, folds), jax.random.split(k_fit, folds),
                                    train_idx, idx)
    return jnp.where(jnp.any(jnp.isnan(data)), jnp.nan, jnp.mean(accuracies))
