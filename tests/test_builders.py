"""Building a run twice with the same model function reuses its compilation."""
import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

import jaxis
from jaxis._builders import _RUNS


def model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def test_second_build_does_not_recompile(caplog):
    y, key = jnp.array([0.2, -0.4, 1.1]), jax.random.PRNGKey(0)
    first = jaxis.log_evidence(jaxis.mpis(model, K=7)(key, y))
    with jax.log_compiles(True), caplog.at_level("WARNING"):
        again = jaxis.log_evidence(jaxis.mpis(model, K=7)(key, y))
    assert [r for r in caplog.records if "Compiling" in r.getMessage()] == []
    assert float(again) == float(first)
    assert jaxis.mpis(model, K=7) is jaxis.mpis(model, K=7)
    assert jaxis.mpis(model, K=8) is not jaxis.mpis(model, K=7)
    assert jaxis.mpis(model, K=7, enumerate="marked") is not jaxis.mpis(model, K=7)
    assert jaxis.global_is(model, K=7) is jaxis.global_is(model, K=7)
    assert jaxis.mpis(model, K=7, params={}) is not jaxis.mpis(model, K=7, params={})


def test_cache_is_bounded():
    from jaxis._builders import MAX_RUNS

    for K in range(1, MAX_RUNS + 5):
        jaxis.mpis(model, K=K)
    assert len(_RUNS) == MAX_RUNS
    assert (model, "mpis", None, 1, "auto", None, True) not in _RUNS  # the oldest went first
