"""arviz export: posterior, log_likelihood, observed_data and sample_stats; az.loo against a
brute-force PSIS-LOO from a log-likelihood matrix computed here with scipy."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

import jaxis
from tests.tiny_models import plated_hierarchy as model

az = pytest.importorskip("arviz")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # arviz's single-chain notes

Y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
K, N = 20, 400


@pytest.fixture(scope="module")
def fitted():
    mpt = jaxis.mpis(model, K=K)(jax.random.PRNGKey(0), Y)
    idata = jaxis.to_arviz(mpt, num_samples=N, rng_key=jax.random.PRNGKey(1), model=model,
                           args=(Y,))
    return mpt, idata


def _loglik_matrix(theta):
    """log N(y_gi | theta_g, 0.5) for draws theta (N, 2, 1): (N, 2, 3), by scipy."""
    return norm.logpdf(np.asarray(Y)[None], np.asarray(theta), 0.5)


def test_loo_agrees_with_brute_force_psis_loo(fitted):
    _, idata = fitted
    theta = idata.posterior["theta"].values[0]
    loglik = _loglik_matrix(theta)
    np.testing.assert_allclose(idata.log_likelihood["y"].values[0], loglik, rtol=1e-5,
                               atol=1e-5)
    # PSIS-LOO by hand: smoothed weights of 1 / p(y_i | z_n) per observation, then
    # elpd_i = log sum_n wbar_in p(y_i | z_n); one chain of independent draws: reff = 1
    per_obs = loglik.reshape(N, -1).T                       # (6 observations, N draws)
    lw, khat = az.psislw(-per_obs, reff=1.0)
    elpd_i = logsumexp(lw + per_obs, axis=1)
    loo = az.loo(idata, pointwise=True)
    np.testing.assert_allclose(loo.loo_i.values.ravel(), elpd_i, rtol=1e-5)
    np.testing.assert_allclose(loo.elpd_loo, elpd_i.sum(), rtol=1e-5)
    np.testing.assert_allclose(loo.pareto_k.values.ravel(), khat, rtol=1e-5)
    waic = az.waic(idata, pointwise=True)
    lppd = logsumexp(per_obs, axis=1) - np.log(N)
    p_waic = np.var(per_obs, axis=1)  # arviz: the variance over draws with ddof=0
    np.testing.assert_allclose(waic.elpd_waic, np.sum(lppd - p_waic), rtol=1e-5)


def test_groups_shapes_dims_and_importance_stats(fitted):
    mpt, idata = fitted
    assert set(idata.groups()) == {"posterior", "log_likelihood", "observed_data",
                                   "sample_stats"}
    post = idata.posterior
    assert post["mu"].shape == (1, N) and post["theta"].shape == (1, N, 2, 1)
    assert post["theta"].dims[:3] == ("chain", "draw", "groups")
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "groups", "data")
    np.testing.assert_array_equal(idata.observed_data["y"].values, np.asarray(Y))
    stats = idata.sample_stats
    np.testing.assert_allclose(stats["log_evidence"].values,
                               np.full((1, N), float(jaxis.log_evidence(mpt))), rtol=1e-6)
    np.testing.assert_allclose(stats["importance_ess"].values[0, 0], jaxis.mp_ess(mpt),
                               rtol=1e-6)
    per_site = jaxis.ess(mpt)
    np.testing.assert_allclose(stats["importance_ess_theta"].values[0, 0], per_site["theta"],
                               rtol=1e-6)
    # the draws hold at most K distinct values of mu; the importance ESS stays within K
    # while arviz's MCMC ESS of the same draws counts the N repeats as if independent
    assert len(np.unique(post["mu"].values)) <= K
    assert 1.0 <= float(stats["importance_ess_mu"].values[0, 0]) <= K
    summary = az.summary(idata, kind="stats")
    np.testing.assert_allclose(summary.loc["mu", "mean"], post["mu"].values.mean(), atol=1e-3)


def test_given_draws_are_exported_as_they_are():
    mpt = jaxis.mpis(model, K=5)(jax.random.PRNGKey(2), Y)
    draws = jaxis.sample_posterior(jax.random.PRNGKey(3), mpt, num_samples=50)
    idata = jaxis.to_arviz(mpt, draws)
    assert set(idata.groups()) == {"posterior", "sample_stats"}
    np.testing.assert_array_equal(idata.posterior["theta"].values[0], np.asarray(draws["theta"]))
    # drawing inside to_arviz is sample_posterior with the same key
    same = jaxis.to_arviz(mpt, num_samples=50, rng_key=jax.random.PRNGKey(3))
    np.testing.assert_array_equal(same.posterior["mu"].values[0], np.asarray(draws["mu"]))


def _prior_weighted_samples(num):
    k1, k2 = jax.random.split(jax.random.PRNGKey(4))
    mu = jax.random.normal(k1, (num,))
    theta = mu[:, None, None] + jax.random.normal(k2, (num, 2, 1))
    log_lik = _loglik_matrix(theta).sum(axis=(1, 2))       # proposal = prior
    return jaxis.WeightedSamples.from_log_ratios({"mu": mu, "theta": theta}, log_lik)


def test_weighted_samples_are_resampled_by_their_weights():
    ws = _prior_weighted_samples(300)
    idata = jaxis.to_arviz(ws, num_samples=200, rng_key=jax.random.PRNGKey(5), model=model,
                           args=(Y,))
    post = idata.posterior
    assert post["theta"].shape == (1, 200, 2, 1)
    assert post["theta"].dims[:3] == ("chain", "draw", "groups")  # from numpyro's plates
    assert np.all(np.isin(post["mu"].values, np.asarray(ws.samples["mu"])))
    np.testing.assert_allclose(idata.sample_stats["importance_ess"].values[0, 0], ws.ess(),
                               rtol=1e-6)
    np.testing.assert_allclose(idata.sample_stats["log_evidence"].values[0, 0],
                               ws.log_evidence(), rtol=1e-6)
    np.testing.assert_allclose(idata.log_likelihood["y"].values[0],
                               _loglik_matrix(post["theta"].values[0]), rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isfinite(az.loo(idata).elpd_loo)


def test_equally_weighted_samples_are_exported_as_they_are():
    samples = {"mu": jnp.linspace(-1.0, 1.0, 7)}
    idata = jaxis.to_arviz(jaxis.WeightedSamples.from_posterior(samples))
    np.testing.assert_array_equal(idata.posterior["mu"].values[0], np.asarray(samples["mu"]))


@pytest.fixture(scope="module")
def small():
    mpt = jaxis.mpis(model, K=3)(jax.random.PRNGKey(6), Y)
    return mpt, jaxis.sample_posterior(jax.random.PRNGKey(7), mpt, num_samples=5)


@pytest.mark.parametrize("call, error, match", [
    (lambda m, d: jaxis.to_arviz(m), ValueError, "no draws to convert; pass draws="),
    (lambda m, d: jaxis.to_arviz(m, num_samples=10), ValueError, "needs rng_key="),
    (lambda m, d: jaxis.to_arviz(m, rng_key=jax.random.PRNGKey(0)), ValueError,
     "needs num_samples="),
    (lambda m, d: jaxis.to_arviz(m, d, rng_key=jax.random.PRNGKey(0), num_samples=3),
     ValueError, "either draws= or rng_key="),
    (lambda m, d: jaxis.to_arviz(m, d, args=(Y,)), ValueError, "pass model= too"),
    (lambda m, d: jaxis.to_arviz(m, d, model=model, args=Y), TypeError,
     r"args must be a tuple"),
    (lambda m, d: jaxis.to_arviz(m, d, model=model, args=(Y,), log_likelihood={"y": d["mu"]}),
     ValueError, "not both"),
    (lambda m, d: jaxis.to_arviz(m, {"mu": d["mu"]}, model=model, args=(Y,)), ValueError,
     r"latent site\(s\) \['theta'\] that have no draws"),
    (lambda m, d: jaxis.to_arviz(m, {**d, "y": jnp.zeros((5, 2, 3))}, model=model, args=(Y,)),
     ValueError, r"observed site\(s\) \['y'\]"),
    (lambda m, d: jaxis.to_arviz(d), TypeError, "result must be an MPTrace"),
    (lambda m, d: jaxis.to_arviz(_prior_weighted_samples(5), d), ValueError,
     "draws= is for an MPTrace"),
    (lambda m, d: jaxis.to_arviz(_prior_weighted_samples(5)), ValueError,
     "unequal weights.*Pass rng_key="),
    (lambda m, d: jaxis.to_arviz(_prior_weighted_samples(5), rng_key=jax.random.PRNGKey(0),
                                 num_samples=0), ValueError, "num_samples"),
])
def test_bad_input_names_the_argument_and_the_fix(small, call, error, match):
    with pytest.raises(error, match=match):
        call(*small)
