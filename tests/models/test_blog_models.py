"""The blog's three examples: densities normalised, models consistent, generators exact."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm
from numpyro.infer.util import log_density

from jaxis.models import prior_swap as ps
from jaxis.models import reverberation as rv
from jaxis.models import two_gaussians as tg
from tests.models.structure import sites


def _integral(log_f, grid):
    return float(np.trapezoid(np.exp(jax.jit(log_f)(grid)), grid))


# --- prior swap ---------------------------------------------------------------------------


def test_prior_swap_densities_are_normalised():
    grid = np.linspace(-12.0, 12.0, 40_001)
    assert _integral(ps.log_prior_old, grid) == pytest.approx(1.0, abs=1e-8)
    assert _integral(ps.log_prior_new, grid) == pytest.approx(1.0, abs=1e-8)
    # the blog's unnormalised new prior, up to the constant
    ratio = np.exp(jax.jit(ps.log_prior_new)(grid)) / (
        np.exp(-((grid * 2) ** 2) / 2) * (0.25 + (5 * grid) ** 2)
    )
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10)
    log_lik = jax.jit(ps.log_likelihood)(np.append(grid, 0.0))
    np.testing.assert_allclose(np.exp(log_lik[:-1] - log_lik[-1]), 1 / (1 + (2 * grid) ** 2))


@pytest.mark.parametrize("prior", ["old", "new"])
def test_prior_swap_model_log_joint(prior):
    theta = jnp.array(0.3)
    log_joint, _ = log_density(ps.model, (ps.OBSERVATION,), {"prior": prior}, {"theta": theta})
    log_prior = ps.log_prior_old if prior == "old" else ps.log_prior_new
    np.testing.assert_allclose(log_joint, log_prior(theta) + ps.log_likelihood(theta), rtol=1e-12)
    with pytest.raises(ValueError, match="prior"):
        ps.model(ps.OBSERVATION, prior="flat")


def test_prior_swap_samples_are_the_old_posterior_and_reweight_to_the_new():
    theta = ps.synthetic_prior_swap(jax.random.key(0), num_samples=20_000).samples["theta"]
    assert theta.shape == (20_000,)
    theta = np.asarray(theta)
    grid = np.linspace(-12.0, 12.0, 40_001)

    @jax.jit
    def log_densities(x):
        return ps.log_prior_old(x), ps.log_prior_new(x), ps.log_likelihood(x)

    old, new, lik = map(np.asarray, log_densities(grid))
    old_s, new_s, _ = map(np.asarray, log_densities(theta))
    for log_prior, log_w in ((old, np.zeros_like(theta)), (new, new_s - old_s)):
        post = np.exp(log_prior + lik)
        exact = np.trapezoid(grid**2 * post, grid) / np.trapezoid(post, grid)
        w = np.exp(log_w - log_w.max())
        w /= w.sum()
        estimate = np.sum(w * theta**2)
        se = np.sqrt(np.sum(w**2 * (theta**2 - estimate) ** 2))  # self-normalised IS s.e.
        assert abs(estimate - exact) < 5 * se


# --- reverberation mapping ----------------------------------------------------------------


def _reverberation_data(seed):
    return rv.synthetic_reverberation(jax.random.key(seed), num_sources=30, num_samples=500)


def test_population_prior_is_a_density_in_days_and_vague_prior_is_uniform():
    log_lag = np.linspace(np.log(1e-3), np.log(1e6), 20_001)
    lag = np.exp(log_lag)
    density = jax.jit(lambda x: rv.log_population_prior(x, 44.5, alpha=0.44, beta=1.43, sigma=0.25))
    log_f = np.asarray(density(lag))
    assert float(np.trapezoid(np.exp(log_f) * lag, log_lag)) == pytest.approx(1.0, abs=1e-8)
    np.testing.assert_allclose(rv.log_vague_prior(jnp.array([0.5, 999.0])), -np.log(1000.0))
    assert np.all(np.isneginf(rv.log_vague_prior(jnp.array([-1.0, 0.0, 1000.5]))))


def test_reverberation_generator_follows_the_blog():
    data = jax.tree.map(np.asarray, _reverberation_data(0))
    assert data.lag_samples.shape == (30, 500)
    assert data.log_luminosity.min() >= 43 and data.log_luminosity.max() <= 45
    lag = 10.0 ** data.latents["log10_lag"]
    np.testing.assert_allclose(data.lag_error, np.minimum(30 / lag + 0.3, 0.5) * lag)
    assert np.all((data.lag_samples > 0) & (data.lag_samples <= rv.MAX_LAG_DAYS))
    # the posterior under U(0, 1000) is Normal(obs, err) truncated to (0, 1000]: its mean
    mu, sd = data.lag_obs, data.lag_error
    a, b = (0 - mu) / sd, (rv.MAX_LAG_DAYS - mu) / sd
    mean = mu + sd * (norm.pdf(a) - norm.pdf(b)) / (norm.cdf(b) - norm.cdf(a))
    z = (data.lag_samples.mean(1) - mean) / (sd / np.sqrt(500))  # sd bounds the truncated sd
    assert np.all(np.abs(z) < 5)


def test_reverberation_model_sites_and_log_joint():
    data = _reverberation_data(1)
    args = (data.log_luminosity, data.lag_error)
    found = sites(rv.model, {"log_luminosity": args[0], "lag_error": args[1]})
    assert {k: s.shape for k, s in found.items()} == {
        "alpha": (), "beta": (), "sigma": (), "log10_lag": (30,), "obs": (30,),
    }
    assert found["log10_lag"].plates == frozenset({("sources", -1, 30)})
    log_joint, _ = log_density(rv.model, args, {"obs": data.lag_obs}, dict(data.latents))
    assert np.isfinite(log_joint)


# --- two Gaussians, nested sampling -------------------------------------------------------


def test_two_gaussian_densities_and_evidence():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-10, 10, (2, 100))
    blog = np.log(np.exp(-((x - 2) ** 2) - y**2) + np.exp(-((x + 2) ** 2) - y**2))
    axis = np.linspace(-10.0, 10.0, 801)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1)

    @jax.jit
    def log_densities(theta):
        return tg.log_likelihood(theta), tg.log_prior(theta), tg.log_target(theta)

    np.testing.assert_allclose(log_densities(np.stack([x, y], -1))[0], blog, rtol=1e-10)
    log_lik, log_prior, log_target = map(np.asarray, log_densities(grid))
    cell = (axis[1] - axis[0]) ** 2
    assert np.log(np.sum(np.exp(log_lik + log_prior)) * cell) == pytest.approx(
        tg.LOG_EVIDENCE, abs=1e-6
    )
    assert np.sum(np.exp(log_target)) * cell == pytest.approx(1.0, abs=1e-6)
    found = sites(tg.model, {})
    assert found["theta"].shape == (2,) and found["obs"].observed


def test_nested_run_is_ordered_and_estimates_the_evidence():
    num_live, num_iterations = 200, 2000
    run = tg.synthetic_nested_samples(
        jax.random.key(0), num_live=num_live, num_iterations=num_iterations
    )
    run = jax.tree.map(np.asarray, run)
    n = num_live + num_iterations
    assert run.samples["theta"].shape == (n, 2)
    assert np.all(np.abs(run.samples["theta"]) <= tg.BOX)
    x, y = run.samples["theta"].T
    blog = np.log(np.exp(-((x - 2) ** 2) - y**2) + np.exp(-((x + 2) ** 2) - y**2))
    np.testing.assert_allclose(run.log_likelihood, blog, rtol=1e-10)
    assert np.all(np.diff(run.log_likelihood) >= 0)
    assert np.all(np.diff(run.log_volume) < 0)
    np.testing.assert_array_equal(run.num_live[:num_iterations], num_live)
    np.testing.assert_array_equal(run.num_live[num_iterations:], np.arange(num_live, 0, -1))
    # Z = sum_i L_i (X_{i-1} - X_i); its error is about sqrt(H / n_live) (Skilling 2006)
    volume = np.exp(np.concatenate([[0.0], run.log_volume]))
    log_w = run.log_likelihood + np.log(volume[:-1] - volume[1:])
    log_z = np.logaddexp.reduce(log_w)
    info = np.sum(np.exp(log_w - log_z) * (run.log_likelihood - log_z))
    assert abs(log_z - tg.LOG_EVIDENCE) < 4 * np.sqrt(info / num_live)
