"""Rejection ABC and SMC-ABC on a conjugate Gaussian against exact oracles.

Model: theta ~ N(0, 1), x ~ N(theta, sigma^2), observed x_obs = 1. With the distance
|x - x_obs| and threshold eps, the exact ABC posterior is

    p_eps(theta) ∝ N(theta; 0, 1) [Phi((x_obs + eps - theta) / sigma)
                                   - Phi((x_obs - eps - theta) / sigma)],

computed here by quadrature; as eps -> 0 it is the conjugate N(x / (1 + sigma^2), ...).
Tolerances are 4 standard errors computed from the draws, pooled over vmapped seeds.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from scipy import stats

from jaxis.sbi import ABCSamples, rejection_abc, smc_abc, tasks

K_SE = 4.0
X_OBS = 1.0
GRID = np.linspace(-6, 6, 24_001)


def gaussian(sigma):
    def model(x=None):
        theta = numpyro.sample("theta", dist.Normal(0.0, 1.0))
        numpyro.sample("x", dist.Normal(theta, sigma), obs=x)

    return model


def abs_distance(s, s_obs):
    return jnp.abs(s - s_obs).sum()


def exact_abc_moments(eps, sigma):
    """Mean and variance of p_eps by quadrature on GRID (eps -> 0: the conjugate posterior)."""
    if eps == 0:
        log_w = stats.norm.logpdf(GRID) + stats.norm.logpdf(X_OBS, GRID, sigma)
        w = np.exp(log_w - log_w.max())
    else:
        w = stats.norm.pdf(GRID) * (stats.norm.cdf((X_OBS + eps - GRID) / sigma)
                                     - stats.norm.cdf((X_OBS - eps - GRID) / sigma))
    w = w / w.sum()
    mean = (w * GRID).sum()
    return mean, (w * (GRID - mean) ** 2).sum()


def pooled_z(draws, weights, targets):
    """(pooled mean of f - target) / its standard error, for f = theta and (theta - m)^2.

    ``draws``/``weights``: (seeds, n); ``targets``: (seeds, 2) exact (mean, variance).
    Self-normalised weights: the per-seed variance of sum_i w_i f_i is sum_i w_i^2 (f_i - E f)^2.
    """
    z = []
    for j in range(2):
        f = draws if j == 0 else (draws - targets[:, :1]) ** 2
        est = (weights * f).sum(1)
        var = (weights**2 * (f - est[:, None]) ** 2).sum(1)
        diff = (est - targets[:, j]).mean()
        z.append(diff / (np.sqrt(var.sum()) / len(est)))
    return np.array(z)


@pytest.mark.slow
def test_rejection_abc_is_the_exact_abc_posterior_and_converges_as_eps_shrinks():
    """One run at quantile 0.5 (its kept draws come sorted by distance); its closest 40
    are exactly the run at quantile 0.01 with the same key."""
    sigma, keys = 0.5, jax.random.split(jax.random.PRNGKey(0), 16)
    ws = jax.jit(jax.vmap(lambda k: rejection_abc(k, gaussian(sigma), X_OBS, 4000, quantile=0.5,
                                                  distance=abs_distance, chunk_size=1000)))(keys)
    assert np.all(np.diff(np.asarray(ws.distances), axis=1) >= 0)
    conjugate = np.array(exact_abc_moments(0.0, sigma))
    far_from_conjugate = []
    for keep in (2000, 40):  # quantiles 0.5 and 0.01
        draws = np.asarray(ws.samples["theta"])[:, : keep - 1]  # all but the farthest kept
        eps = np.asarray(ws.distances)[:, keep - 1]
        w = np.full(draws.shape, 1.0 / draws.shape[1])
        targets = np.array([exact_abc_moments(float(e), sigma) for e in eps])
        assert np.all(np.abs(pooled_z(draws, w, targets)) < K_SE)
        z_conj = pooled_z(draws, w, np.broadcast_to(conjugate, targets.shape))
        far_from_conjugate.append(np.abs(z_conj).max() > K_SE)
    assert far_from_conjugate == [True, False]  # eps -> 0: the ABC posterior -> the posterior


SIGMA_SMC, BUDGET = 0.02, 3000  # a posterior 50 times narrower than the prior


@pytest.fixture(scope="module")
def smc_runs():
    keys = jax.random.split(jax.random.PRNGKey(2), 12)
    return jax.jit(jax.vmap(lambda k: smc_abc(k, gaussian(SIGMA_SMC), X_OBS, BUDGET,
                                              num_particles=100, distance=abs_distance)))(keys)


@pytest.mark.slow
def test_smc_abc_is_the_exact_abc_posterior_at_its_epsilon(smc_runs):
    ws = smc_runs
    assert np.all(np.asarray(ws.num_simulations) <= BUDGET)
    assert np.all(np.asarray(ws.distances) <= np.asarray(ws.epsilon)[:, None])
    targets = np.array([exact_abc_moments(float(e), SIGMA_SMC) for e in ws.epsilon])
    w = np.asarray(jax.nn.softmax(ws.log_weights, axis=1))
    assert np.all(np.abs(pooled_z(np.asarray(ws.samples["theta"]), w, targets)) < K_SE)


@pytest.mark.slow
def test_smc_abc_beats_rejection_abc_at_equal_budget(smc_runs):
    mean, var = exact_abc_moments(0.0, SIGMA_SMC)
    keys = jax.random.split(jax.random.PRNGKey(3), 12)
    rej = jax.jit(jax.vmap(lambda k: rejection_abc(k, gaussian(SIGMA_SMC), X_OBS, BUDGET,
                                                   quantile=100 / BUDGET,
                                                   distance=abs_distance)))(keys)

    def error(ws):  # squared standardised errors of the posterior mean and variance
        w = jax.nn.softmax(ws.log_weights, axis=1)
        m = (w * ws.samples["theta"]).sum(1)
        v = (w * (ws.samples["theta"] - m[:, None]) ** 2).sum(1)
        return np.asarray((m - mean) ** 2 / var + (v / var - 1) ** 2)

    gain = error(rej) - error(smc_runs)
    assert gain.mean() > K_SE * gain.std(ddof=1) / math.sqrt(len(gain))


def test_rejection_keeps_exactly_the_closest_simulations_across_chunks():
    """Brute force: simulate every key of the run with numpyro's handlers, sort, compare."""
    model, key, n, chunk = gaussian(0.5), jax.random.PRNGKey(3), 500, 128
    ws = rejection_abc(key, model, X_OBS, n, quantile=0.05, distance=abs_distance, chunk_size=chunk)
    keys = jax.random.split(key, -(-n // chunk) * chunk)[:n]  # the run's key layout

    def simulate(k):
        trace = handlers.trace(handlers.seed(model, k)).get_trace()
        return trace["theta"]["value"], trace["x"]["value"]

    theta, x = jax.jit(jax.vmap(simulate))(keys)
    closest = np.argsort(np.abs(np.asarray(x) - X_OBS))[:25]
    np.testing.assert_allclose(np.sort(ws.samples["theta"]), np.sort(theta[closest]))
    np.testing.assert_allclose(float(ws.epsilon), np.abs(np.asarray(x) - X_OBS)[closest].max())
    assert float(ws.log_evidence()) == pytest.approx(math.log(25 / n))


def test_default_distance_z_scores_and_runs_under_jit_and_vmap(float32):
    task = tasks.get("two_moons")
    run = jax.jit(lambda k, x: rejection_abc(k, task.model, x, 2000, quantile=0.01, chunk_size=500))
    xs = jnp.stack([task.observation(1), task.observation(2)])
    ws = jax.vmap(run)(jax.random.split(jax.random.PRNGKey(4), 2), xs)
    assert isinstance(ws, ABCSamples) and ws.samples["theta"].shape == (2, 20, 2)
    assert ws.samples["theta"].dtype == jnp.float32
    assert np.all(np.asarray(ws.distances) <= np.asarray(ws.epsilon)[:, None])


def test_smc_abc_moves_in_unconstrained_space_and_stays_in_the_prior_box(float32):
    task = tasks.get("two_moons")
    ws = smc_abc(jax.random.PRNGKey(5), task.model, task.observation(1), 1000, num_particles=50)
    theta = np.asarray(ws.samples["theta"])
    assert theta.shape == (50, 2) and np.all(np.abs(theta) < 1)
    assert np.all(np.isfinite(np.asarray(ws.log_weights))) and int(ws.num_simulations) <= 1000


def test_bad_input_raises_before_simulating():
    key, model = jax.random.PRNGKey(0), gaussian(0.5)
    with pytest.raises(ValueError, match=r"x_obs has shape \(2,\).*site 'x' simulates shape \(\)"):
        rejection_abc(key, model, jnp.zeros(2), 100)
    with pytest.raises(ValueError, match="x_obs contains NaN"):
        smc_abc(key, model, jnp.nan, 100)
    for q in (0.0, 1.5):
        with pytest.raises(ValueError, match="quantile must lie in"):
            rejection_abc(key, model, X_OBS, 100, quantile=q)
    with pytest.raises(ValueError, match="too small for quantile=0.001.*>= 1000"):
        rejection_abc(key, model, X_OBS, 100, quantile=0.001)
    with pytest.raises(ValueError, match="x_site 'y' is not a sample site.*x_site="):
        rejection_abc(key, model, X_OBS, 100, x_site="y")
    with pytest.raises(ValueError, match="num_particles=200 exceeds num_simulations=100"):
        smc_abc(key, model, X_OBS, 100, num_particles=200)
    with pytest.raises(ValueError, match="epsilon_quantile must lie in"):
        smc_abc(key, model, X_OBS, 1000, epsilon_quantile=2.0)
