"""Query API edges (issue 10): each a clear ``ValueError`` naming the argument, or the
right value, where the original code iterated a string, crashed inside XLA, returned a
number for swapped arguments, or raised StopIteration / IndexError / "math domain error"."""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import jaxis
from tests.tiny_models import plated_hierarchy

Y = jnp.array([[0.1, 0.5, -0.2, 0.3], [1.2, 0.9, 1.5, 1.1]])
TRAIN, ALL = (Y[:, :3],), (Y,)


@pytest.fixture(scope="module")
def mpt():
    return jaxis.mpis(plated_hierarchy, K=4)(jax.random.PRNGKey(0), *TRAIN)


def test_marginals_of_one_site_name_is_that_site(mpt):
    one = jaxis.marginals(mpt, "mu")
    assert list(one) == ["mu"]
    np.testing.assert_allclose(one["mu"], jaxis.marginals(mpt, ["mu"])["mu"], rtol=1e-12)


@pytest.mark.parametrize("num", [-1, 2.5, 0])
def test_sample_posterior_needs_a_positive_integer_count(mpt, num):
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1"):
        jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, num_samples=num)


def test_predictive_log_likelihood_of_no_draws_names_num_samples(mpt):
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1"):
        jaxis.predictive_log_likelihood(jax.random.PRNGKey(1), mpt, plated_hierarchy, TRAIN, ALL,
                                        num_samples=0)


def test_predictive_log_likelihood_with_train_and_all_data_swapped_is_an_error(mpt):
    key = jax.random.PRNGKey(1)
    with pytest.raises(ValueError, match="train_args / all_args: observed site 'y' has shape "
                                         r"\(2, 4\) in the training data but \(2, 3\)"):
        jaxis.predictive_log_likelihood(key, mpt, plated_hierarchy, ALL, TRAIN, num_samples=5)


def test_predictive_log_likelihood_with_other_values_in_all_data_is_an_error(mpt):
    """Same shapes, but the training block of ``all_args`` holds other values."""
    key = jax.random.PRNGKey(1)
    other = (jnp.concatenate([Y[:, :3] + 100.0, Y[:, 3:]], axis=1),)
    with pytest.raises(ValueError, match="observed site 'y' of the training data differs from "
                                         r"the leading \(2, 3\) block"):
        jaxis.predictive_log_likelihood(key, mpt, plated_hierarchy, TRAIN, other, num_samples=5)
    # under jit the values are abstract: only the shapes are checked, and it runs
    f = jax.jit(lambda y: jaxis.predictive_log_likelihood(key, mpt, plated_hierarchy, TRAIN,
                                                          (y,), num_samples=5))
    assert np.isfinite(f(Y))


def _no_latents(y):
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Normal(0.0, 1.0), obs=y)


def _no_sites():
    pass


def test_to_arviz_of_a_model_without_latents_says_so():
    mpt = jaxis.mpis(_no_latents, K=3)(jax.random.PRNGKey(0), jnp.zeros(2))
    draws = jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, num_samples=4)
    with pytest.raises(ValueError, match="draws is empty: the model has no latent sites"):
        jaxis.to_arviz(mpt, draws)


def test_log_evidence_of_a_model_without_sites_says_so():
    mpt = jaxis.mpis(_no_sites, K=3)(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="log_evidence: the model has no sample or factor sites"):
        jaxis.log_evidence(mpt)
