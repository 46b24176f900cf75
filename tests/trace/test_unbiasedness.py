"""The MP estimate is unbiased: E[Z-hat / Z] = 1, for children of 1, 2 and 3 proposal parents.

Z is exact (closed form, or 1-D quadrature after integrating the location parent out
analytically). Z-hat / Z is averaged over 20,000 vmapped seeds and compared with 1 within
4 Monte Carlo standard errors computed from the same runs. That tolerance needs a finite
variance, so each test first checks that the Pareto k-hat of the ratios is below 0.5.
The proposal is the prior (``guide=None``): a child's proposal depends on all its parents.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from scipy import integrate, stats

import jaxis

SEEDS = 20_000
SIGMA = 0.5
Y = np.array([0.4, 1.3, -0.2])


def one_parent(y):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    with numpyro.plate("p", y.shape[0]):
        c = numpyro.sample("c", dist.Normal(a, 1.0))
        numpyro.sample("y", dist.Normal(c, SIGMA), obs=y)


def two_parents(y):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.HalfNormal(1.0))
    with numpyro.plate("p", y.shape[0]):
        c = numpyro.sample("c", dist.Normal(a, b))
        numpyro.sample("y", dist.Normal(c, SIGMA), obs=y)


def three_parents(y):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.LogNormal(0.0, 0.5))
    d = numpyro.sample("d", dist.Bernoulli(0.5))
    with numpyro.plate("p", y.shape[0]):
        c = numpyro.sample("c", dist.Normal(a + 1.5 * d, b))
        numpyro.sample("y", dist.Normal(c, SIGMA), obs=y)


def _log_lik(scale: float, shift: float) -> float:
    """log p(y | b=scale, d) with a ~ N(0, 1) and c integrated out: y ~ N(shift, 11' + V)."""
    n = Y.size
    cov = np.ones((n, n)) + (scale**2 + SIGMA**2) * np.eye(n)
    return stats.multivariate_normal.logpdf(Y, shift * np.ones(n), cov)


def _over_scale(prior, shift: float) -> float:
    """p(y | d) = int prior(b) p(y | b, d) db by adaptive quadrature."""
    f = lambda b: prior.pdf(b) * np.exp(_log_lik(b, shift))
    return integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-11)[0]


HALF_NORMAL, LOG_NORMAL = stats.halfnorm(), stats.lognorm(0.5)
EXACT = {
    "one_parent": lambda: _log_lik(1.0, 0.0),
    "two_parents": lambda: np.log(_over_scale(HALF_NORMAL, 0.0)),
    "three_parents": lambda: np.log(0.5 * _over_scale(LOG_NORMAL, 0.0)
                                    + 0.5 * _over_scale(LOG_NORMAL, 1.5)),
}
EXACT["three_parents_sampled"] = EXACT["three_parents"]
# ``d`` is enumerated by default (support 2 <= K); "_sampled" draws it as a proposal parent
MODELS = {"one_parent": one_parent, "two_parents": two_parents, "three_parents": three_parents,
          "three_parents_sampled": three_parents}


@functools.lru_cache(maxsize=None)
def _log_z_hat(name: str, K: int) -> np.ndarray:
    mode = "marked" if name.endswith("_sampled") else "auto"
    run = jaxis.mpis(MODELS[name], K=K, enumerate=mode)
    f = jax.jit(jax.vmap(lambda k: jaxis.log_evidence(run(k, jnp.asarray(Y)))))
    return np.asarray(f(jax.random.split(jax.random.PRNGKey(K), SEEDS)))


def _pareto_khat(log_r: np.ndarray) -> float:
    import arviz as az

    return float(az.psislw(log_r - log_r.max())[1])


# three_parents (d enumerated) at K=2: Pareto k-hat of Z-hat / Z is 0.67 (measured), too
# heavy-tailed for a standard-error test; from K=3 it is 0.38.
@pytest.mark.slow
@pytest.mark.parametrize("name, K", [(n, K) for n in sorted(MODELS)
                                     for K in ((3, 4) if n == "three_parents" else (2, 4))])
def test_expected_ratio_to_the_exact_evidence_is_one(name, K):
    log_r = _log_z_hat(name, K) - EXACT[name]()
    assert _pareto_khat(log_r) < 0.5, "ratios too heavy-tailed for a standard-error test"
    r = np.exp(log_r)
    se = r.std(ddof=1) / np.sqrt(r.size)
    assert abs(r.mean() - 1.0) < 4 * se, (r.mean(), se)


SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(y, sigma):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", y.shape[0]):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def _schools_exact():
    """log Z, E[tau | y] and E[mu | y] by quadrature over tau (mu, theta integrated out)."""
    y, s = SCHOOLS_Y, SCHOOLS_SIGMA

    def lik(tau):  # p(y | tau) * HalfCauchy(tau; 5), scaled by e^31 to stay in range
        cov = 25.0 * np.ones((8, 8)) + np.diag(tau**2 + s**2)
        return 2 * stats.cauchy.pdf(tau, 0, 5) * np.exp(
            stats.multivariate_normal.logpdf(y, np.zeros(8), cov) + 31.0)

    def mu_mean(tau):  # E[mu | y, tau]: Gaussian prior N(0, 25), precision-weighted data
        v = tau**2 + s**2
        return np.sum(y / v) / (1 / 25.0 + np.sum(1 / v))

    quad = lambda f: integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-10, limit=200)[0]
    z = quad(lik)
    return np.log(z) - 31.0, quad(lambda t: t * lik(t)) / z, quad(lambda t: mu_mean(t) * lik(t)) / z


@pytest.mark.slow
def test_eight_schools_prior_proposal_against_quadrature():
    """Eight schools, guide=None: theta's proposal depends on two parents (mu, tau).

    Z-hat / Z has Pareto k-hat ~0.7 here (the HalfCauchy prior proposes tiny tau, and
    off-tuple parent combinations then get large weights): its variance is infinite, so
    a standard-error test of E[Z-hat / Z] = 1 is invalid and is not made. Instead:
    Jensen's bound E[log Z-hat] <= log Z must hold (the grid mixture broke it: -29.46
    against -31.31 at K=10), and log Z-hat, E[tau] and E[mu] approach quadrature as K grows.
    """
    log_z, tau, mu = _schools_exact()
    args = (jnp.asarray(SCHOOLS_Y), jnp.asarray(SCHOOLS_SIGMA))

    def stats_at(K, n):
        run = jaxis.mpis(eight_schools, K=K)

        def one(key):
            mpt = run(key, *args)
            m = jaxis.moments(mpt, {"tau": lambda v: v, "mu": lambda v: v})
            return jnp.stack([jaxis.log_evidence(mpt), m["tau"], m["mu"]])

        out = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(K), n)))
        return out.mean(0), out.std(0, ddof=1) / np.sqrt(n)

    (lz10, tau10, mu10), (se_lz10, se_tau10, se_mu10) = stats_at(10, 2000)
    assert lz10 < log_z + 3 * se_lz10
    (lz30, tau30, mu30), (se_lz30, se_tau30, se_mu30) = stats_at(30, 400)
    assert lz30 < log_z + 3 * se_lz30
    assert log_z - lz30 < (log_z - lz10) - 3 * np.hypot(se_lz10, se_lz30)
    assert abs(tau30 - tau) < abs(tau10 - tau) - 3 * np.hypot(se_tau10, se_tau30)
    assert abs(mu30 - mu) < abs(mu10 - mu) - 3 * np.hypot(se_mu10, se_mu30)
