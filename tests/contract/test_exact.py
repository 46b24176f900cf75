"""The exact one-index log-sum-exp: value and hand-written gradient against a direct one."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp

import jaxis
from jaxis.contract._exact import exact_logsumexp, max_keepdims
from tests.contract.test_contract import _mpt


def _direct(graph, operands, v, kvars, plates):
    """Materialise sum_f x_f over (v, output dims) and log-sum-exp over v."""
    names = (v,) + tuple(kvars) + tuple(plates)
    total = 0.0
    for x, (ks, ps) in operands:
        own = ks + ps
        perm = [own.index(n) for n in names if n in own]
        shape = [graph.K if n in ks else graph.plate(n).size if n in ps else 1 for n in names]
        total = total + jnp.transpose(x, perm).reshape(shape)
    total = jnp.broadcast_to(total, (graph.K,) + graph.shape(kvars, plates))
    return logsumexp(total, axis=0)


@pytest.mark.parametrize("seed", range(3))
def test_value_and_gradient_match_the_materialised_log_sum_exp(seed):
    graph = _mpt(K=3).graph  # factors c(c, b, a, p) and y(c, p): eliminate c -> (b, a, p)
    spec = {f.name: f for f in graph.factors}
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    xc = 50.0 * jax.random.normal(keys[0], graph.shape(spec["c"].kvars, spec["c"].plates))
    xc = jnp.where(jax.random.uniform(keys[2], xc.shape) < 0.2, -jnp.inf, xc)
    xy = 50.0 * jax.random.normal(keys[1], graph.shape(spec["y"].kvars, spec["y"].plates))
    dims = [(spec["c"].kvars, spec["c"].plates), (spec["y"].kvars, spec["y"].plates)]
    out = ("b", "a"), ("p",)
    g = jax.random.normal(jax.random.PRNGKey(9), graph.shape(*out))

    def loss(fn, xc, xy):
        val = fn(graph, list(zip([xc, xy], dims)), "c", *out)
        return jnp.sum(jnp.where(jnp.isfinite(val), val * g, 0.0)), val

    (_, got), grads = jax.value_and_grad(lambda a, b: loss(exact_logsumexp, a, b),
                                         argnums=(0, 1), has_aux=True)(xc, xy)
    (_, want), want_grads = jax.value_and_grad(lambda a, b: loss(_direct, a, b),
                                               argnums=(0, 1), has_aux=True)(xc, xy)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    for a, b in zip(grads, want_grads):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("axes", [(0,), (2,), (0, 3)])
def test_max_keepdims_is_the_max_of_finite_entries(axes):
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 4, 3, 6)) * 50
    x = x.at[1].set(-jnp.inf).at[:, 0, 0, 0].set(-jnp.inf)  # whole slices impossible too
    want = jnp.max(x, axis=axes, keepdims=True)
    np.testing.assert_array_equal(max_keepdims(x, axes), want)
    batched = jax.vmap(lambda v: max_keepdims(v, axes))(jnp.stack([x, x - 1.0]))
    np.testing.assert_array_equal(batched[1], want - 1.0)
    # A group holding a NaN sums to NaN whatever its shift; every other group keeps its max.
    nan = x.at[2, 1, 1, 1].set(jnp.nan)
    clean = ~jnp.any(jnp.isnan(nan), axis=axes, keepdims=True)
    got = max_keepdims(nan, axes)
    assert 0 < int(clean.sum()) < clean.size
    np.testing.assert_array_equal(jnp.where(clean, got, 0.0), jnp.where(clean, want, 0.0))
