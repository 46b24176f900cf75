"""WeightedSamples under bad input (issue 10): a clear error or a correct value.

Each test is one case of the issue; on the original code each gave a plausible wrong value
or a cryptic error. The rule: NaN in, NaN out; ``+inf``/``-inf`` only where they are the
right answer; anything divided by an undefined total (``0/0``, ``inf/inf``) is NaN; ESS is
in ``[1, N]`` or NaN.
"""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxis.weighted import WeightedSamples

X = jnp.arange(5.0)


def _summary(ws):
    return ws.log_evidence(), ws.ess(), ws.moments({"x": lambda v: v})["x"]


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_one_nan_log_weight_makes_every_estimate_nan(jit):
    lw = jnp.zeros(5).at[2].set(jnp.nan)
    summary = jax.jit(_summary) if jit else _summary
    log_z, ess, mean = summary(WeightedSamples({"x": X}, lw))
    assert np.isnan(log_z) and np.isnan(ess) and np.isnan(mean)


def test_an_infinite_weight_gives_infinite_evidence_and_undefined_normalisation():
    lw = jnp.zeros(5).at[3].set(jnp.inf)
    log_z, ess, mean = jax.jit(_summary)(WeightedSamples({"x": X}, lw))
    assert float(log_z) == np.inf  # Z = inf is right; w / Z = inf / inf is not a number
    assert np.isnan(ess) and np.isnan(mean)


def test_a_huge_log_weight_that_overflows_float32_is_not_a_zero_ess(float32):
    with np.errstate(over="ignore"):
        lw = jnp.asarray(np.array([0.0, 1e308, 0.0, 0.0]).astype(np.float32))  # +inf
    assert lw.dtype == jnp.float32 and float(lw[1]) == np.inf
    log_z, ess, mean = _summary(WeightedSamples({"x": jnp.arange(4.0)}, lw))
    assert float(log_z) == np.inf and np.isnan(ess) and np.isnan(mean)


def test_resampling_weights_that_are_all_zero_raises_and_gives_nan_draws_under_jit():
    ws = WeightedSamples({"x": X, "i": jnp.arange(5)}, jnp.full(5, -jnp.inf))
    with pytest.raises(ValueError, match="resample: log_weights sum to log Z = -inf"):
        ws.resample(jax.random.key(0), 3)
    out = jax.jit(lambda w: w.resample(jax.random.key(0), 3))(ws)
    assert np.all(np.isnan(out.samples["x"]))  # not three copies of a sample without mass
    assert float(out.log_evidence()) == -np.inf  # the evidence is kept


@pytest.mark.parametrize("num", [0, -1, 2.5, True])
def test_resample_count_must_be_a_positive_integer(num):
    ws = WeightedSamples.from_posterior({"x": X})
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1"):
        ws.resample(jax.random.key(0), num)


@pytest.mark.parametrize("n", [10, 17, 20])
def test_pareto_k_of_small_well_behaved_samples_is_finite_and_matches_the_gpd_fit(n):
    """N = 10..24 gave k = inf: the tail was under 5 draws. With the posterior package's
    minimum tail of 5, k-hat is arviz's GPD fit of the 5 largest weights over the 6th."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from arviz.stats.stats import _gpdfit

    lw = 0.3 * jax.random.normal(jax.random.key(n), (n,))  # log-normal weights, all moments
    pk = WeightedSamples({"x": jnp.zeros(n)}, lw).pareto_k()
    w = np.sort(np.exp(np.asarray(lw) - np.max(np.asarray(lw))))
    k_ref, _ = _gpdfit(w[-5:] - w[-6])
    assert np.isfinite(pk.khat)
    np.testing.assert_allclose(pk.khat, k_ref, rtol=1e-10)
    assert bool(pk.reliable) == (k_ref < pk.threshold)


def test_an_empty_set_has_nan_estimates_not_a_reduction_error():
    ws = WeightedSamples({"x": jnp.zeros(0)}, jnp.zeros(0))
    log_z, ess, mean = _summary(ws)
    assert np.isnan(log_z) and np.isnan(ess) and np.isnan(mean)
    assert all(np.isnan(b) for b in ws.bounds())
    with pytest.raises(ValueError, match="no samples to draw from"):
        ws.resample(jax.random.key(0), 3)


def test_from_log_ratios_subtracts_log_n():
    """``log p - log q`` is the raw ratio; the weights include ``-log N`` (so ``Z`` is the
    mean ratio). Here ``p = c q`` exactly, so the estimate is exactly ``log c``."""
    z = jax.random.normal(jax.random.key(0), (7,))
    log_c = 1.25
    log_q = -0.5 * z**2 - 0.5 * jnp.log(2 * jnp.pi)
    ws = WeightedSamples.from_log_ratios({"z": z}, (log_q + log_c) - log_q)
    np.testing.assert_allclose(ws.log_evidence(), log_c, rtol=1e-12)
    np.testing.assert_allclose(ws.log_weights, log_c - np.log(7), rtol=1e-12)
    raw = WeightedSamples({"z": z}, (log_q + log_c) - log_q)  # the convention's trap
    np.testing.assert_allclose(raw.log_evidence(), log_c + np.log(7), rtol=1e-12)
    with pytest.raises(ValueError, match="log_ratios must be 1-D"):
        WeightedSamples.from_log_ratios({"z": z}, jnp.zeros((7, 1)))
