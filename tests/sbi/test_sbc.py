"""SBC on the conjugate Gaussian: the exact posterior passes, a doubled sd fails.

Decision rule, fixed before running: pass if p > 0.001, fail if p < 1e-6 (chi-square, 10
bins, 200 data sets). The false-alarm rate of the passing checks is 0.1% each by
construction; the power of the failing check is computed below from the alternative.
"""
import jax
import jax.numpy as jnp
import pytest
import scipy.stats
from jax.scipy.stats import norm

from jaxis import WeightedSamples
from jaxis.sbi import fractional_ranks, sbc, uniformity_p_value
from tests.sbi import gaussian

M, BINS, L = 200, 10, 100
X0 = jnp.zeros(1)  # marks x as the observed site; SBC simulates its own data


def gaussian_posterior(widen):
    def posterior_fn(key, x):
        mean, sd = gaussian.posterior(x)
        return {"theta": mean + widen * sd * jax.random.normal(key, (L, 1))}
    return posterior_fn


def test_doubled_sd_has_power():
    """Under the doubled-sd posterior the rank is Phi(Z / 2), Z ~ N(0, 1) (for large L):
    the bin probabilities give the chi-square noncentrality lambda = M B sum (p_b - 1/B)^2
    (about 99), and the power at the p < 1e-6 threshold is the noncentral chi-square tail
    (about 0.9999): the chosen sizes detect a doubled sd almost surely."""
    edges = jnp.linspace(0, 1, BINS + 1)
    p_bins = jnp.diff(norm.cdf(2 * norm.ppf(edges)))
    lam = float(M * BINS * jnp.sum((p_bins - 1 / BINS) ** 2))
    critical = scipy.stats.chi2.isf(1e-6, BINS - 1)
    assert scipy.stats.ncx2.sf(critical, BINS - 1, lam) > 0.99


@jax.jit
def gaussian_sbc(key, widen):
    return sbc(key, gaussian.model, gaussian_posterior(widen), X0, num_datasets=M,
               num_bins=BINS, levels=(0.5, 0.9))


@pytest.mark.parametrize("widen, passes", [(1.0, True), (2.0, False)])
def test_exact_passes_and_doubled_sd_fails(widen, passes):
    res = gaussian_sbc(jax.random.PRNGKey(0), widen)
    assert res.ranks.shape == (M, 1) and res.coverage.shape == (2, 1)
    if passes:
        assert res.p_values[0] > 1e-3
        se = jnp.sqrt(res.levels * (1 - res.levels) / M)  # binomial s.e. of a coverage
        assert jnp.all(jnp.abs(res.coverage[:, 0] - res.levels) < 4 * se)
    else:
        assert res.p_values[0] < 1e-6
        assert jnp.all(res.coverage[:, 0] > res.levels)  # conservative: over-covers


def test_weighted_posterior_passes():
    """Prior draws weighted by the exact likelihood (importance sampling): weighted ranks."""
    def posterior_fn(key, x):
        theta = jax.random.normal(key, (1000, 1))
        return WeightedSamples.from_log_ratios({"theta": theta},
                                               norm.logpdf(x, theta, gaussian.S).sum(-1))

    res = jax.jit(lambda k: sbc(k, gaussian.model, posterior_fn, X0, num_datasets=M,
                                num_bins=BINS))(jax.random.PRNGKey(1))
    assert res.p_values[0] > 1e-3


def test_ranks_of_equal_weights_are_exactly_uniform():
    """Ties split at random: with N equally weighted copies of the truth the rank is U."""
    keys = jax.random.split(jax.random.PRNGKey(2), 4000)
    rank = jax.vmap(lambda k: fractional_ranks(k, jnp.zeros((4, 1)), jnp.zeros(4), jnp.zeros(1)))
    u = jax.jit(rank)(keys)
    assert uniformity_p_value(u) > 1e-3
    r = fractional_ranks(jax.random.PRNGKey(0), jnp.arange(4.0)[:, None], jnp.zeros(4),
                         jnp.array([2.5]))
    assert 3 / 5 <= r[0] <= 4 / 5


def test_nan_ranks_give_nan_p_values():
    ranks = jnp.linspace(0.01, 0.99, 50)[:, None].repeat(2, 1).at[3, 1].set(jnp.nan)
    p = uniformity_p_value(ranks)
    assert jnp.isfinite(p[0]) and jnp.isnan(p[1])


def test_bad_input():
    with pytest.raises(ValueError, match="num_datasets"):
        sbc(jax.random.PRNGKey(0), gaussian.model, gaussian_posterior(1.0), X0, num_datasets=5)
    with pytest.raises(ValueError, match="theta_sites"):
        sbc(jax.random.PRNGKey(0), gaussian.model, gaussian_posterior(1.0), X0,
            theta_sites=("beta",))
