"""C2ST against analytic accuracies: equal distributions, disjoint ones, and a mid case."""
import jax
import jax.numpy as jnp
import pytest
from jax.scipy.stats import norm

from jaxis.sbi import c2st

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
