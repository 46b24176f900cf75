"""The slcp task: likelihood against scipy, simulator against the likelihood, sbibm's
observations against their true parameters, the reference posterior against NUTS.

Monte Carlo comparisons use 4 standard errors computed from the draws.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import log_density
from scipy import stats

from jaxis.sbi import tasks

K_SE = 4.0


def covariance(t):
    """sbibm's S from theta, written from its definition (not the task code)."""
    s1, s2, rho = t[2] ** 2, t[3] ** 2, math.tanh(t[4])
    return np.array([[s1**2 + 1e-6, rho * s1 * s2], [rho * s1 * s2, s2**2 + 1e-6]])


def scipy_log_lik(t, x):
    return stats.multivariate_normal(t[:2], covariance(t)).logpdf(x.reshape(4, 2)).sum()


def test_model_log_density_matches_scipy():
    task = tasks.get("slcp")
    key_t, key_x = jax.random.split(jax.random.PRNGKey(0))
    theta = task.sample_prior(key_t, 5)
    x = task.simulate(key_x, theta)
    joint = jax.vmap(lambda t, v: log_density(task.model, (), {"x": v}, {"theta": t})[0])
    expected = [-5 * math.log(6.0) + scipy_log_lik(np.asarray(t), np.asarray(v))
                for t, v in zip(theta, x)]
    np.testing.assert_allclose(joint(theta, x), expected, rtol=1e-6)


def test_simulated_moments_match_the_likelihood():
    """40,000 simulations at observation 3's parameters: the four points' means and
    (co)variances are (m, S) of the likelihood."""
    task = tasks.get("slcp")
    t = task.true_parameters(3)
    x = task.simulate(jax.random.PRNGKey(1), jnp.broadcast_to(t, (40_000, 5)))
    points = np.asarray(x).reshape(-1, 4, 2)
    m, s = np.asarray(t[:2]), covariance(np.asarray(t))
    d = points - m
    for values, expected in ((points, m), (d[..., 0] ** 2, s[0, 0]), (d[..., 1] ** 2, s[1, 1]),
                             (d[..., 0] * d[..., 1], s[0, 1])):
        mean, se = values.mean(0), values.std(0) / math.sqrt(values.shape[0])
        np.testing.assert_array_less(np.abs(mean - expected), K_SE * se)

def test_observations_are_consistent_with_their_true_parameters():
    """Transcription check: the Mahalanobis distances of each observation's four points
    under its true parameters are chi-square with 8 degrees of freedom (80 over all ten)."""
    task = tasks.get("slcp")
    alpha, total = 1e-6, 0.0
    for i in range(1, 11):
        t, x = np.asarray(task.true_parameters(i)), np.asarray(task.observation(i))
        d = x.reshape(4, 2) - t[:2]
        stat = float(np.einsum("ni,ij,nj->", d, np.linalg.inv(covariance(t)), d))
        assert stat < stats.chi2.isf(alpha, 8), i
        total += stat
    assert stats.chi2.ppf(alpha, 80) < total < stats.chi2.isf(alpha, 80)


def folded(draws):
    """(theta_1, theta_2, |theta_3|, |theta_4|, theta_5): the posterior is symmetric in the
    signs of theta_3 and theta_4."""
    return np.concatenate([draws[:, :2], np.abs(draws[:, 2:4]), draws[:, 4:]], axis=1)


def test_reference_posterior_is_symmetric_and_inside_the_box():
    task = tasks.get("slcp")
    draws = np.asarray(task.reference_posterior(jax.random.PRNGKey(2), 3, 2000))
    assert draws.shape == (2000, 5) and np.all(np.abs(draws) <= 3.0)
    assert len(np.unique(draws, axis=0)) == 2000  # distinct: no resampling duplicates
    for col in (2, 3):  # each sign has probability 1/2
        share = np.mean(draws[:, col] > 0)
        assert abs(share - 0.5) < K_SE * math.sqrt(0.25 / 2000)


@pytest.mark.slow
@pytest.mark.parametrize("i", [1, 4, 10])
def test_reference_posterior_matches_nuts(i):
    """NUTS (8 chains) on the folded posterior, an independent sampler with the same
    likelihood, against 20,000 reference draws: first and second moments of each
    coordinate within 4 combined standard errors (NUTS's from its effective sample size)."""
    task = tasks.get("slcp")
    x = task.observation(i)
    low = jnp.array([-3.0, -3.0, 0.0, 0.0, -3.0])

    def model():
        theta = numpyro.sample("theta", dist.Uniform(low, 3.0).to_event(1))
        numpyro.factor("lik", task.log_likelihood(theta, x))

    mcmc = MCMC(NUTS(model), num_warmup=1000, num_samples=2500, num_chains=8,
                chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(3))
    chains = np.asarray(mcmc.get_samples(group_by_chain=True)["theta"])
    ref = folded(np.asarray(task.reference_posterior(jax.random.PRNGKey(4), i, 20_000)))
    for f in (lambda v: v, lambda v: v**2):
        values = f(chains)
        ess = numpyro.diagnostics.effective_sample_size(values)
        se_nuts = values.reshape(-1, 5).std(0) / np.sqrt(ess)
        se_ref = f(ref).std(0) / math.sqrt(ref.shape[0])
        diff = np.abs(values.reshape(-1, 5).mean(0) - f(ref).mean(0))
        np.testing.assert_array_less(diff, K_SE * np.sqrt(se_nuts**2 + se_ref**2))


def test_likelihood_under_jit_vmap_and_grad():
    """The score by jax.grad against central differences; the density vmapped over data."""
    task = tasks.get("slcp")
    theta, x, h = task.true_parameters(6), task.observation(6), 1e-6
    score = jax.jit(jax.grad(task.log_likelihood))(theta, x)
    central = [(task.log_likelihood(theta + h * e, x) - task.log_likelihood(theta - h * e, x))
               / (2 * h) for e in jnp.eye(5)]
    np.testing.assert_allclose(score, central, rtol=1e-5)
    xs = jnp.stack([task.observation(i) for i in (1, 2, 3)])
    got = jax.vmap(task.log_likelihood, (None, 0))(theta, xs)
    np.testing.assert_allclose(got, [scipy_log_lik(np.asarray(theta), np.asarray(v)) for v in xs],
                               rtol=1e-8)
