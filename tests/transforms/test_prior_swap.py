"""Recycling conjugate Gaussian posterior draws under a new prior: closed forms.

Likelihood ``N(x; theta, sigma^2)``, old prior ``N(m0, s0^2)``, new prior ``N(m1, s1^2)``.
Draws from the old posterior with equal weights 1/N, prior-swapped with
``r = pi_new / pi_old``, give:

- ``log Z'`` -> ``log(Z_new / Z_old)``;
- the new posterior mean;
- ``ELBO = E_old[log r]`` and ``EUBO = E_new[log r]`` (Gaussian expectations);
- ``ESS / N`` -> ``E_old[r]^2 / E_old[r^2]`` (a Gaussian integral).

Each Monte Carlo estimate is compared within 5 standard errors computed from the draws
(delta method), and the log Z error is checked to fall like ``N^-1/2``.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxis.transforms import power_scale, prior_swap
from jaxis.weighted import WeightedSamples

X, SIGMA = 1.0, 1.0
M0, S0 = 0.0, 3.0
M1, S1 = 0.5, 0.8


def log_normal(t, m, s):
    return -0.5 * ((t - m) / s) ** 2 - 0.5 * jnp.log(2 * jnp.pi * s**2)


def posterior(m, s):
    prec = 1 / s**2 + 1 / SIGMA**2
    return (m / s**2 + X / SIGMA**2) / prec, 1 / prec


def gauss_expect_log_normal(mu, var, m, s):
    """``E_{N(mu, var)}[log N(theta; m, s^2)]``."""
    return -0.5 * np.log(2 * np.pi * s**2) - ((mu - m) ** 2 + var) / (2 * s**2)


def log_gauss_product_integral(terms):
    """``log int prod_k N(theta; m_k, v_k)^{c_k} d theta`` for ``terms = [(c, m, v)]``."""
    a = sum(c / v for c, _, v in terms)
    b = sum(c * m / v for c, m, v in terms)
    c0 = sum(c * (-(m**2) / (2 * v) - 0.5 * np.log(2 * np.pi * v)) for c, m, v in terms)
    assert a > 0
    return c0 + b**2 / (2 * a) + 0.5 * np.log(2 * np.pi / a)


def swapped(key, n):
    mu, var = posterior(M0, S0)
    theta = mu + np.sqrt(var) * jax.random.normal(key, (n,))
    ws = WeightedSamples.from_posterior({"theta": theta})
    return prior_swap(
        ws, lambda s: log_normal(s["theta"], M0, S0), lambda s: log_normal(s["theta"], M1, S1)
    )


def test_prior_swap_closed_forms():
    n = 20_000
    ws = swapped(jax.random.key(0), n)
    theta = np.asarray(ws.samples["theta"])
    log_r = np.asarray(log_normal(theta, M1, S1) - log_normal(theta, M0, S0))
    r = np.exp(log_r)
    w = np.asarray(ws.normalized_weights())
    mu_s, v_s = posterior(M0, S0)
    mu_t, v_t = posterior(M1, S1)

    # log(Z_new / Z_old)
    truth = float(log_normal(X, M1, np.sqrt(SIGMA**2 + S1**2)) - log_normal(X, M0, np.sqrt(SIGMA**2 + S0**2)))
    se = r.std(ddof=1) / (np.sqrt(n) * r.mean())
    assert abs(float(ws.log_evidence()) - truth) < 5 * se

    # new posterior mean (self-normalised)
    mean = float(ws.moments({"theta": lambda t: t})["theta"])
    assert abs(mean - mu_t) < 5 * np.sqrt(np.sum(w**2 * (theta - mean) ** 2))

    # ELBO = E_old[log r], EUBO = E_new[log r]
    bounds = ws.bounds()
    elbo = gauss_expect_log_normal(mu_s, v_s, M1, S1) - gauss_expect_log_normal(mu_s, v_s, M0, S0)
    eubo = gauss_expect_log_normal(mu_t, v_t, M1, S1) - gauss_expect_log_normal(mu_t, v_t, M0, S0)
    assert elbo < truth < eubo
    assert abs(float(bounds.elbo) - elbo) < 5 * log_r.std(ddof=1) / np.sqrt(n)
    eubo_se = np.sqrt(np.sum(w**2 * (log_r - float(bounds.eubo)) ** 2))
    assert abs(float(bounds.eubo) - eubo) < 5 * eubo_se

    # ESS / N -> E[r]^2 / E[r^2]
    post = (1, mu_s, v_s)
    log_m1 = log_gauss_product_integral([post, (1, M1, S1**2), (-1, M0, S0**2)])
    log_m2 = log_gauss_product_integral([post, (2, M1, S1**2), (-2, M0, S0**2)])
    np.testing.assert_allclose(log_m1, truth, rtol=1e-12)  # the helper agrees with Z_new/Z_old
    ess_frac = np.exp(2 * log_m1 - log_m2)
    m1, m2 = r.mean(), (r**2).mean()
    grad = np.array([2 * m1 / m2, -(m1**2) / m2**2])
    cov = np.cov(np.stack([r, r**2])) / n
    assert abs(float(ws.ess()) / n - ess_frac) < 5 * np.sqrt(grad @ cov @ grad)


def test_log_evidence_error_falls_like_root_n():
    reps = 400
    truth = float(log_normal(X, M1, np.sqrt(SIGMA**2 + S1**2)) - log_normal(X, M0, np.sqrt(SIGMA**2 + S0**2)))

    def rms(n, seed):
        keys = jax.random.split(jax.random.key(seed), reps)
        est = jax.jit(jax.vmap(lambda k: swapped(k, n).log_evidence()))(keys)
        return np.sqrt(np.mean((np.asarray(est) - truth) ** 2))

    log_ratio = np.log(rms(500, 1) / rms(2000, 2))
    # log RMS over `reps` replicates has s.d. ~ 1/sqrt(2 reps); two independent ones
    assert abs(log_ratio - np.log(2.0)) < 5 / np.sqrt(reps)


def test_power_scale_derivative_is_covariance():
    """d E_alpha[theta] / d alpha at alpha = 1 equals Cov(theta, log pi) under the weights."""
    ws = swapped(jax.random.key(3), 5000)

    def log_prior(s):
        return log_normal(s["theta"], M1, S1)

    def mean_at(alpha):
        return power_scale(ws, alpha, log_prior).moments({"theta": lambda t: t})["theta"]

    w = ws.normalized_weights()
    theta = ws.samples["theta"]
    lp = log_prior(ws.samples)
    cov = jnp.sum(w * theta * lp) - jnp.sum(w * theta) * jnp.sum(w * lp)
    np.testing.assert_allclose(jax.grad(mean_at)(1.0), cov, rtol=1e-10)
    np.testing.assert_allclose(mean_at(1.0), jnp.sum(w * theta), rtol=1e-12)


def test_power_scale_of_gaussian_prior_is_closed_form():
    """Scaling N(m1, s1^2) by alpha gives the prior N(m1, s1^2 / alpha): exact posterior mean."""
    n, alpha = 40_000, 1.7
    ws = swapped(jax.random.key(4), n)
    scaled = power_scale(ws, alpha, lambda s: log_normal(s["theta"], M1, S1))
    mu, _ = posterior(M1, S1 / np.sqrt(alpha))
    mean = float(scaled.moments({"t": ("theta", lambda t: t)})["t"])
    w = np.asarray(scaled.normalized_weights())
    se = np.sqrt(np.sum(w**2 * (np.asarray(scaled.samples["theta"]) - mean) ** 2))
    assert abs(mean - mu) < 5 * se


def test_bad_inputs_name_the_argument():
    ws = swapped(jax.random.key(0), 10)
    with pytest.raises(ValueError, match="old_log_prior: the callable returned shape \\(10, 2\\)"):
        prior_swap(ws, lambda s: jnp.zeros((10, 2)), lambda s: jnp.zeros(10))
    with pytest.raises(ValueError, match="new_log_prior: got shape \\(3,\\)"):
        prior_swap(ws, jnp.zeros(10), jnp.zeros(3))
    with pytest.raises(ValueError, match="component"):
        power_scale(ws, 2.0, jnp.zeros(9))
