"""Memory-bounded MP IS: factors evaluated in chunks of global latents' samples.

Chunked and unchunked runs with the same key draw the same samples, so every query must
agree to float rounding (x64 here: rtol 1e-10): log Z, moments, marginals, joint
marginals, the MP ESS and exact posterior draws (identical indices for the same key);
under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` too. Each test asserts the
chunked path was taken (``mpt.chunks``, and the heavy factors are not stored).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.ops.indexing import Vindex

import jaxis
from jaxis._mpis import _build, mp_peak
from jaxis.contract._chunked import ChunkSpec
from jaxis.models import chimpanzees

KEY = jax.random.PRNGKey(3)
Y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4], [-0.4, 0.2, 0.0]])


def hierarchy(y):
    """mu -> theta[g] -> y[g, n]; with guide=None theta's proposal has parent mu."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    tau = numpyro.sample("tau", dist.HalfNormal(1.0))
    with numpyro.plate("groups", y.shape[0], dim=-2):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        with numpyro.plate("data", y.shape[1], dim=-1):
            numpyro.sample("y", dist.Normal(theta, 0.5), obs=y)


def mixture(y):
    """A global enumerated switch, a global block latent and an enumerated local."""
    c = numpyro.sample("c", dist.Bernoulli(0.3))
    locs = numpyro.sample("locs", dist.Normal(0.0, 3.0).expand([3]).to_event(1))
    with numpyro.plate("n", y.shape[0]):
        z = numpyro.sample("z", dist.Categorical(jnp.ones(3) / 3))
        numpyro.sample("y", dist.Normal(Vindex(locs)[..., z] + c, 1.0), obs=y)


@functools.lru_cache(maxsize=None)  # one compilation per run across the tests
def chunked(model, K, spec, guide=None):
    return _build(model, guide, K, enumerate="auto", guard=None, dedup_rows=True, chunks=spec)


@functools.lru_cache(maxsize=None)
def whole(model, K, guide=None):
    return _build(model, guide, K, enumerate="auto", guard=None, dedup_rows=True)


def one_global(y):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Normal(a, 1.0), obs=y)


def assert_same(a, b, rtol=1e-10, atol=1e-12):
    for k in a:
        np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=rtol, atol=atol,
                                   err_msg=k)


def check_queries(full, part, moments=None, joint=None, rtol=1e-10):
    assert part.chunks > 1 and full.chunks == 1
    assert any(f is None for f in part.log_factors)
    np.testing.assert_allclose(jaxis.log_evidence(part), jaxis.log_evidence(full), rtol=rtol)
    assert_same(jaxis.marginals(full), jaxis.marginals(part), rtol)
    if moments is not None:
        assert_same(jaxis.moments(full, moments), jaxis.moments(part, moments), rtol)
        np.testing.assert_allclose(jaxis.mp_ess(part), jaxis.mp_ess(full), rtol=1e-8)
    if joint is not None:
        np.testing.assert_allclose(jaxis.joint_marginals(part, joint).probs,
                                   jaxis.joint_marginals(full, joint).probs, rtol=rtol,
                                   atol=1e-12)


def test_hierarchy_with_proposal_parents():
    spec = ChunkSpec(("mu",), (3,))
    full, part = whole(hierarchy, 6)(KEY, Y), chunked(hierarchy, 6, spec)(KEY, Y)
    assert full.graph.latent("theta").proposal_parents  # the mixture over mu's samples
    assert part.chunks == 2
    check_queries(full, part, {"mu": lambda v: v, "theta": lambda v: v**2,
                               "pair": (("mu", "theta"), lambda m, t: m * t)}, "theta")


def test_two_globals_at_once():
    spec = ChunkSpec(("mu", "tau"), (2, 1))
    full, part = whole(hierarchy, 6)(KEY, Y), chunked(hierarchy, 6, spec)(KEY, Y)
    assert part.chunks == 3 * 6
    check_queries(full, part)


@pytest.mark.parametrize("latent", ["c", "locs"])
def test_enumerated_and_block_latents(latent):
    y = jnp.array([-2.1, 0.3, 2.9, 3.4])
    full = whole(mixture, 5)(KEY, y)
    assert full.samples["c"].shape == (2,) and full.samples["z"].shape == (3, 4)
    part = chunked(mixture, 5, ChunkSpec((latent,), (1,)))(KEY, y)
    check_queries(full, part)


def test_guide_and_float32(float32):
    def guide(y):
        numpyro.sample("mu", dist.Normal(0.5, 0.8))
        numpyro.sample("tau", dist.LogNormal(0.0, 0.5))
        with numpyro.plate("groups", y.shape[0], dim=-2):
            numpyro.sample("theta", dist.Normal(0.3, 1.0))

    spec = ChunkSpec(("tau",), (2,))
    full, part = whole(hierarchy, 8, guide)(KEY, Y), chunked(hierarchy, 8, spec, guide)(KEY, Y)
    check_queries(full, part, rtol=2e-5)


def test_jit_and_grad():
    full, part = whole(hierarchy, 6), chunked(hierarchy, 6, ChunkSpec(("mu",), (3,)))

    def evidence(run):
        return jax.jit(jax.value_and_grad(lambda y: jaxis.log_evidence(run(KEY, y))))

    (v1, g1), (v2, g2) = evidence(full)(Y), evidence(part)(Y)
    np.testing.assert_allclose(v2, v1, rtol=1e-10)
    np.testing.assert_allclose(g2, g1, rtol=1e-8, atol=1e-12)
    assert float(jnp.max(jnp.abs(g1))) > 0
    batched = jax.vmap(lambda y: jaxis.log_evidence(part(KEY, y)))(jnp.stack([Y, Y + 1.0]))
    np.testing.assert_allclose(batched[1], jaxis.log_evidence(full(KEY, Y + 1.0)), rtol=1e-10)


CASES = {  # model, K, chunking, data: proposal parents, two globals, enumerated, block
    "hierarchy-mu": (hierarchy, 6, ChunkSpec(("mu",), (3,)), Y),
    "hierarchy-mu-tau": (hierarchy, 6, ChunkSpec(("mu", "tau"), (2, 1)), Y),
    "mixture-c": (mixture, 5, ChunkSpec(("c",), (1,)), jnp.array([-2.1, 0.3, 2.9, 3.4])),
    "mixture-locs": (mixture, 5, ChunkSpec(("locs",), (1,)), jnp.array([-2.1, 0.3, 2.9, 3.4])),
}


@pytest.mark.parametrize("case", CASES)
def test_exact_draws_same_key_same_draws(case):
    """Chunked draws walk the same schedule with the same keys: identical indices."""
    model, K, spec, y = CASES[case]
    full, part = whole(model, K)(KEY, y), chunked(model, K, spec)(KEY, y)
    assert part.chunks > 1 and any(f is None for f in part.log_factors)
    key = jax.random.PRNGKey(11)
    a, b = jaxis.sample_indices(key, full, 3000), jaxis.sample_indices(key, part, 3000)
    assert set(a) == set(b) == {lat.name for lat in full.graph.latents}
    for k in a:
        np.testing.assert_array_equal(np.asarray(b[k]), np.asarray(a[k]), err_msg=k)
    for k in spec.latents:  # the draws visit every chunk, so every chunk's pass is used
        assert len(np.unique(np.asarray(a[k]) // spec.sizes[spec.latents.index(k)])) > 1
    assert_same(jaxis.sample_posterior(key, full, 50), jaxis.sample_posterior(key, part, 50),
                rtol=0, atol=0)


def test_chunked_draws_under_vmap_predictive_and_arviz():
    full, part = whole(hierarchy, 6)(KEY, Y), chunked(hierarchy, 6, ChunkSpec(("mu",), (2,)))(KEY, Y)
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    draw = lambda mpt: jax.vmap(lambda k: jaxis.sample_indices(k, mpt, 20))(keys)
    assert_same(draw(full), draw(part), rtol=0, atol=0)
    y_more = jnp.zeros((4, 2))
    pa = jaxis.predictive(full, hierarchy, 30)(jax.random.PRNGKey(2), y_more)
    pb = jaxis.predictive(part, hierarchy, 30)(jax.random.PRNGKey(2), y_more)
    assert pb["y"].shape == (30, 4, 2)
    assert_same(pa, pb, rtol=0, atol=0)
    idata = jaxis.to_arviz(part, num_samples=40, rng_key=jax.random.PRNGKey(2))
    np.testing.assert_array_equal(
        idata.posterior["mu"].values[0],
        np.asarray(jaxis.sample_posterior(jax.random.PRNGKey(2), full, 40)["mu"]))


def impossible():
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    with numpyro.plate("p", 2):
        b = numpyro.sample("b", dist.Normal(a, 1.0))
        numpyro.factor("f", jnp.where(b > 100.0, 0.0, -jnp.inf))


def test_chunked_draws_without_posterior_raise():
    part = chunked(impossible, 4, ChunkSpec(("a",), (1,)))(KEY)
    assert part.chunks == 4 and jaxis.log_evidence(part) == -jnp.inf
    with pytest.raises(ValueError, match="No posterior"):
        jaxis.sample_posterior(KEY, part, 10)
    assert (jaxis.sample_indices(KEY, part, 10)["b"] == -1).all()


def test_memory_budget_chooses_chunks_chimpanzees():
    """The unchunked chimpanzee run needs more than the budget; the run chunks one global
    (the guard's choice) and agrees with the unchunked run."""
    rng = np.random.default_rng(0)
    cond, pl = (rng.integers(0, 2, (7, 6, 4)).astype(float) for _ in range(2))
    data = (cond, pl, rng.integers(0, 2, (7, 6, 4)).astype(float))
    K = 8
    unchunked = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=K)
    need = mp_peak(unchunked.lower(KEY, *data))
    run = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=K, memory_budget=need - 1)
    part, full = run(KEY, *data), unchunked(KEY, *data)
    assert part.chunks == K and part.lazy.static.spec.sizes == (1,)
    assert part.lazy.static.spec.latents[0] in ("alpha", "beta_p", "beta_pc")
    np.testing.assert_allclose(jaxis.log_evidence(part), jaxis.log_evidence(full), rtol=1e-10)
    assert_same(jaxis.marginals(full), jaxis.marginals(part))
    a, b = (jaxis.sample_indices(jax.random.PRNGKey(1), t, 500) for t in (full, part))
    assert_same(a, b, rtol=0, atol=0)


def test_fits_whole_is_unchanged_and_too_small_raises():
    y = jnp.arange(5.0)
    assert jaxis.mpis(one_global, K=4, memory_budget=2**34)(KEY, y).lazy is None
    with pytest.raises(ValueError, match="memory budget"):  # even K chunks do not fit
        jaxis.mpis(one_global, K=4, memory_budget=1000)(KEY, y)
