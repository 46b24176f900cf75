"""jit, vmap and grad of the whole MP IS pipeline; no recompilation on a second call."""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import jaxis
from jaxis.models import gaussian_hierarchy as gh

Y = gh.synthetic(jax.random.PRNGKey(3), groups=3, observations=2)


def guide(y, loc):
    numpyro.sample("mu", dist.Normal(loc, 1.0))
    with numpyro.plate("groups", y.shape[0], dim=-2):
        numpyro.sample("theta", dist.Normal(loc, 1.5))


def model(y, loc):
    gh.model(y)


def test_run_does_not_recompile():
    run = jaxis.mpis(gh.model, K=5)
    a = run(jax.random.PRNGKey(0), Y)
    b = run(jax.random.PRNGKey(1), Y + 1.0)
    assert run._jitted._cache_size() == 1
    assert not np.allclose(a.samples["mu"], b.samples["mu"])


def test_jit_of_whole_pipeline_matches_eager_and_traces_once():
    run = jaxis.mpis(gh.model, K=6)
    traces = []

    def f(key, y):
        traces.append(1)
        mpt = run(key, y)
        return jaxis.log_evidence(mpt), jaxis.moments(mpt, {"mu": lambda v: v})["mu"]

    jf = jax.jit(f)
    key = jax.random.PRNGKey(2)
    got = jf(key, Y)
    np.testing.assert_allclose(got, f(key, Y), rtol=1e-10)
    jf(jax.random.PRNGKey(5), Y * 2.0)
    assert len(traces) == 2  # one jit trace + one eager call


def test_vmap_over_keys_matches_loop():
    run = jaxis.mpis(gh.model, K=4)
    keys = jax.random.split(jax.random.PRNGKey(0), 5)
    f = lambda k: jaxis.log_evidence(run(k, Y))
    np.testing.assert_allclose(jax.vmap(f)(keys), [f(k) for k in keys], rtol=1e-10)
    marg = jax.vmap(lambda k: jaxis.marginals(run(k, Y))["theta"])(keys)
    assert marg.shape == (5, 4, 3, 1)
    np.testing.assert_allclose(marg.sum(1), 1.0, rtol=1e-10)


def test_grad_wrt_guide_parameter_matches_finite_difference():
    run = jaxis.mpis(model, guide, K=5)
    key = jax.random.PRNGKey(7)
    f = lambda loc: jaxis.log_evidence(run(key, Y, loc))
    g = jax.grad(f)(0.3)
    eps = 1e-5
    fd = (f(0.3 + eps) - f(0.3 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-5)
    assert abs(float(g)) > 1e-6


def test_grad_wrt_model_parameter_matches_finite_difference():
    def scaled(y, s):
        gh.model(y, scales=gh.Scales(mu=1.0, theta=s, y=1.0))

    run = jaxis.mpis(scaled, K=5)
    key = jax.random.PRNGKey(8)
    f = lambda s: jaxis.log_evidence(run(key, Y, s))
    eps = 1e-5
    np.testing.assert_allclose(jax.grad(f)(1.3), (f(1.3 + eps) - f(1.3 - eps)) / (2 * eps),
                               rtol=1e-5)


def test_float32_pipeline(float32):
    y = jnp.asarray(Y, jnp.float32)
    mpt = jaxis.mpis(gh.model, K=8)(jax.random.PRNGKey(0), y)
    lz = jaxis.log_evidence(mpt)
    marg = jaxis.marginals(mpt)["mu"]
    assert lz.dtype == jnp.float32 and marg.dtype == jnp.float32
    assert np.isfinite(lz) and np.all(np.isfinite(marg))
    np.testing.assert_allclose(marg.sum(0), 1.0, rtol=1e-5)


def test_global_is_transformations():
    run = jaxis.global_is(gh.model, K=50)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    lz = jax.jit(jax.vmap(lambda k: run(k, Y).log_evidence()))(keys)
    np.testing.assert_allclose(lz, [run(k, Y).log_evidence() for k in keys], rtol=1e-10)
    run(keys[0], Y)
    assert run._jitted._cache_size() == 1


def test_moments_with_fresh_functions_compile_once(caplog):
    """Moment functions are new lambdas on every call (the usual inline style); the jitted
    contraction is keyed on shapes only, so it compiles once (counted from JAX's log)."""
    mpt = jaxis.mpis(gh.model, K=5)(jax.random.PRNGKey(0), Y)
    jaxis.moments(mpt, {"mu": lambda v: v})  # warm: compiles
    caplog.clear()
    with jax.log_compiles(True), caplog.at_level("WARNING"):
        a = jaxis.moments(mpt, {"mu": lambda v: v})["mu"]
        b = jaxis.moments(mpt, {"mu": lambda v: 2.0 * v})["mu"]
    compiled = [r for r in caplog.records if "Compiling" in r.getMessage()
                and "_moments_impl" in r.getMessage()]
    assert compiled == []
    np.testing.assert_allclose(b, 2.0 * a, rtol=1e-10)
    with jax.log_compiles(True), caplog.at_level("WARNING"):
        jaxis.moments(mpt, {"mu": lambda v: v, "theta": lambda v: v})  # new structure
    assert any("_moments_impl" in r.getMessage() for r in caplog.records)


def test_mp_ess_is_jitted_once_per_trace_shape(caplog):
    run = jaxis.mpis(gh.model, K=3)
    jaxis.mp_ess(run(jax.random.PRNGKey(0), Y))
    other = run(jax.random.PRNGKey(1), Y + 1.0)
    with jax.log_compiles(True), caplog.at_level("WARNING"):
        value = jaxis.mp_ess(other)
    assert [r for r in caplog.records if "Compiling" in r.getMessage()] == []
    n_latents = 1 + Y.shape[0]  # mu and theta per group: K^n index combinations
    assert 1.0 <= float(value) <= 3.0 ** n_latents
