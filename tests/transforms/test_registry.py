"""One registry of every public numerical function drives the transformation tests.

Each entry maps a parameter ``p`` (scalar float) to a pytree of outputs through one
jaxis function (as optax's test of every optimizer from one table). For every entry:

- under ``jax.jit`` a second and third call with new values of ``p`` do not retrace (a
  Python side-effect counter in the traced body);
- ``jax.vmap`` over three values of ``p`` equals three jitted calls;
- where meaningful, ``jax.grad`` of the summed outputs matches central differences;
- in float32 the outputs stay finite wherever the float64 ones are, and agree with them
  (random entries draw different numbers in float32, so only finiteness is compared).
"""
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxis.diagnostics import ess_curve, stability, weight_summary
from jaxis.transforms import (
    detection_efficiency,
    from_nested,
    log_marginal_quadrature,
    marginal_replace,
    population_log_likelihood,
    power_scale,
    prior_swap,
    psis,
    reweight,
)
from jaxis.weighted import WeightedSamples, simulate_log_evidence

RNG = np.random.default_rng(0)
X = RNG.normal(size=64)
Y = RNG.normal(size=64)
THETA = RNG.normal(size=(3, 40)) + np.array([[0.0], [1.0], [-1.0]])
LIVE = np.concatenate([np.full(40, 16.0), np.arange(16.0, 0.0, -1.0)])
LOG_X = np.cumsum(np.log(np.maximum(1.0 - 1.0 / LIVE, 0.0), where=LIVE > 1, out=np.full(56, -np.inf)))
NS_THETA = np.sort(np.abs(RNG.normal(size=56)) * np.exp(LOG_X / 2))[::-1]  # L rises
KEY = 7


def base():
    x = jnp.asarray(X)
    return WeightedSamples({"x": x, "y": jnp.asarray(Y)}, -0.5 * x**2 + 0.3 * x)


def summary(ws, site="x"):
    return dict(
        log_z=ws.log_evidence(),
        ess=ws.ess(),
        mean=ws.moments({"m": (site, lambda v: v)})["m"],
    )


def nested(p):
    theta = jnp.asarray(NS_THETA)
    return from_nested({"t": theta}, -0.5 * p * theta**2, log_volume=jnp.asarray(LOG_X),
                       num_live=jnp.asarray(LIVE))


def log_n(x, m, s):
    return -0.5 * ((x - m) / s) ** 2 - jnp.log(s)


class Entry(NamedTuple):
    name: str
    fn: Callable
    grad: bool = True
    random: bool = False  # float32 draws differ from float64 ones: compare finiteness only


REGISTRY = [
    Entry("from_log_ratios", lambda p: summary(WeightedSamples.from_log_ratios(
        {"x": jnp.asarray(X)}, -0.5 * p * jnp.asarray(X) ** 2))),
    Entry("reweight", lambda p: summary(reweight(base(), lambda s: p * s["x"]))),
    Entry("prior_swap", lambda p: summary(prior_swap(
        base(), lambda s: log_n(s["x"], 0.0, 2.0), lambda s: log_n(s["x"], p, 1.0)))),
    Entry("power_scale", lambda p: summary(power_scale(base(), p, lambda s: log_n(s["x"], 0.5, 1.0)))),
    Entry("psis", lambda p: summary(psis(reweight(base(), lambda s: p * s["x"] ** 2))), grad=False),
    Entry("bounds", lambda p: reweight(base(), lambda s: p * s["x"]).bounds()),
    Entry("resample", lambda p: summary(reweight(base(), lambda s: p * s["x"]).resample(
        jax.random.key(KEY), 32)), grad=False, random=True),
    Entry("marginal_replace", lambda p: summary(marginal_replace(
        base(), {"y": jnp.asarray(Y) * 0.5},
        log_replacement_density=lambda s: log_n(s["y"], 0.0, 0.5),
        log_old_marginal=lambda s: log_n(s["x"], 0.0, 1.0),
        log_target=lambda s: log_n(s["x"], p, 1.0) + log_n(s["y"], p, 1.0)))),
    Entry("log_marginal_quadrature", lambda p: log_marginal_quadrature(
        lambda s: log_n(s["x"], 0.0, 1.0) + log_n(s["y"], p * s["x"], 1.0), {"x": jnp.asarray(X)},
        site="y", nodes=jnp.linspace(-8.0, 8.0, 33), log_node_weights=jnp.full(33, jnp.log(0.5)))),
    Entry("from_nested", lambda p: summary(nested(p), "t")),
    Entry("simulate_log_evidence", lambda p: simulate_log_evidence(
        jax.random.key(KEY), (nested(1.0), reweight(nested(1.0), lambda s: -p * s["t"] ** 2)),
        num_draws=8), random=True),
    Entry("population_log_likelihood", lambda p: population_log_likelihood(
        log_n(jnp.asarray(THETA), p, 1.0), log_n(jnp.asarray(THETA), 0.0, 3.0),
        mask=jnp.arange(40)[None, :] < jnp.array([[40], [25], [10]]), penalty="smooth", max_variance=0.01)),
    Entry("detection_efficiency", lambda p: detection_efficiency(
        log_n(jnp.asarray(X), p, 1.0), log_n(jnp.asarray(X), 0.0, 1.0), num_injections=100)),
    Entry("stability", lambda p: stability(p * jnp.asarray(X) ** 2, -0.5 * jnp.asarray(X) ** 2)[:2]),
    Entry("ess_curve", lambda p: ess_curve(reweight(base(), lambda s: p * s["x"])), grad=False),
    Entry("weight_summary", lambda p: weight_summary(reweight(base(), lambda s: p * s["x"])), grad=False),
]
PARAMS = (0.7, 1.1, 1.3)


def _leaves(tree):
    return [np.asarray(leaf, dtype=float) for leaf in jax.tree_util.tree_leaves(tree)]


def _assert_trees_close(a, b, **tol):
    for x, y in zip(_leaves(a), _leaves(b)):
        np.testing.assert_allclose(x, y, **tol)


@pytest.mark.parametrize("entry", REGISTRY, ids=[e.name for e in REGISTRY])
def test_jit_vmap_grad_no_recompile_float32(entry):
    traces = []

    def scalar(p):
        return sum(jnp.sum(jnp.where(jnp.isfinite(v), v, 0.0)) for v in jax.tree_util.tree_leaves(entry.fn(p)))

    def counted(p):  # values and gradient in one compiled function
        traces.append(None)
        grad = jax.grad(scalar)(p) if entry.grad else jnp.zeros_like(p)
        return entry.fn(p), grad

    jitted = jax.jit(counted)
    per_p = [jitted(jnp.asarray(p)) for p in PARAMS]
    assert len(traces) == 1, f"{entry.name} retraced for a new parameter value"

    batched = jax.jit(jax.vmap(entry.fn))(jnp.asarray(PARAMS))
    for i, (single, _) in enumerate(per_p):
        _assert_trees_close(jax.tree_util.tree_map(lambda v: v[i], batched), single, rtol=1e-10, atol=1e-12)

    if entry.grad:
        def summed(p):
            return sum(np.sum(np.where(np.isfinite(v), v, 0.0)) for v in _leaves(jitted(jnp.asarray(p))[0]))

        p0, eps = PARAMS[1], 1e-5
        fd = (summed(p0 + eps) - summed(p0 - eps)) / (2 * eps)
        np.testing.assert_allclose(float(per_p[1][1]), fd, rtol=1e-5, atol=1e-7)

    # float32: finite exactly where float64 is, and close to it
    ref = _leaves(per_p[1][0])
    with jax.enable_x64(False):
        out = jax.jit(entry.fn)(jnp.asarray(PARAMS[1], jnp.float32))
        for leaf in jax.tree_util.tree_leaves(out):
            if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating):
                assert jnp.asarray(leaf).dtype == jnp.float32, entry.name
        got = _leaves(out)
    for x, y in zip(got, ref):
        np.testing.assert_array_equal(np.isfinite(x), np.isfinite(y))
        if not entry.random:
            np.testing.assert_allclose(x[np.isfinite(x)], y[np.isfinite(y)], rtol=2e-3, atol=2e-4)
