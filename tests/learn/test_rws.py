"""Reweighted wake-sleep losses (``jaxis.RWS``, ``jaxis.MPRWS``) for numpyro SVI.

Oracles, all written here from the samples alone:
- gradients: ``-sum_k w-bar_k d log q(z_k)`` with ``jax.grad`` of the guide's log density
  per sample (global), and the MP posterior over all ``K^n`` index tuples by brute-force
  enumeration (MP); model parameters get ``-d log P-hat``;
- convergence: analytic Gaussian posteriors, and the exact posterior of a Bernoulli latent
  by enumeration of its two values. At the exact posterior every importance weight equals
  ``Z``, so it is an exact fixed point of the wake-phase update for every K; final
  parameters over vmapped seeds are compared with it to 4 standard errors of the seeds.
"""
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from jax.scipy.special import logsumexp
from numpyro.distributions import constraints
from numpyro.infer import SVI

import jaxis

Y = jnp.array([0.9, 1.7, 0.2])
J = Y.shape[0]
PARAMS = {"m": 0.2, "a": 0.1, "s": 1.2, "b": jnp.array([0.3, -0.2, 0.5]), "t": 0.8}


def hier_model(y):
    """mu ~ N(m, 1); z_j ~ N(mu, 1); y_j ~ N(z_j, 1). ``m`` is a model parameter."""
    mu = numpyro.sample("mu", dist.Normal(numpyro.param("m", 0.0), 1.0))
    with numpyro.plate("n", y.shape[0]):
        z = numpyro.sample("z", dist.Normal(mu, 1.0))
        numpyro.sample("y", dist.Normal(z, 1.0), obs=y)


def hier_guide(y):
    s = numpyro.param("s", 1.0, constraint=constraints.positive)
    numpyro.sample("mu", dist.Normal(numpyro.param("a", 0.0), s))
    t = numpyro.param("t", 1.0, constraint=constraints.positive)
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("z", dist.Normal(numpyro.param("b", jnp.zeros(y.shape[0])), t))


@jax.jit
def tuple_log_weights(mu, z):
    """``log p - log q`` of each tuple of values ``(mu[t], z[t])``."""
    return (jax.vmap(log_p, in_axes=(None, 0, 0))(PARAMS["m"], mu, z)
            - jax.vmap(log_q, in_axes=(None, 0, 0))(PARAMS, mu, z))


def log_q(p, mu, z):
    """log q(mu) + sum_j log q(z_j) for one index tuple: z of shape (J,)."""
    return dist.Normal(p["a"], p["s"]).log_prob(mu) + dist.Normal(p["b"], p["t"]).log_prob(z).sum()


def log_p(m, mu, z):
    """log p(mu, z, y) for one index tuple: z of shape (J,)."""
    return (dist.Normal(m, 1.0).log_prob(mu) + dist.Normal(mu, 1.0).log_prob(z).sum()
            + dist.Normal(z, 1.0).log_prob(Y).sum())


@functools.partial(jax.jit, static_argnums=0)
def loss_and_grad(loss, key):
    return jax.value_and_grad(lambda p: loss.loss(key, p, hier_model, hier_guide, Y))(PARAMS)


@jax.jit
def expected_grads(lw, mu, z):
    """``-sum_t w-bar_t d log q`` (guide) and ``-sum_t w-bar_t d log p`` (model) over the
    tuples ``t`` of values ``(mu[t], z[t])`` with log weights ``lw``."""
    post = jax.nn.softmax(lw)
    g_q = jax.vmap(jax.grad(log_q), in_axes=(None, 0, 0))(PARAMS, mu, z)
    g_p = jax.vmap(jax.grad(log_p), in_axes=(None, 0, 0))(PARAMS["m"], mu, z)
    guide = {n: -jnp.tensordot(post, g, axes=1) for n, g in g_q.items()}
    return guide, -jnp.dot(post, g_p)


def assert_grads(grad, guide, model):
    for name in ("a", "s", "b", "t"):
        np.testing.assert_allclose(grad[name], guide[name], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grad["m"], model, rtol=1e-4, atol=1e-6)


def test_mp_rws_gradient_is_minus_the_mp_posterior_mean_of_d_log_q():
    K, key = 3, jax.random.PRNGKey(0)
    value, grad = loss_and_grad(jaxis.MPRWS(K=K), key)
    s = jaxis.mpis(hier_model, hier_guide, K=K, params=PARAMS)(key, Y).samples
    # every index tuple (k_mu, k_z1, ..., k_zJ): z_j has its own K draws per plate element
    tuples = np.array(list(itertools.product(range(K), repeat=1 + J)))
    mu, z = s["mu"][tuples[:, 0]], s["z"][tuples[:, 1:], np.arange(J)]  # (T,), (T, J)
    lw = tuple_log_weights(mu, z) - (1 + J) * np.log(K)
    np.testing.assert_allclose(value, -logsumexp(lw), rtol=1e-5)
    assert_grads(grad, *expected_grads(lw, mu, z))


def test_global_rws_gradient_is_minus_the_self_normalised_mean_of_d_log_q():
    K, key = 5, jax.random.PRNGKey(1)
    value, grad = loss_and_grad(jaxis.RWS(K=K), key)
    sub = numpyro.handlers.substitute(hier_guide, data=PARAMS)
    draw = lambda k: numpyro.handlers.trace(numpyro.handlers.seed(sub, k)).get_trace(Y)
    draws = [draw(k) for k in jax.random.split(key, K)]  # global IS draws sample k so
    mu = jnp.stack([d["mu"]["value"] for d in draws])
    z = jnp.stack([d["z"]["value"] for d in draws])
    lw = tuple_log_weights(mu, z)
    np.testing.assert_allclose(value, -(logsumexp(lw) - np.log(K)), rtol=1e-5)
    assert_grads(grad, *expected_grads(lw, mu, z))


@pytest.mark.parametrize("cls", [jaxis.RWS, jaxis.MPRWS])
def test_loss_value_is_the_bound_and_model_gradient_is_the_bounds(cls):
    """Value and model-parameter gradient equal those of the IS bound at the same draws."""
    bound = {jaxis.RWS: jaxis.IWELBO, jaxis.MPRWS: jaxis.MPELBO}[cls]
    keys = jax.random.split(jax.random.PRNGKey(2), 8)
    f = lambda loss: jax.vmap(lambda k: loss_and_grad(loss, k))(keys)
    (v, g), (vb, gb) = f(cls(K=4)), f(bound(K=4))
    np.testing.assert_allclose(v, vb, rtol=1e-6)
    np.testing.assert_allclose(g["m"], gb["m"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(g["a"], gb["a"])  # the guide update is not the bound's


# --- convergence to exact posteriors --------------------------------------------------

def train(loss, model, guide, args, steps=800, lr=0.05, seeds=32):
    """Final constrained params of ``seeds`` vmapped SVI runs (Adam, decaying rate)."""
    svi = SVI(model, guide, optax.adam(optax.exponential_decay(lr, steps, 0.02)), loss=loss)

    def one(key):
        state = svi.init(key, *args)
        state, _ = jax.lax.scan(lambda st, _: (svi.update(st, *args)[0], None), state,
                                None, length=steps)
        return svi.get_params(state)

    return jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(7), seeds))


def assert_at(final, target, what):
    x = np.asarray(final)
    se = x.std(0) / np.sqrt(x.shape[0])
    assert np.all(np.isfinite(x)), what
    assert np.all(np.abs(x.mean(0) - target) < 4 * se + 1e-6), (what, x.mean(0), target, se)


def indep_model(y0, y):
    """mu ~ N(0, 1), y0_i ~ N(mu, 1); z_j ~ N(0, 1), y_j ~ N(z_j, 1): the posterior
    factorises, so a mean-field Normal guide can be it and MP differs from global IS."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("i", y0.shape[0]):
        numpyro.sample("y0", dist.Normal(mu, 1.0), obs=y0)
    with numpyro.plate("n", y.shape[0]):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(z, 1.0), obs=y)


def indep_guide(y0, y):
    s = numpyro.param("s", 1.0, constraint=constraints.positive)
    numpyro.sample("mu", dist.Normal(numpyro.param("a", 0.0), s))
    t = numpyro.param("t", jnp.ones(y.shape[0]), constraint=constraints.positive)
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("z", dist.Normal(numpyro.param("b", jnp.zeros(y.shape[0])), t))


@pytest.mark.slow
@pytest.mark.parametrize("loss", [jaxis.RWS(K=10), jaxis.MPRWS(K=10)], ids=["RWS", "MPRWS"])
def test_rws_drives_a_normal_guide_to_the_analytic_posterior(loss):
    y0 = jnp.array([0.9, 1.7, 0.2, 1.1])
    final = train(loss, indep_model, indep_guide, (y0, Y))
    n = y0.shape[0]
    assert_at(final["a"], float(y0.sum()) / (1 + n), "mu mean")
    assert_at(final["s"], (1 + n) ** -0.5, "mu sd")
    assert_at(final["b"], np.asarray(Y) / 2, "z means")
    assert_at(final["t"], np.full(J, 2 ** -0.5), "z sds")


def discrete_model(y):
    z = numpyro.sample("z", dist.Bernoulli(0.3))
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Normal(2.0 * z, 1.0), obs=y)


def discrete_guide(y):
    p = numpyro.param("p", 0.5, constraint=constraints.unit_interval)
    numpyro.sample("z", dist.Bernoulli(probs=p))


@pytest.mark.slow
@pytest.mark.parametrize("loss", [jaxis.RWS(K=10), jaxis.MPRWS(K=10)], ids=["RWS", "MPRWS"])
def test_rws_learns_a_discrete_guide_to_the_enumerated_posterior(loss):
    y = jnp.array([1.2, 0.4])
    joint = [np.log(p) + dist.Normal(2.0 * v, 1.0).log_prob(y).sum()
             for v, p in ((0.0, 0.7), (1.0, 0.3))]
    exact = float(jax.nn.softmax(jnp.array(joint))[1])
    final = train(loss, discrete_model, discrete_guide, (y,))
    assert_at(final["p"], exact, "P(z=1 | y)")


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="K must be a positive integer"):
        jaxis.MPRWS(K=0)
    with pytest.raises(ValueError, match="SVI needs a guide"):
        jaxis.RWS(K=3).loss(jax.random.PRNGKey(0), {}, hier_model, None, Y)
