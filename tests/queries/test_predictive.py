"""Posterior predictive and predictive log-likelihood."""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.scipy.stats import norm

import jaxis


def normal_normal(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def test_normal_normal_predictive_density():
    train = (jnp.array([0.0, 1.0, 2.0]),)
    full = (jnp.array([0.0, 1.0, 2.0, 3.0]),)
    # posterior N(3/4, 1/4); predictive N(3/4, 5/4) at y=3
    exact = float(norm.logpdf(3.0, 0.75, np.sqrt(1.25)))
    assert abs(exact - (-3.055510)) < 1e-6
    N, K = 4000, 4000
    mpt = jaxis.mpis(normal_normal, K=K)(jax.random.PRNGKey(0), *train)
    est = jaxis.predictive_log_likelihood(jax.random.PRNGKey(1), mpt, normal_normal, train, full, N)
    draws = jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, N)  # for the standard error
    p = np.exp(norm.logpdf(3.0, np.asarray(draws["mu"]), 1.0))
    se = p.std() / np.sqrt(N) / p.mean()
    assert abs(float(est) - exact) < 5 * se + 1e-3, (float(est), exact, se)


def test_predictive_extends_plates_and_keeps_drawn_latents():
    def model(y, n):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        with numpyro.plate("g", n):
            theta = numpyro.sample("theta", dist.Normal(mu, 0.1))
            numpyro.sample("y", dist.Normal(theta, 0.1), obs=y)

    y = jnp.array([1.0, 1.2])
    mpt = jaxis.mpis(model, K=50)(jax.random.PRNGKey(0), y, 2)
    pred = jaxis.predictive(mpt, model, num_samples=200)(jax.random.PRNGKey(1), None, 3)
    assert pred["theta"].shape == (200, 3) and pred["y"].shape == (200, 3)
    draws = jaxis.sample_posterior(jax.random.split(jax.random.PRNGKey(1))[0], mpt, 200)
    np.testing.assert_allclose(pred["theta"][:, :2], draws["theta"])
    # the new group is drawn from the prior given the sampled mu
    z = (pred["theta"][:, 2] - pred["mu"]) / 0.1
    assert abs(float(z.mean())) < 5 / np.sqrt(200) and abs(float(z.std()) - 1) < 0.25


def _extend_model(y, n):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("g", n):
        numpyro.sample("y", dist.Normal(mu, 0.5), obs=y)


def test_predictive_key_at_call_time_matches_the_deprecated_form():
    mpt = jaxis.mpis(_extend_model, K=20)(jax.random.PRNGKey(0), jnp.array([0.4, 0.9]), 2)
    key = jax.random.PRNGKey(3)
    pred = jaxis.predictive(mpt, _extend_model, num_samples=50)
    new = pred(key, None, 4)
    with pytest.warns(DeprecationWarning, match=r"predictive\(mpt, model, num_samples\)\(rng_key"):
        old = jaxis.predictive(key, mpt, _extend_model, num_samples=50)(None, 4)
    assert set(new) == set(old) == {"mu", "y"}
    for site in new:
        np.testing.assert_array_equal(new[site], old[site])
    # the key is used at call time: another key gives other draws of the new observations
    other = pred(jax.random.PRNGKey(4), None, 4)
    assert not np.allclose(other["y"], new["y"])
    # keyword arguments reach the model as in numpyro's Predictive
    by_name = pred(key, y=None, n=4)
    np.testing.assert_array_equal(by_name["y"], new["y"])


def test_predictive_without_a_key_at_call_time_says_where_it_goes():
    mpt = jaxis.mpis(_extend_model, K=5)(jax.random.PRNGKey(0), jnp.array([0.4, 0.9]), 2)
    with pytest.raises(TypeError, match="must be a PRNG key"):
        jaxis.predictive(mpt, _extend_model, 10)(jnp.array([0.4, 0.9]), 2)
    with pytest.raises(TypeError, match="mpt must be an MPTrace"):
        jaxis.predictive(None, _extend_model, 10)


@pytest.fixture(scope="module")
def chimp():
    datasets = pytest.importorskip("jaxis.datasets")
    from jaxis.models import chimpanzees as cm

    try:
        d = datasets.load_chimpanzees()
    except (FileNotFoundError, ValueError) as e:
        pytest.skip(f"paper data not available: {e}")
    keys = ("condition", "prosoc_left", "obs")
    train = tuple(jnp.asarray(d.train[k], jnp.float32) for k in keys)
    full = tuple(jnp.asarray(d.all()[k], jnp.float32) for k in keys)
    return cm, train, full


def test_chimpanzees_predictive_log_likelihood_matches_paper(chimp, float32):
    """Paper (K=5): -70.1 ± 2.7 (mean ± s.e. over 100 runs)."""
    cm, train, full = chimp
    runs = {5: 40, 10: 10}
    res = {}
    for K, R in runs.items():
        run = jaxis.mpis(cm.model, cm.guide, K=K)
        f = jax.jit(jax.vmap(lambda k: jaxis.predictive_log_likelihood(
            k, run(k, *train), cm.model, train, full, 100)))
        res[K] = np.asarray(f(jax.random.split(jax.random.PRNGKey(K), R)))
    se5 = res[5].std(ddof=1) / np.sqrt(runs[5])
    assert abs(res[5].mean() - (-70.1)) < 3 * np.sqrt(se5**2 + 2.7**2), res[5].mean()
    # more samples per latent predict better
    se10 = res[10].std(ddof=1) / np.sqrt(runs[10])
    assert res[10].mean() > res[5].mean() - 3 * np.sqrt(se5**2 + se10**2)


def test_predictive_log_likelihood_from_exact_posterior_draws():
    """Exact posterior draws N(3/4, 1/4) of the normal-normal model: the estimate matches
    the exact predictive density within 5 standard errors."""
    train, full = (jnp.array([0.0, 1.0, 2.0]),), (jnp.array([0.0, 1.0, 2.0, 3.0]),)
    N = 4000
    mu = 0.75 + 0.5 * jax.random.normal(jax.random.PRNGKey(2), (N,))
    est = jaxis.queries.predictive_log_likelihood_from_draws(
        jax.random.PRNGKey(3), {"mu": mu}, normal_normal, train, full)
    p = np.exp(norm.logpdf(3.0, np.asarray(mu), 1.0))
    se = p.std() / np.sqrt(N) / p.mean()
    exact = float(norm.logpdf(3.0, 0.75, np.sqrt(1.25)))
    assert abs(float(est) - exact) < 5 * se, (float(est), exact, se)
