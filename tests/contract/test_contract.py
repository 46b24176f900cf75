"""The plated contraction: schedule, float32 underflow, memory estimate."""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import jaxis
from jaxis.contract import plan_contraction
from jaxis.contract._log_z import term_specs


def model(y):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    with numpyro.plate("p", 2):
        c = numpyro.sample("c", dist.Normal(a + b, 1.0))
        numpyro.sample("y", dist.Normal(c, 1.0), obs=y)


def _mpt(K=2):
    return jaxis.mpis(model, K=K)(jax.random.PRNGKey(0), jnp.zeros(2, jnp.float32))


def test_schedule_eliminates_one_latent_per_step_deepest_plates_first(float32):
    graph = _mpt().graph
    steps = plan_contraction(graph, term_specs(graph))
    summed = [s.sum_vars for s in steps if s.sum_vars]
    assert all(len(v) == 1 for v in summed)
    assert summed[0] == ("c",) and {v[0] for v in summed[1:]} == {"a", "b"}
    assert steps[-1].kvars == () and steps[-1].plates == ()


def _in_float64(mpt):
    """log Z and marginals of the same factors, computed in float64."""
    with jax.enable_x64(True):
        m64 = mpt.replace(log_factors=[np.asarray(f, np.float64) for f in mpt.log_factors])
        return float(jaxis.log_evidence(m64)), {k: np.asarray(v) for k, v in
                                                jaxis.marginals(m64).items()}


def _check_against_float64(mpt):
    lz = jaxis.log_evidence(mpt)
    marg = jaxis.marginals(mpt)
    grads = jax.grad(lambda fs: jaxis.log_evidence(mpt.replace(log_factors=fs)))(
        list(mpt.log_factors))
    lz64, marg64 = _in_float64(mpt)
    assert lz.dtype == jnp.float32 and np.isfinite(lz)
    np.testing.assert_allclose(float(lz), lz64, rtol=1e-4)
    for name, w in marg.items():
        assert not np.any(np.isnan(w)), name
        np.testing.assert_allclose(w, marg64[name], atol=1e-5)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_factors_peaking_hundreds_of_nats_apart_give_the_float64_answer(float32):
    """The prior of a peaks at 0, the likelihood at a = 3, 450 nats apart at the ends.

    Each factor shifted by its own maximum underflows float32 in the product at every
    sample; the exact fallback recomputes those entries.
    """
    def model(x):
        a = numpyro.sample("a", dist.Normal(0.0, 0.1))
        numpyro.sample("x", dist.Normal(a, 0.1), obs=x)

    def guide(x):
        numpyro.sample("a", dist.Normal(1.5, 1.0))

    run = jaxis.mpis(model, guide, K=10)
    for seed in range(5):
        _check_against_float64(run(jax.random.PRNGKey(seed), jnp.float32(3.0)))


@pytest.mark.parametrize("seed", range(4))
def test_random_adversarial_factor_tables_give_the_float64_answer(float32, seed):
    """Random log factors spread over +-300 nats on a graph with a three-operand step."""
    mpt = _mpt(K=4)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(mpt.log_factors))
    logs = [100.0 * jax.random.normal(k, f.shape, jnp.float32)
            for k, f in zip(keys, mpt.log_factors)]
    _check_against_float64(mpt.replace(log_factors=logs))


def test_nan_in_a_factor_is_nan_in_the_evidence_not_minus_inf():
    mpt = _mpt(K=3)
    logs = list(mpt.log_factors)
    logs[-1] = logs[-1].at[0].set(jnp.nan)
    broken = mpt.replace(log_factors=logs)
    assert np.isnan(jaxis.log_evidence(broken))
    assert all(np.all(np.isnan(w)) for w in jaxis.marginals(broken).values())


def test_impossible_data_give_minus_inf_evidence_and_nan_posterior_queries():
    """Every term is zero: Z-hat = 0 exactly, and there is no posterior to report."""
    def impossible():
        a = numpyro.sample("a", dist.Normal(0.0, 1.0))
        with numpyro.plate("p", 2):
            b = numpyro.sample("b", dist.Normal(a, 1.0))
            numpyro.factor("f", jnp.where(b > 100.0, 0.0, -jnp.inf))

    mpt = jaxis.mpis(impossible, K=3)(jax.random.PRNGKey(0))
    assert jaxis.log_evidence(mpt) == -jnp.inf
    grads = jax.grad(lambda fs: jaxis.log_evidence(mpt.replace(log_factors=fs)))(
        list(mpt.log_factors))
    assert all(np.all(g == 0.0) for g in grads)  # a zero, not NaN, gradient
    for w in jaxis.marginals(mpt).values():
        assert np.all(np.isnan(w))
    assert np.isnan(jaxis.moments(mpt, {"a": lambda v: v})["a"])
    assert all(np.all(np.isnan(e)) for e in jaxis.ess(mpt).values())
    assert np.isnan(jaxis.mp_ess(mpt))
    assert np.all(np.isnan(jaxis.joint_marginals(mpt, "b").probs))
    with pytest.raises(ValueError, match="No posterior to draw from"):
        jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, 5)
    draws = jax.jit(lambda m: jaxis.sample_posterior(jax.random.PRNGKey(1), m, 5))(mpt)
    assert np.all(np.isnan(draws["a"])) and np.all(np.isnan(draws["b"]))


def test_nan_factor_in_model_code_gives_nan_not_minus_inf():
    def model():
        a = numpyro.sample("a", dist.Normal(0.0, 1.0))
        numpyro.factor("f", jnp.where(a > 0.0, jnp.nan, 0.0))

    mpt = jaxis.mpis(model, K=8)(jax.random.PRNGKey(0))
    assert np.isnan(jaxis.log_evidence(mpt))
    assert np.all(np.isnan(jaxis.marginals(mpt)["a"]))


def test_nan_data_under_an_outer_jit_give_nan_evidence():
    """Outside jit NaN data are rejected before the run; traced, they propagate as NaN."""
    def model(y):
        m = numpyro.sample("m", dist.Normal(0.0, 1.0))
        with numpyro.plate("n", 3):
            numpyro.sample("y", dist.Normal(m, 1.0), obs=y)

    run = jaxis.mpis(model, K=4)
    y = jnp.array([0.0, jnp.nan, 1.0])
    with pytest.raises(ValueError, match="non-finite"):
        run(jax.random.PRNGKey(0), y)
    lz = jax.jit(lambda y: jaxis.log_evidence(run(jax.random.PRNGKey(0), y)))(y)
    assert np.isnan(lz)
