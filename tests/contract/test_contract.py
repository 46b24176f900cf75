"""The plated contraction: schedule, float32 underflow, memory estimate."""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import jaxis
from jaxis.contract import plan_contraction
from jaxis.contract._log_z import term_specs
from jaxis.contract._memory import peak_bytes


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


def test_underflowing_einsum_gives_minus_inf_not_nan(float32):
    """Factors whose maxima sit at different indices underflow float32 in the product.

    The combination is then impossible in the forward pass, and the gradient (marginals)
    stays finite and normalised instead of NaN.
    """
    mpt = _mpt()
    graph = mpt.graph
    factors = {f.name: i for i, f in enumerate(graph.factors)}
    logs = list(mpt.log_factors)
    # c's factor over (c, b, a, p): for a = 0 the best c is 0; the observation wants c = 1
    fc = jnp.zeros((2, 2, 2, 2), jnp.float32).at[1, :, 0, :].set(-200.0)
    logs[factors["c"]] = fc
    logs[factors["y"]] = jnp.array([[-200.0, -200.0], [0.0, 0.0]], jnp.float32)
    broken = mpt.replace(log_factors=logs)
    lz = jaxis.log_evidence(broken)
    marg = jaxis.marginals(broken)
    assert np.isfinite(lz)
    for name, w in marg.items():
        assert np.all(np.isfinite(w)), name
        np.testing.assert_allclose(w.sum(0), 1.0, rtol=1e-6)
    # the a = 0 branch is impossible in float32: all its mass is lost to underflow
    np.testing.assert_allclose(marg["a"][0], 0.0, atol=1e-30)


def test_memory_estimate_grows_with_the_largest_step():
    for K in (5, 10):
        g = _mpt(K).graph
        # eliminating c: its factor (c, b, a, p) = 2 K^3, its shifted copy 2 K^3, the
        # observation (c, p) = 2 K, the output (b, a, p) = 2 K^2; 4 bytes each
        assert peak_bytes(g, term_specs(g), 4) == 4 * (4 * K**3 + 2 * K**2 + 2 * K)


def test_impossible_data_is_flagged_by_minus_inf_without_nan():
    def impossible():
        a = numpyro.sample("a", dist.Normal(0.0, 1.0))
        with numpyro.plate("p", 2):
            b = numpyro.sample("b", dist.Normal(a, 1.0))
            numpyro.factor("f", jnp.where(b > 100.0, 0.0, -jnp.inf))

    mpt = jaxis.mpis(impossible, K=3)(jax.random.PRNGKey(0))
    assert jaxis.log_evidence(mpt) == -jnp.inf
    for w in jaxis.marginals(mpt).values():
        assert not np.any(np.isnan(w)) and np.all(w == 0.0)
    assert not np.isnan(jaxis.moments(mpt, {"a": lambda v: v})["a"])
