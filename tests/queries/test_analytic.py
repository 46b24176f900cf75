"""MP IS against closed forms: a conjugate Gaussian hierarchy and Beta-Bernoulli.

Tolerances are k standard errors computed from the repeated runs in the test.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import betaln

import jaxis
from jaxis.models import gaussian_hierarchy as gh

R = 40  # repeated runs
Y = gh.synthetic(jax.random.PRNGKey(11), groups=6, observations=4)
EXACT_Z = float(gh.exact_log_evidence(Y))
EXACT_MU, SD_MU = (float(v) for v in gh.exact_posterior_mu(Y))
KEYS = jax.random.split(jax.random.PRNGKey(0), R)


@functools.lru_cache(maxsize=None)
def _mp(K):
    run = jaxis.mpis(gh.model, K=K)

    def f(key):
        mpt = run(key, Y)
        w = jaxis.marginals(mpt, ["mu"])["mu"]
        return (jaxis.log_evidence(mpt), jaxis.moments(mpt, {"mu": lambda v: v})["mu"],
                1.0 / jnp.sum(w**2))

    return [np.asarray(v) for v in jax.jit(jax.vmap(f))(KEYS)]


def test_mp_evidence_is_unbiased():
    """E[P_MP / p(y)] = 1: the mean ratio is within 4 s.e. of 1."""
    lz, _, _ = _mp(20)
    ratio = np.exp(lz - EXACT_Z)
    se = ratio.std(ddof=1) / np.sqrt(R)
    assert abs(ratio.mean() - 1.0) < 4 * se + 1e-12, (ratio.mean(), se)
    # and log Z is close: its error is within 4 s.e. of the Jensen gap estimate -Var/2
    gap = -0.5 * ratio.var(ddof=1)
    assert abs(lz.mean() - EXACT_Z - gap) < 4 * lz.std(ddof=1) / np.sqrt(R) + abs(gap)


def test_mp_posterior_mean_within_ess_standard_errors():
    """Each run's E[mu] is within a few posterior sd / sqrt(ESS) (RMS of z below 3).

    Self-normalised IS is biased at O(1/ESS) (here the posterior sits 1.6 prior sd from the
    prior proposal), so the error must also fall with K: RMSE at K=100 below 0.6x K=20.
    """
    _, mu, ess = _mp(100)
    z = (mu - EXACT_MU) / (SD_MU / np.sqrt(ess))
    assert np.sqrt(np.mean(z**2)) < 3.0, z
    rmse = lambda K: np.sqrt(np.mean((_mp(K)[1] - EXACT_MU) ** 2))
    assert rmse(100) < 0.6 * rmse(20)


def test_mp_far_more_accurate_than_global_is():
    lz_mp, mu_mp, _ = _mp(20)
    run = jaxis.global_is(gh.model, K=20)
    f = jax.jit(jax.vmap(lambda k: (lambda ws: (ws.log_evidence(), ws.moments({"mu": lambda v: v})["mu"]))(run(k, Y))))
    lz_g, mu_g = (np.asarray(v) for v in f(KEYS))
    # root mean squared error of log Z: MP under half of global IS at the same K
    assert np.mean((lz_mp - EXACT_Z) ** 2) < 0.25 * np.mean((lz_g - EXACT_Z) ** 2)
    assert np.mean((mu_mp - EXACT_MU) ** 2) < 0.5 * np.mean((mu_g - EXACT_MU) ** 2)


def test_mp_error_shrinks_with_K():
    err5 = np.mean((_mp(5)[0] - EXACT_Z) ** 2)
    err100 = np.mean((_mp(100)[0] - EXACT_Z) ** 2)
    assert err100 < 0.2 * err5


def beta_bernoulli(y):
    p = numpyro.sample("p", dist.Beta(2.0, 1.0))
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Bernoulli(probs=p), obs=y)


def test_beta_bernoulli_evidence_and_mean():
    y = jnp.array([0.0] * 3 + [1.0] * 7)
    exact = float(betaln(2 + 7, 1 + 3) - betaln(2, 1))
    assert abs(exact - (-6.897705)) < 1e-6  # the closed form, as quoted in the issue
    run = jaxis.mpis(beta_bernoulli, K=500)
    f = jax.jit(jax.vmap(lambda k: (lambda m: (jaxis.log_evidence(m), jaxis.moments(m, {"p": lambda v: v})["p"]))(run(k, y))))
    lz, mean = (np.asarray(v) for v in f(KEYS))
    ratio = np.exp(lz - exact)
    assert abs(ratio.mean() - 1) < 4 * ratio.std(ddof=1) / np.sqrt(R)
    post_mean, post_sd = 9 / 13, np.sqrt(9 * 4 / (13**2 * 14))
    # each run has ESS of several hundred; its error is well within 4 sd/sqrt(100)
    assert np.all(np.abs(mean - post_mean) < 4 * post_sd / np.sqrt(100))
    assert abs(mean.mean() - post_mean) < 4 * mean.std(ddof=1) / np.sqrt(R) + 1e-3
