"""log Z, moments and marginals against brute-force enumeration of all K^n combinations."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxis
from tests import oracles
from tests.tiny_models import CASES


@functools.lru_cache(maxsize=None)
def _run(case, seed=0):
    model, guide, args, K = CASES[case]
    # the oracle scores sampled latents; enumeration has its own tests (test_enumerate.py)
    mpt = jaxis.mpis(model, guide, K=K, enumerate="marked")(jax.random.PRNGKey(seed), *args)
    batch = {l.name: l.batch_shape for l in mpt.graph.latents}
    en = oracles.enumerate_mp(model, guide, mpt.samples, batch, args, perms=mpt.perms)
    return mpt, en


@pytest.mark.parametrize("case", sorted(CASES))
def test_log_evidence_matches_enumeration(case):
    mpt, en = _run(case)
    np.testing.assert_allclose(jaxis.log_evidence(mpt), en.log_z, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", sorted(CASES))
def test_marginals_match_enumeration(case):
    mpt, en = _run(case)
    marg = jaxis.marginals(mpt)
    for lat in mpt.graph.latents:
        expected = oracles.marginal(en, lat.name, mpt.K, lat.batch_shape)
        np.testing.assert_allclose(marg[lat.name], expected, atol=1e-10)
        np.testing.assert_allclose(marg[lat.name].sum(0), 1.0, atol=1e-10)


@pytest.mark.parametrize("case", sorted(CASES))
def test_moments_match_enumeration(case):
    mpt, en = _run(case)
    fns = {}
    for lat in mpt.graph.latents:
        fns[lat.name] = lambda v: v.astype(float)
        fns[lat.name + "_sq"] = (lat.name, lambda v: v.astype(float) ** 2)
    got = jaxis.moments(mpt, fns)
    for lat in mpt.graph.latents:
        np.testing.assert_allclose(got[lat.name], oracles.expectation(en, lambda v: v.astype(float), lat.name), atol=1e-10)
        np.testing.assert_allclose(got[lat.name + "_sq"], oracles.expectation(en, lambda v: v.astype(float) ** 2, lat.name), atol=1e-10)


def test_two_site_moment_couples_indices():
    """E[a b] under explaining away is negative and not E[a] E[b]."""
    mpt, en = _run("explaining_away", seed=3)
    got = jaxis.moments(mpt, {"ab": (("a", "b"), lambda a, b: a * b), "a": lambda v: v, "b": lambda v: v})
    expected = oracles.expectation(en, lambda a, b: a * b, "a", "b")
    np.testing.assert_allclose(got["ab"], expected, atol=1e-10)
    assert abs(float(got["ab"] - got["a"] * got["b"])) > 1e-3


def test_vector_valued_moment_of_plated_site():
    mpt, en = _run("plated_prior", seed=4)
    fn = lambda v: jnp.stack([v, jnp.sin(v)], axis=-1)
    got = jaxis.moments(mpt, {"theta": fn})["theta"]
    assert got.shape == (2, 1, 2)
    np.testing.assert_allclose(got, oracles.expectation(en, fn, "theta"), atol=1e-10)


def test_moment_of_multivariate_site_keeps_event_shape():
    mpt, en = _run("multivariate", seed=5)
    got = jaxis.moments(mpt, {"w": lambda v: v, "u": lambda v: v})
    assert got["w"].shape == (2,) and got["u"].shape == (2, 2)
    np.testing.assert_allclose(got["u"], oracles.expectation(en, lambda v: v, "u"), atol=1e-10)
