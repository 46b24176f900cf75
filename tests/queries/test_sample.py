"""Exact posterior sampling of index tuples against the enumerated P_z(k)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import numpyro
import numpyro.distributions as dist

import jaxis
from tests import oracles
from tests.tiny_models import CASES

N = 40_000


def _setup(case, seed):
    model, guide, args, K = CASES[case]
    mpt = jaxis.mpis(model, guide, K=K)(jax.random.PRNGKey(seed), *args)
    batch = {l.name: l.batch_shape for l in mpt.graph.latents}
    return mpt, oracles.enumerate_mp(model, guide, mpt.samples, batch, args, perms=mpt.perms)


def _combo_ids(en, cols, K):
    """Index tuples (N, n_instances) -> combination ids in the enumeration's order."""
    return np.ravel_multi_index(tuple(np.asarray(cols).T), (K,) * cols.shape[1])


def _index_columns(en, idx):
    cols = []
    for name, e in en.instances:
        cols.append(np.asarray(idx[name]).reshape(idx[name].shape[0], -1)[:, e])
    return np.stack(cols, 1)


def _tv_threshold(p, n, rng):
    """Mean + 5 sd of the total variation of n exact multinomial draws (simulated null)."""
    tvs = [0.5 * np.abs(rng.multinomial(n, p) / n - p).sum() for _ in range(200)]
    return np.mean(tvs) + 5 * np.std(tvs)


def _coupled(case):
    """First seed whose exact P_z differs from the product of its marginals (TV > 0.1).

    The sampler must match P_z for every seed; this only picks an instance where a
    product-of-marginals sampler is detectably wrong, so the test can fail.
    """
    for seed in range(20):
        mpt, en = _setup(case, seed)
        K = mpt.K
        marg = [np.bincount(en.combos[:, j], weights=en.weights, minlength=K)
                for j in range(len(en.instances))]
        prod = np.ones(len(en.weights))
        for j, m in enumerate(marg):
            prod *= m[en.combos[:, j]]
        if 0.5 * np.abs(prod - en.weights).sum() > 0.1:
            return mpt, en, prod
    raise AssertionError("no coupled instance found")


@pytest.mark.parametrize("case", ["explaining_away", "plated_prior"])
def test_sample_frequencies_match_exact_joint(case):
    mpt, en, prod = _coupled(case)
    K = mpt.K
    idx = jaxis.sample_indices(jax.random.PRNGKey(1), mpt, N)
    ids = _combo_ids(en, _index_columns(en, idx), K)
    freq = np.bincount(ids, minlength=len(en.weights)) / N
    thresh = _tv_threshold(en.weights, N, np.random.default_rng(0))
    tv = 0.5 * np.abs(freq - en.weights).sum()
    assert tv < thresh, (tv, thresh)
    # a product-of-marginals sampler fails the same test
    rng = np.random.default_rng(1)
    bad = rng.multinomial(N, prod / prod.sum()) / N
    assert 0.5 * np.abs(bad - en.weights).sum() > thresh


def test_sample_values_are_members_of_the_K_samples():
    mpt, _ = _setup("plated_guide", 0)
    draws = jaxis.sample_posterior(jax.random.PRNGKey(2), mpt, 500)
    theta = np.asarray(mpt.samples["theta"])  # (K, 2, 1)
    for g in range(2):
        assert np.isin(np.asarray(draws["theta"])[:, g, 0], theta[:, g, 0]).all()
    assert draws["theta"].shape == (500, 2, 1) and draws["mu"].shape == (500,)


@pytest.mark.parametrize("case", ["plated_prior", "discrete_continuous", "multivariate"])
def test_draw_moments_agree_with_source_term_moments(case):
    model, guide, args, K = CASES[case]
    mpt = jaxis.mpis(model, guide, K=K)(jax.random.PRNGKey(3), *args)
    n = 20_000
    draws = jaxis.sample_posterior(jax.random.PRNGKey(4), mpt, n)
    mom = jaxis.moments(mpt, {l.name: lambda v: v.astype(float) for l in mpt.graph.latents})
    for name, m in mom.items():
        x = np.asarray(draws[name], float)
        se = x.std(0) / np.sqrt(n)
        assert np.all(np.abs(x.mean(0) - m) <= 5 * se + 1e-12), name


def test_deterministic_sites_follow_the_draws():
    mpt, _ = _setup("masked_scaled", 0)
    draws = jaxis.sample_posterior(jax.random.PRNGKey(5), mpt, 300)
    np.testing.assert_allclose(draws["s"], 2.0 * draws["a"])


def test_sampling_is_jittable_and_vmappable():
    model, guide, args, K = CASES["plated_prior"]
    run = jaxis.mpis(model, guide, K=K)
    f = jax.jit(jax.vmap(lambda k: jaxis.sample_posterior(k, run(k, *args), 10)["theta"]))
    assert f(jax.random.split(jax.random.PRNGKey(0), 3)).shape == (3, 10, 2, 1)


def test_deterministic_of_several_latents_and_plates_follows_the_draws():
    """A deterministic site over two latents in a plate is gathered at both draws' indices."""
    def model(y):
        a = numpyro.sample("a", dist.Normal(0.0, 1.0))
        with numpyro.plate("p", 2):
            b = numpyro.sample("b", dist.Normal(a, 1.0))
            numpyro.deterministic("ab", a * b)
            numpyro.sample("y", dist.Normal(b, 1.0), obs=y)

    mpt = jaxis.mpis(model, K=4)(jax.random.PRNGKey(0), jnp.array([0.3, -0.4]))
    draws = jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, 200)
    np.testing.assert_allclose(draws["ab"], draws["a"][:, None] * draws["b"], rtol=1e-12)


def test_deterministic_mixing_plate_elements_is_left_out_with_a_warning():
    def model(y):
        with numpyro.plate("p", 3):
            b = numpyro.sample("b", dist.Normal(0.0, 1.0))
            numpyro.sample("y", dist.Normal(b, 1.0), obs=y)
        numpyro.deterministic("total", b.sum(-1))

    with pytest.warns(UserWarning, match="Deterministic site 'total' is left out"):
        mpt = jaxis.mpis(model, K=4)(jax.random.PRNGKey(0), jnp.zeros(3))
    assert "total" not in jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, 5)
