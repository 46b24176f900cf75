"""sbibm tasks: the numpyro model against independent formulas, the simulator against the
likelihood, and the exact reference posteriors against analytic moments or quadrature.

Monte Carlo comparisons use 4 standard errors computed from the draws.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density
from scipy import stats

from jaxis.sbi import tasks

K_SE = 4.0


def within(draws, expected, f=lambda v: v):
    """Sample mean of ``f(draws)`` within K_SE standard errors of ``expected``."""
    values = np.asarray(f(draws))
    mean, se = values.mean(0), values.std(0) / math.sqrt(values.shape[0])
    np.testing.assert_array_less(np.abs(mean - expected), K_SE * se + 1e-12)


def log_gauss(x, mean, var):
    return stats.norm.logpdf(x, mean, math.sqrt(var)).sum(-1)


def formula_log_joint(name, theta, x):
    """log p(theta) + log p(x | theta) written from sbibm's definitions (not the task code)."""
    theta, x = np.asarray(theta), np.asarray(x)
    if name == "gaussian_linear":
        return log_gauss(theta, 0.0, 0.1) + log_gauss(x, theta, 0.1)
    if name == "gaussian_linear_uniform":
        return -10 * math.log(2.0) + log_gauss(x, theta, 0.1)
    if name == "gaussian_mixture":
        mix = np.logaddexp(log_gauss(x, theta, 1.0), log_gauss(x, theta, 0.01)) + math.log(0.5)
        return -2 * math.log(20.0) + mix
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["gaussian_linear", "gaussian_linear_uniform", "gaussian_mixture"])
def test_model_log_density_matches_the_formula(name):
    task = tasks.get(name)
    key_t, key_x = jax.random.split(jax.random.PRNGKey(0))
    theta = task.sample_prior(key_t, 5)
    x = task.simulate(key_x, theta)
    joint = jax.vmap(lambda t, v: log_density(task.model, (), {"x": v}, {"theta": t})[0])
    got = joint(theta, x)
    np.testing.assert_allclose(got, formula_log_joint(name, theta, x), rtol=1e-6)


@pytest.mark.parametrize("name", ["gaussian_linear", "gaussian_linear_uniform", "gaussian_mixture"])
def test_simulated_moments_match_the_likelihood(name):
    task = tasks.get(name)
    theta = task.true_parameters(3)
    x = task.simulate(jax.random.PRNGKey(1), jnp.broadcast_to(theta, (40_000, theta.shape[0])))
    var = 0.1 if name != "gaussian_mixture" else 0.5 * 1.0 + 0.5 * 0.01
    within(x, np.asarray(theta))
    within(x, var, lambda v: (v - theta) ** 2)
    if name == "gaussian_mixture":  # one component index for both coordinates
        within(x, 0.5 * 1.0 + 0.5 * 1e-4, lambda v: jnp.prod((v - theta) ** 2, -1))


def test_observations_are_consistent_with_their_true_parameters():
    """Transcription check, independent of the task code: each sbibm observation is a
    simulation at its true parameters, so the standardised residuals of the Gaussian tasks
    are chi-square and every two_moons residual lies on the crescent (radius 0.1 +- 0.01)."""
    alpha = 1e-6  # per-check false-alarm probability
    for name, var in (("gaussian_linear", 0.1), ("gaussian_linear_uniform", 0.1)):
        task = tasks.get(name)
        stat = sum(float(jnp.sum((task.observation(i) - task.true_parameters(i)) ** 2)) / var
                   for i in range(1, 11))
        assert stats.chi2.ppf(alpha, 100) < stat < stats.chi2.isf(alpha, 100), name
    task = tasks.get("gaussian_mixture")  # either component: within the wide one's range
    for i in range(1, 11):
        d2 = float(jnp.sum((task.observation(i) - task.true_parameters(i)) ** 2))
        assert d2 < stats.chi2.isf(alpha, 2), i
    task = tasks.get("two_moons")
    z_lim = stats.norm.isf(alpha / 2)
    for i in range(1, 11):
        t, x = np.asarray(task.true_parameters(i)), np.asarray(task.observation(i))
        z0, z1 = (t[0] + t[1]) / math.sqrt(2), (t[1] - t[0]) / math.sqrt(2)
        u, v = x[0] + abs(z0) - 0.25, x[1] - z1
        assert u > 0 and abs(math.hypot(u, v) - 0.1) < z_lim * 0.01, i


def test_two_moons_density_is_normalised_and_matches_the_simulator():
    task = tasks.get("two_moons")
    theta = task.true_parameters(1)
    x = task.simulate(jax.random.PRNGKey(2), jnp.broadcast_to(theta, (20_000, 2)))
    lo, hi = np.asarray(x.min(0)) - 0.03, np.asarray(x.max(0)) + 0.03  # the crescent + margin
    h = 5e-4
    g0, g1 = np.arange(lo[0], hi[0], h) + h / 2, np.arange(lo[1], hi[1], h) + h / 2
    grid = jnp.stack(jnp.meshgrid(g0, g1, indexing="ij"), -1).reshape(-1, 2)
    dens = np.exp(np.asarray(task.log_likelihood(theta, grid))) * h * h
    assert abs(dens.sum() - 1.0) < 2e-3
    grid = np.asarray(grid)
    for f in (lambda v: v[..., 0], lambda v: v[..., 1], lambda v: v[..., 0] ** 2,
              lambda v: v[..., 0] * v[..., 1]):
        within(x, (dens * f(grid)).sum() / dens.sum(), f)


def test_gaussian_linear_posterior_is_the_conjugate_one():
    task = tasks.get("gaussian_linear")
    x = np.asarray(task.observation(2))
    var = 1.0 / (1 / 0.1 + 1 / 0.1)
    draws = task.reference_posterior(jax.random.PRNGKey(3), 2, 20_000)
    within(draws, var * x / 0.1)
    mean = var * x / 0.1  # the full covariance: var on the diagonal, 0 off it
    within(draws, var * np.eye(10), lambda v: (v - mean)[:, :, None] * (v - mean)[:, None, :])


def test_gaussian_linear_uniform_posterior_is_the_truncated_normal():
    task = tasks.get("gaussian_linear_uniform")
    x, s = np.asarray(task.observation(3)), math.sqrt(0.1)
    oracle = stats.truncnorm((-1 - x) / s, (1 - x) / s, loc=x, scale=s)
    draws = task.reference_posterior(jax.random.PRNGKey(4), 3, 20_000)
    within(draws, oracle.mean())
    within(draws, oracle.var(), lambda v: (v - oracle.mean()) ** 2)


def test_gaussian_mixture_posterior_is_the_truncated_mixture():
    task = tasks.get("gaussian_mixture")
    x = np.asarray(task.observation(10))  # (8.47, -9.22): truncation matters
    parts = [stats.truncnorm((-10 - x) / s, (10 - x) / s, loc=x, scale=s) for s in (1.0, 0.1)]
    mass = [np.prod(stats.norm.cdf((10 - x) / s) - stats.norm.cdf((-10 - x) / s))
            for s in (1.0, 0.1)]  # each component's mass inside the box
    w = np.array(mass) / sum(mass)
    mean = sum(wk * p.mean() for wk, p in zip(w, parts))
    second = sum(wk * (p.var() + p.mean() ** 2) for wk, p in zip(w, parts))
    draws = task.reference_posterior(jax.random.PRNGKey(5), 10, 20_000)
    within(draws, mean)
    within(draws, second, lambda v: v**2)


def test_two_moons_posterior_matches_quadrature():
    task = tasks.get("two_moons")
    x = task.observation(1)
    h = 3e-3  # the crescent is ~0.01 wide: ~3 points per standard deviation
    g = np.arange(-1, 1, h) + h / 2
    grid = jnp.stack(jnp.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    log_p = np.asarray(task.log_likelihood(grid, x))
    w = np.exp(log_p - log_p.max())
    w /= w.sum()
    grid = np.asarray(grid)
    draws = task.reference_posterior(jax.random.PRNGKey(6), 1, 20_000)
    for f in (lambda v: v[..., 0], lambda v: v[..., 1], lambda v: v[..., 0] ** 2,
              lambda v: v[..., 0] * v[..., 1]):
        within(draws, (w * f(grid)).sum(), f)


def test_samplers_run_under_jit_and_vmap():
    task = tasks.get("two_moons")
    sample = jax.jit(task.posterior_sampler, static_argnums=2)
    xs = jnp.stack([task.observation(i) for i in (1, 2, 3)])
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    draws = jax.vmap(lambda k, x: sample(k, x, 50))(keys, xs)
    assert draws.shape == (3, 50, 2) and bool(jnp.all(jnp.abs(draws) <= 1))
    sims = jax.jit(jax.vmap(task.simulate))(keys, draws[:, 0])
    assert sims.shape == (3, 2)
    theta, x, h = task.true_parameters(1), task.observation(1), 1e-6  # the score, by grad
    score = jax.grad(task.log_likelihood)(theta, x)
    central = [(task.log_likelihood(theta + h * e, x) - task.log_likelihood(theta - h * e, x))
               / (2 * h) for e in jnp.eye(2)]
    np.testing.assert_allclose(score, central, rtol=1e-5)


def test_bad_task_input_raises():
    with pytest.raises(ValueError, match="unknown task 'slcp2'"):
        tasks.get("slcp2")
    task = tasks.get("two_moons")
    for bad in (0, 11, 1.0, True):
        with pytest.raises(ValueError, match="an int in 1..10"):
            task.observation(bad)
    with pytest.raises(ValueError, match="num_samples"):
        task.reference_posterior(jax.random.PRNGKey(0), 1, 0)
