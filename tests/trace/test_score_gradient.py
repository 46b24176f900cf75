"""Unbiased gradients of Z-hat through sampled, non-reparameterised latents.

As in Pyro's TMC tests (``tests/infer/test_tmc.py``): ``jax.grad`` of
``exp(log_evidence)`` averaged over seeds must equal the exact ``dZ``, here computed by
enumeration / in closed form written in the test. Before the score-function term the
gradient with respect to a discrete prior's parameters was exactly 0.
"""
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import jaxis

SEEDS = 10_000
Z_SE = 4.0
DEPTH = 3


def categorical_chain(logits0, logits, y_logits):
    """x_0 -> x_1 -> x_2 categoricals (2 states), one Bernoulli observation of the last."""
    x = numpyro.sample("x0", dist.Categorical(logits=logits0))
    for i in range(1, DEPTH):
        x = numpyro.sample(f"x{i}", dist.Categorical(logits=logits[i - 1][x]))
    numpyro.sample("y", dist.Bernoulli(logits=y_logits[x]), obs=1.0)


def _exact_z(logits0, logits, y_logits):
    """Sum over all 2^DEPTH paths, independently of jaxis."""
    p0 = jax.nn.softmax(logits0)
    trans = jax.nn.softmax(logits, axis=-1)
    total = 0.0
    for path in itertools.product(range(2), repeat=DEPTH):
        p = p0[path[0]]
        for i in range(1, DEPTH):
            p = p * trans[i - 1, path[i - 1], path[i]]
        total = total + p * jax.nn.sigmoid(y_logits[path[-1]])
    return total


PARAMS = (jnp.array([0.3, -0.2]), jnp.array([[[1.0, -0.5], [0.2, 0.4]], [[-0.3, 0.6], [0.9, -1.1]]]),
          jnp.array([1.2, -0.7]))


def _check_mean(grads, expected):
    for g, e in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(expected)):
        g = np.asarray(g)
        mean, se = g.mean(0), g.std(0, ddof=1) / np.sqrt(g.shape[0])
        assert np.all(np.abs(mean - e) < Z_SE * se + 1e-12), (mean, e, se)


def test_sampled_categorical_chain_gradient_unbiased():
    K = 3
    run = jaxis.mpis(categorical_chain, K=K, enumerate="marked")  # sampled, not enumerated

    def z_hat(params, key):
        return jnp.exp(jaxis.log_evidence(run(key, *params)))

    keys = jax.random.split(jax.random.PRNGKey(K), SEEDS)
    grads = jax.jit(jax.vmap(jax.grad(z_hat), in_axes=(None, 0)))(PARAMS, keys)
    expected = jax.grad(_exact_z, argnums=(0, 1, 2))(*PARAMS)
    assert all(np.abs(e).max() > 1e-3 for e in expected)  # not a vacuous comparison
    _check_mean(grads, expected)
    value = jax.vmap(z_hat, in_axes=(None, 0))(PARAMS, keys)
    assert abs(value.mean() - _exact_z(*PARAMS)) < Z_SE * value.std() / np.sqrt(SEEDS)


class NonreparamNormal(dist.Normal):
    """A Normal without a pathwise gradient (like Pyro's NonreparameterizedNormal)."""

    reparametrized_params = []


def normal_chain(q, reparam: bool):
    Normal = dist.Normal if reparam else NonreparamNormal
    x = numpyro.sample("x0", Normal(q, math.sqrt(0.5)))
    x = numpyro.sample("x1", Normal(x, math.sqrt(0.5)))
    numpyro.sample("y", dist.Normal(x, 1.0), obs=1.0)


@pytest.mark.parametrize("reparam", [True, False])
def test_normal_chain_gradient_unbiased_with_and_without_reparameterisation(reparam):
    q = 0.5  # y ~ N(q, 2): Z = N(1; q, sqrt 2), dZ/dq = Z (1 - q) / 2
    z = math.exp(-0.25 * (1 - q) ** 2) / math.sqrt(4 * math.pi)
    expected = z * (1 - q) / 2
    run = jaxis.mpis(lambda q: normal_chain(q, reparam), K=4)
    grad = jax.grad(lambda q, key: jnp.exp(jaxis.log_evidence(run(key, q))))
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    g = np.asarray(jax.jit(jax.vmap(grad, in_axes=(None, 0)))(q, keys))
    assert abs(g.mean() - expected) < Z_SE * g.std(ddof=1) / np.sqrt(SEEDS), (g.mean(), expected)


def test_score_is_zero_valued_and_absent_for_reparameterised_models():
    mpt = jaxis.mpis(categorical_chain, K=3, enumerate="marked")(jax.random.PRNGKey(0), *PARAMS)
    assert float(mpt.score) == 0.0
    grad = jax.grad(lambda q: jaxis.mpis(lambda q: normal_chain(q, True), K=3)(
        jax.random.PRNGKey(0), q).score)(0.5)
    assert float(grad) == 0.0
