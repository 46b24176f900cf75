"""Hierarchical recycling on a Gaussian population with Gaussian measurement errors.

Source ``j``: ``theta_j ~ N(mu, tau^2)``, datum ``x_j ~ N(theta_j, sigma_j^2)``. Under a flat
per-source prior the posterior is ``N(x_j, sigma_j^2)`` and the weights are
``w = N(theta; mu, tau^2)``, so with ``N(theta; mu, tau^2)^k = (2 pi tau^2)^((1-k)/2)
k^(-1/2) N(theta; mu, tau^2/k)``:

    E[w]   = N(x_j; mu, sigma_j^2 + tau^2)               (the exact marginal likelihood)
    E[w^2] = (4 pi tau^2)^(-1/2) N(x_j; mu, sigma_j^2 + tau^2/2)
    Var[log Lhat_j] = (E[w^2] / E[w]^2 - 1) / n

The hyper-posterior of ``mu`` under ``N(0, 10^2)`` is Gaussian in closed form.
"""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS
from scipy import stats
from scipy.special import logsumexp

from jaxis.transforms import (
    detection_efficiency,
    population_factor,
    population_log_likelihood,
)

TAU = 1.0


def data(key, num_sources, mu_true=0.5):
    k1, k2, k3 = jax.random.split(key, 3)
    sigma = jax.random.uniform(k1, (num_sources,), minval=0.5, maxval=1.5)
    theta = mu_true + TAU * jax.random.normal(k2, (num_sources,))
    x = theta + sigma * jax.random.normal(k3, (num_sources,))
    return x, sigma


def draws(key, x, sigma, n):
    return x[:, None] + sigma[:, None] * jax.random.normal(key, (x.shape[0], n))


def log_pop(theta, mu):
    return -0.5 * ((theta - mu) / TAU) ** 2 - 0.5 * jnp.log(2 * jnp.pi * TAU**2)


def analytic(x, sigma, mu, n):
    log_l = stats.norm.logpdf(x, mu, np.sqrt(sigma**2 + TAU**2)).sum()
    log_m2 = -0.5 * np.log(4 * np.pi * TAU**2) + stats.norm.logpdf(x, mu, np.sqrt(sigma**2 + TAU**2 / 2))
    log_m1 = stats.norm.logpdf(x, mu, np.sqrt(sigma**2 + TAU**2))
    variance = np.sum(np.expm1(log_m2 - 2 * log_m1) / n)
    return log_l, variance


def test_log_likelihood_and_variance_against_closed_form():
    x, sigma = data(jax.random.key(0), 10)
    x, sigma = np.asarray(x), np.asarray(sigma)
    n, reps, mu = 500, 200, 0.3
    log_l, variance = analytic(x, sigma, mu, n)

    def one(key):
        res = population_log_likelihood(log_pop(draws(key, x, sigma, n), mu), 0.0)
        return res.log_likelihood, res.variance

    est, reported = (np.asarray(a) for a in jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(1), reps)))
    # mean of log Lhat: log L - Var/2 to second order (delta method)
    assert abs(est.mean() - (log_l - variance / 2)) < 5 * est.std(ddof=1) / np.sqrt(reps)
    # the spread over replicates is the analytic variance ...
    assert abs(est.var(ddof=1) - variance) < 5 * variance * np.sqrt(2 / (reps - 1))
    # ... and so is the reported (estimated) variance, on average
    assert abs(reported.mean() - variance) < 5 * reported.std(ddof=1) / np.sqrt(reps)
    # a single large-n estimate agrees with the closed form too
    n_big = 50_000
    res = jax.jit(lambda k: population_log_likelihood(log_pop(draws(k, x, sigma, n_big), mu), 0.0))(
        jax.random.key(2)
    )
    _, var_big = analytic(x, sigma, mu, n_big)
    assert abs(float(res.log_likelihood) - log_l) < 5 * np.sqrt(var_big)
    assert np.all(np.asarray(res.n_eff) > 0) and bool(res.trusted)


def test_selection_efficiency_and_its_variance():
    """Injections from N(0, 3^2), found when theta > 0: xi(mu) = Phi(mu / tau)."""
    s_draw, mu, n_inj, reps = 3.0, 0.4, 2000, 200
    truth = stats.norm.logcdf(mu / TAU)
    # E_draw[w^2 1{found}] = int_0^inf N(t; mu, tau^2)^2 / N(t; 0, s^2) dt, a truncated Gaussian
    a = 2 / TAU**2 - 1 / s_draw**2
    b = 2 * mu / TAU**2
    c = -(mu**2) / TAU**2 - np.log(2 * np.pi * TAU**2) + 0.5 * np.log(2 * np.pi * s_draw**2)
    log_m2 = c + b**2 / (2 * a) + 0.5 * np.log(2 * np.pi / a) + stats.norm.logcdf(b / a * np.sqrt(a))
    variance = np.expm1(log_m2 - 2 * truth) / n_inj

    def one(key):
        t = s_draw * jax.random.normal(key, (n_inj,))
        found = t > 0
        lp = jnp.where(found, log_pop(t, mu), -jnp.inf)  # not found: no contribution
        ld = -0.5 * (t / s_draw) ** 2 - 0.5 * jnp.log(2 * jnp.pi * s_draw**2)
        sel = detection_efficiency(lp, ld, num_injections=n_inj)
        return sel.log_efficiency, sel.variance

    est, reported = (np.asarray(v) for v in jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(5), reps)))
    assert abs(est.mean() - (truth - variance / 2)) < 5 * est.std(ddof=1) / np.sqrt(reps)
    assert abs(est.var(ddof=1) - variance) < 5 * variance * np.sqrt(2 / (reps - 1))
    assert abs(reported.mean() - variance) < 5 * reported.std(ddof=1) / np.sqrt(reps)


def test_selection_term_and_guards():
    x, sigma = data(jax.random.key(0), 10)
    lp = log_pop(draws(jax.random.key(1), x, sigma, 200), 0.0)
    no_sel = population_log_likelihood(lp, 0.0)
    sel = detection_efficiency(jnp.log(jnp.array([0.5, 0.4, 0.3])), jnp.zeros(3), num_injections=10)
    res = population_log_likelihood(lp, 0.0, selection=sel)
    np.testing.assert_allclose(res.log_likelihood, no_sel.log_likelihood - 10 * sel.log_efficiency)
    np.testing.assert_allclose(res.variance, no_sel.variance + 100 * sel.variance)
    assert not bool(res.trusted)  # n_eff of 3 injections is far below 4 N = 40
    hard = population_log_likelihood(lp, 0.0, selection=sel, penalty="hard")
    assert float(hard.log_likelihood) == -np.inf
    smooth = population_log_likelihood(lp, 0.0, selection=sel, penalty="smooth", max_variance=0.5)
    excess = max(float(res.variance) - 0.5, 0.0)
    excess_sel = max(100 * float(sel.variance) - 10 / 4, 0.0)
    np.testing.assert_allclose(
        smooth.log_likelihood, res.log_likelihood - 0.5 * (excess**2 + excess_sel**2), rtol=1e-12
    )


def test_ragged_sources_mask_equals_truncation():
    x, sigma = data(jax.random.key(3), 4)
    theta = draws(jax.random.key(4), x, sigma, 300)
    lengths = [300, 120, 7, 250]
    mask = jnp.arange(300)[None, :] < jnp.array(lengths)[:, None]
    padded = jnp.where(mask, theta, theta[:, :1])  # pad by repeating a real sample
    res = jax.jit(lambda th: population_log_likelihood(log_pop(th, 0.2), -0.1, mask=mask))(padded)
    for j, n in enumerate(lengths):  # numpy oracle on the unpadded draws
        lw = np.asarray(log_pop(theta[j, :n], 0.2)) + 0.1
        log_mean = logsumexp(lw) - np.log(n)
        var = np.expm1(logsumexp(2 * lw) - np.log(n) - 2 * log_mean) / n
        np.testing.assert_allclose(res.log_likelihood_per_source[j], log_mean, rtol=1e-12)
        np.testing.assert_allclose(res.n_eff[j], 1 / var, rtol=1e-10)
    grad = jax.jit(jax.grad(
        lambda m: population_log_likelihood(log_pop(padded, m), -0.1, mask=mask).log_likelihood))(0.2)
    assert np.isfinite(grad)


def test_no_nan_when_a_source_has_no_mass():
    def log_pop_table(scale):
        return jnp.stack([jnp.array([0.0, -0.1, -0.2, 0.1]) * scale, jnp.full(4, -jnp.inf)])

    res = jax.jit(lambda t: population_log_likelihood(t, 0.0, penalty="smooth"))(log_pop_table(1.0))
    assert float(res.log_likelihood) == -np.inf and float(res.variance) == np.inf
    assert float(res.n_eff[1]) == 0.0
    for field in ("variance", "log_likelihood"):
        g = jax.jit(jax.grad(lambda s: getattr(population_log_likelihood(log_pop_table(s), 0.0), field)))(1.0)
        assert not np.isnan(g)


def test_float32_log_space(float32):
    x, sigma = data(jax.random.key(0), 5)
    theta = draws(jax.random.key(1), x, sigma, 1000).astype(jnp.float32)
    offset = jnp.float32(-3000.0)  # densities far below exp's float32 range
    res, ref = jax.jit(lambda t: (population_log_likelihood(log_pop(t, 0.1) + offset, offset),
                                  population_log_likelihood(log_pop(t, 0.1), 0.0)))(theta)
    assert res.log_likelihood.dtype == jnp.float32
    np.testing.assert_allclose(res.log_likelihood, ref.log_likelihood, rtol=1e-4)
    np.testing.assert_allclose(res.variance, ref.variance, rtol=1e-3)


def test_bad_inputs():
    with pytest.raises(ValueError, match="log_pop must have shape \\(sources, samples\\)"):
        population_log_likelihood(jnp.zeros(5), 0.0)
    with pytest.raises(ValueError, match="log_old of shape \\(3,\\)"):
        population_log_likelihood(jnp.zeros((2, 5)), jnp.zeros(3))
    with pytest.raises(ValueError, match="mask must have"):
        population_log_likelihood(jnp.zeros((2, 5)), 0.0, mask=jnp.ones((2, 4), bool))
    with pytest.raises(ValueError, match="penalty"):
        population_log_likelihood(jnp.zeros((2, 5)), 0.0, penalty="soft")
    with pytest.raises(ValueError, match="num_injections=1"):
        detection_efficiency(jnp.zeros(3), jnp.zeros(3), num_injections=1)


def test_nuts_on_recycled_likelihood_recovers_hyper_posterior():
    num_sources, n = 10, 2000
    x, sigma = data(jax.random.key(10), num_sources)
    theta = draws(jax.random.key(11), x, sigma, n)
    prior_scale = 10.0
    prec = 1 / prior_scale**2 + jnp.sum(1 / (sigma**2 + TAU**2))
    mean = float(jnp.sum(x / (sigma**2 + TAU**2)) / prec)
    var = float(1 / prec)

    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, prior_scale))
        population_factor("pop", log_pop(theta, mu), 0.0, penalty="smooth")

    mcmc = MCMC(NUTS(model), num_warmup=500, num_samples=1000, progress_bar=False)
    mcmc.run(jax.random.key(12))
    mu = np.asarray(mcmc.get_samples()["mu"])
    ess = float(numpyro.diagnostics.effective_sample_size(mu[None]))
    # the recycled log L is a random function; its slope noise at the mode shifts the
    # posterior mean by var * (noise in d log L / d mu), a self-normalised estimate
    lw = log_pop(theta, mean)
    wbar = jax.nn.softmax(lw, axis=1)
    score = (theta - mean) / TAU**2
    g = jnp.sum(wbar * score, axis=1, keepdims=True)
    slope_se = float(jnp.sqrt(jnp.sum(wbar**2 * (score - g) ** 2)))
    se = np.sqrt(var / ess + (var * slope_se) ** 2)
    assert abs(mu.mean() - mean) < 5 * se
    assert abs(mu.var() - var) < 5 * var * np.sqrt(2 / ess)
    assert np.all(np.asarray(mcmc.get_samples()["pop_variance"]) < 1.0)
