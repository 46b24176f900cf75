"""Matmul precision: every exp-space product of the estimator runs at ``HIGHEST``.

GPUs and TPUs multiply float32 matrices in TF32/bf16 by default (~10 mantissa bits), which
moves log Z by far more than its Monte Carlo error. The estimator asks for
``precision=HIGHEST`` in every contraction; these tests read the ``dot_general``
equations of the traced queries (forward and backward passes, through ``cond``,
``custom_vjp`` and ``scan``) and fail on any other precision, and check that on CPU the
choice does not change the value (CPU float32 products are exact-rounded either way), and
that float64, when the caller turns it on, is kept end to end.
"""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.contrib.control_flow import scan

import jaxis
from jaxis.contract import _step
from tests import oracles
from tests import tiny_models as tm

HIGHEST = (jax.lax.Precision.HIGHEST, jax.lax.Precision.HIGHEST)


def _sub_jaxprs(value):
    for v in value if isinstance(value, (list, tuple)) else [value]:
        if hasattr(v, "jaxpr") and hasattr(v.jaxpr, "eqns"):  # ClosedJaxpr
            yield v.jaxpr
        elif hasattr(v, "eqns"):  # Jaxpr
            yield v


def dot_precisions(jaxpr) -> list:
    """The ``precision`` of every ``dot_general`` in ``jaxpr`` and its sub-jaxprs."""
    found = []
    for eq in jaxpr.eqns:
        if eq.primitive.name == "dot_general":
            found.append(eq.params["precision"])
        for value in eq.params.values():
            for sub in _sub_jaxprs(value):
                found.extend(dot_precisions(sub))
    return found


def hmm(y):
    """A two-state HMM with scan (enumerated states: the forward algorithm's products)."""
    p = numpyro.sample("p", dist.Beta(2.0, 2.0))

    def step(z_prev, y_t):
        z = numpyro.sample("z", dist.Bernoulli(jnp.where(z_prev == 1, 0.9, 1.0 - p)))
        numpyro.sample("y", dist.Normal(2.0 * z, 1.0), obs=y_t)
        return z, None

    scan(step, 0, y)


CASES = {
    "plated": (tm.plated_hierarchy, (jnp.array([[0.3, -0.2, 1.0], [1.5, 0.7, 1.1]]),)),
    "three_parents": (tm.three_parents, (jnp.array([0.4, -0.3]),)),
    "scan_hmm": (hmm, (jnp.array([0.1, 2.2, 1.9, -0.4]),)),
}

QUERIES = {
    "log_evidence": jaxis.log_evidence,
    "grad": jax.grad(lambda m: jaxis.log_evidence(m), allow_int=True),
    "marginals": jaxis.marginals,
    "moments": lambda m: jaxis.moments(m, {s: lambda v: v**2 for s in m.samples}),
    "joint_marginals": lambda m: jaxis.joint_marginals(m, m.graph.latents[-1].name).probs,
    "sample_posterior": lambda m: jaxis.sample_posterior(jax.random.PRNGKey(1), m, 5),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("query", sorted(QUERIES))
def test_every_contraction_asks_for_highest_precision(case, query):
    model, args = CASES[case]
    mpt = jaxis.mpis(model, K=4)(jax.random.PRNGKey(0), *args)
    found = dot_precisions(jax.make_jaxpr(QUERIES[query])(mpt).jaxpr)
    if case != "scan_hmm":  # the chain product is a log-space sum, not a matmul
        assert found, "expected the contraction to contain matrix products"
    assert all(p == HIGHEST for p in found), found


def test_weighted_moments_ask_for_highest_precision():
    ws = jaxis.global_is(tm.explaining_away, K=50)(jax.random.PRNGKey(0))
    found = dot_precisions(jax.make_jaxpr(lambda w: w.moments({"a": lambda v: v}))(ws).jaxpr)
    assert found and all(p == HIGHEST for p in found), found


@pytest.mark.parametrize("case", ["plated", "three_parents"])
def test_default_and_highest_agree_on_cpu(case, monkeypatch, float32):
    model, args = CASES[case]
    args = tuple(jnp.asarray(a, jnp.float32) for a in args)
    mpt = jaxis.mpis(model, K=6)(jax.random.PRNGKey(3), *args)
    highest = jaxis.log_z(mpt.graph, mpt.log_factors)
    monkeypatch.setattr(_step, "PRECISION", jax.lax.Precision.DEFAULT)
    default = jaxis.log_z(mpt.graph, mpt.log_factors)
    found = dot_precisions(jax.make_jaxpr(lambda f: jaxis.log_z(mpt.graph, f))(mpt.log_factors).jaxpr)
    assert found and all(p == (jax.lax.Precision.DEFAULT,) * 2 for p in found)
    np.testing.assert_allclose(default, highest, rtol=1e-6)


def test_float64_opt_in_is_kept_end_to_end(float32):
    """x64 turned on by the caller: every array of the run and of its queries is float64,
    and log Z and the marginals match brute-force enumeration of the same samples to
    float64 rounding, far below float32's resolution (eps 1.2e-7)."""
    with jax.enable_x64(True):
        y = jnp.array([[0.3, -0.2, 1.0], [1.5, 0.7, 1.1]], dtype=jnp.float64)
        mpt = jaxis.mpis(tm.plated_hierarchy, K=3)(jax.random.PRNGKey(0), y)
        log_z, marginals = jaxis.log_evidence(mpt), jaxis.marginals(mpt)
        mean = jaxis.moments(mpt, {"theta": lambda v: v})["theta"]
        arrays = [*mpt.log_factors, *mpt.samples.values(), log_z, mean, *marginals.values()]
        assert all(x.dtype == jnp.float64 for x in arrays), [x.dtype for x in arrays]
        batch = {l.name: l.batch_shape for l in mpt.graph.latents}
        en = oracles.enumerate_mp(tm.plated_hierarchy, None, mpt.samples, batch, (y,),
                                  perms=mpt.perms)
        tol = 1e3 * np.finfo(np.float64).eps  # 2e-13
        np.testing.assert_allclose(log_z, en.log_z, rtol=tol)
        for lat in mpt.graph.latents:
            np.testing.assert_allclose(
                marginals[lat.name], oracles.marginal(en, lat.name, mpt.K, lat.batch_shape),
                rtol=tol, atol=tol)
