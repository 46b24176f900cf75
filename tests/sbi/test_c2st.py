"""C2ST against analytic accuracies: equal distributions, disjoint ones, and a mid case;
the repeated rows of resampled draws, their expected share and their effect on the score."""
import jax
import jax.numpy as jnp
import pytest
from jax.scipy.stats import norm

from jaxis import WeightedSamples
from jaxis.sbi import c2st, expected_repeats

N = 1000


def draws(key, shift, dim=2):
    return jax.random.normal(key, (N, dim)) + jnp.zeros(dim).at[0].set(shift)


@pytest.fixture(scope="module")
def scores():
    """One jitted, vmapped run over four pairs: shifts 0 (equal), 1 (mid), 10 (disjoint) and
    NaN (samples_b all NaN)."""
    shifts = jnp.array([0.0, 1.0, 10.0, jnp.nan])
    keys = jax.random.split(jax.random.PRNGKey(0), 4 * 3).reshape(4, 3, 2)

    def one(k, shift):
        return c2st(k[0], draws(k[1], 0.0), draws(k[2], shift), max_epochs=200)

    return dict(zip([0.0, 1.0, 10.0, "nan"], jax.jit(jax.vmap(one))(keys, shifts)))


def test_equal_distributions_score_one_half(scores):
    """With p_a = p_b the labels are independent of the inputs: each held-out guess is
    right with probability 1/2 exactly, so the accuracy over 2N guesses has s.e. sqrt(1/(8N))."""
    assert jnp.abs(scores[0.0] - 0.5) < 4 * jnp.sqrt(0.25 / (2 * N))


def test_disjoint_distributions_score_one(scores):
    """Means 10 sds apart: the Bayes accuracy is Phi(5) = 1 - 3e-7."""
    assert scores[10.0] > 0.99


def test_mid_case_matches_the_bayes_accuracy(scores):
    """N(0, I) vs N(e_1, I): the Bayes-optimal accuracy is Phi(1/2); the held-out accuracy
    is within 4 binomial standard errors of it."""
    best = norm.cdf(0.5)
    assert jnp.abs(scores[1.0] - best) < 4 * jnp.sqrt(best * (1 - best) / (2 * N))


def test_nan_samples_give_nan(scores):
    assert jnp.isnan(scores["nan"])


def test_bad_input():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="differ in dimension"):
        c2st(key, jnp.zeros((10, 2)), jnp.zeros((10, 3)))
    with pytest.raises(ValueError, match="samples_b must have shape"):
        c2st(key, jnp.zeros((10, 2)), jnp.zeros((10, 2, 2)))
    with pytest.raises(ValueError, match="num_folds"):
        c2st(key, jnp.zeros((3, 2)), jnp.zeros((3, 2)), num_folds=5)
    ws = WeightedSamples.from_log_ratios({"t": jnp.zeros(3)}, jnp.zeros(3))
    with pytest.raises(ValueError, match="num_samples"):
        expected_repeats(ws, 0)


def test_expected_repeats_equal_weights_is_the_occupancy_formula():
    """n draws from N equal weights hit N (1 - (1 - 1/N)^n) distinct rows on average;
    under jit and vmap over two sets of equal weights."""
    num, n = 50, 30

    def repeats(log_w):
        return expected_repeats(WeightedSamples.from_log_ratios({"t": log_w}, log_w), n)

    got = jax.jit(jax.vmap(repeats))(jnp.array([[0.0], [3.0]]) * jnp.ones(num))
    assert jnp.allclose(got, 1 - num * (1 - (1 - 1 / num) ** n) / n, rtol=1e-12)


def test_expected_repeats_matches_resampling():
    """Skewed weights: the share of repeated rows over 400 independent resamplings is
    within 4 standard errors (computed from them) of expected_repeats."""
    num, n = 500, 200
    k_w, k_r = jax.random.split(jax.random.PRNGKey(5))
    ws = WeightedSamples.from_log_ratios({"i": jnp.arange(num)},
                                         1.5 * jax.random.normal(k_w, (num,)))

    def share(key):
        idx = jnp.sort(ws.resample(key, n).samples["i"])
        return 1 - (1 + jnp.sum(idx[1:] != idx[:-1])) / n

    shares = jax.vmap(share)(jax.random.split(k_r, 400))
    assert jnp.abs(shares.mean() - expected_repeats(ws, n)) < 4 * shares.std() / jnp.sqrt(400)


def test_repeated_rows_raise_the_score(float32):
    """The pitfall expected_repeats guards against: b has the same law as a but is 1000
    draws with replacement from 300 (about 70% repeated rows); the classifier recognises
    the repeats across folds and scores well above the 1/2 of exact draws."""
    k = jax.random.split(jax.random.PRNGKey(6), 4)
    a = jax.random.normal(k[0], (N, 5))
    b = jax.random.normal(k[1], (300, 5))[jax.random.randint(k[2], (N,), 0, 300)]
    assert c2st(k[3], a, b, max_epochs=200) > 0.5 + 4 * jnp.sqrt(0.25 / (2 * N))
