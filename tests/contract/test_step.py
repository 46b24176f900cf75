"""One contraction step: the fused einsum-and-plate-sum pass and its log-of-product sum."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxis
from jaxis.contract._exact import safe_log
from jaxis.contract._log_z import forward_terms, term_specs
from jaxis.contract._plan import plan_contraction
from jaxis.contract._step import PlatesFirst, can_fuse, sum_log, to_plates_first
from tests.tiny_models import nested_latents


def _entries(key, shape):
    """Non-negative entries over 70 orders of magnitude, with exact zeros."""
    k1, k2, k3 = jax.random.split(key, 3)
    x = jnp.exp(jax.random.uniform(k1, shape, minval=-80.0, maxval=80.0))
    x = jnp.where(jax.random.bernoulli(k2, 0.05, shape), 0.0, x)
    return x * jax.random.uniform(k3, shape, minval=0.5, maxval=2.0)


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 2), (2,)])
def test_sum_log_equals_the_sum_of_logs_values_and_gradients(axes):
    x = _entries(jax.random.PRNGKey(0), (5, 4, 3))
    plain = lambda v: jnp.sum(safe_log(v), axis=axes)
    got = jax.jit(sum_log, static_argnums=1)(x, axes)
    want = plain(x)
    assert np.array_equal(np.isneginf(got), np.isneginf(want))  # a zero gives -inf
    finite = np.isfinite(want)
    np.testing.assert_allclose(np.asarray(got)[finite], np.asarray(want)[finite],
                               rtol=2e-6, atol=1e-4)
    w = jax.random.normal(jax.random.PRNGKey(1), want.shape)
    grad = lambda f: jax.grad(lambda v: jnp.sum(jnp.where(jnp.isfinite(want), f(v), 0.0)
                                                * w))(x)
    g_got, g_want = grad(lambda v: sum_log(v, axes)), grad(plain)
    assert np.all(np.isfinite(g_got))  # zeros get a zero gradient, not NaN
    np.testing.assert_allclose(g_got, g_want, rtol=1e-5, atol=1e-30)


def test_sum_log_nan_stays_nan_and_works_under_vmap():
    x = _entries(jax.random.PRNGKey(2), (3, 6, 4)).at[1, 2, 0].set(jnp.nan)
    out = jax.vmap(lambda v: sum_log(v, (0,)))(x)
    assert np.isnan(out[1, 0]) and np.isfinite(out[0]).sum() + np.isneginf(out[0]).sum() == 4
    np.testing.assert_allclose(out[0], jnp.sum(safe_log(x[0]), axis=0), rtol=2e-6)


def test_sum_log_over_many_slices_falls_back_to_the_sum_of_logs():
    x = _entries(jax.random.PRNGKey(3), (200, 3)) + 1e-3  # 200 mantissas could underflow
    np.testing.assert_allclose(sum_log(x, (0,)), jnp.sum(jnp.log(x), axis=0), rtol=1e-6)


@pytest.mark.parametrize("scale", [3.0, 200.0])
def test_fused_fast_pass_equals_the_step_by_step_pass(float32, scale):
    """The fast pass (einsum and plate sum fused, plates first) against the schedule run
    step by step in canonical order (``forward_terms``, which keeps every term), on
    random log tables; at ``scale=200`` many products underflow and the exact pass
    decides in both."""
    mpt = jaxis.mpis(nested_latents, K=4)(jax.random.PRNGKey(0), jnp.zeros((2, 2), jnp.float32))
    graph = mpt.graph
    specs = term_specs(graph)
    steps = plan_contraction(graph, specs)
    dims = list(specs) + [(s.kvars, s.out_plates) for s in steps]
    fusable = [k for k in range(len(steps) - 1) if steps[k].sum_vars and can_fuse(
        [(None, dims[i]) for i in steps[k].inputs], steps[k], steps[k + 1], len(specs) + k)]
    assert len(fusable) == 2  # phi's step with the items' sum, theta's with the groups'
    keys = jax.random.split(jax.random.PRNGKey(1), len(mpt.log_factors))
    logs = tuple(scale * jax.random.normal(k, f.shape, jnp.float32)
                 for k, f in zip(keys, mpt.log_factors))

    def fused(fs):
        return jaxis.log_evidence(mpt.replace(log_factors=list(fs)))

    def step_by_step(fs):  # keeps every term: no fused step
        return forward_terms(graph, fs, specs)[-1][0]

    np.testing.assert_allclose(fused(logs), step_by_step(logs), rtol=1e-5)
    g_fused, g_steps = jax.grad(fused)(logs), jax.grad(step_by_step)(logs)
    for a, b in zip(g_fused, g_steps):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("scale", [3.0, 200.0])
def test_fused_forward_terms_equal_the_unfused_ones(float32, scale):
    """``forward_terms(fuse=True)`` (the sampler's) against ``fuse=False``: the fused
    einsum steps' terms are ``None``, every other term equal, plates-first ones
    transposed; at ``scale=200`` through the exact pass's branch."""
    mpt = jaxis.mpis(nested_latents, K=4)(jax.random.PRNGKey(0), jnp.zeros((2, 2), jnp.float32))
    graph, specs = mpt.graph, term_specs(mpt.graph)
    keys = jax.random.split(jax.random.PRNGKey(2), len(mpt.log_factors))
    logs = tuple(scale * jax.random.normal(k, f.shape, jnp.float32)
                 for k, f in zip(keys, mpt.log_factors))
    fused = forward_terms(graph, logs, specs, fuse=True)
    plain = forward_terms(graph, logs, specs)
    assert sum(x is None for x, _ in fused) == 2
    assert sum(isinstance(d, PlatesFirst) for _, d in fused) == 2
    for (x, d), (y, e) in zip(fused, plain):
        assert tuple(d) == tuple(e)
        if x is not None:
            y = to_plates_first(y, e) if isinstance(d, PlatesFirst) else y
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-4)
