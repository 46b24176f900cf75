"""WeightedSamples: construction, log-space safety, resampling, bounds, Pareto k."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxis.weighted import WeightedSamples, pareto_k_threshold, psis_log_weights


def gaussian_pair_log_weights(key, n, scale_q, scale_p):
    """Draws from N(0, q^2 I_2) weighted to N(0, p^2 I_2): ``r^2`` is exponential, so for
    ``q < p`` the weights have an exact Pareto tail with ``k = 1 - q^2 / p^2``."""
    z = scale_q * jax.random.normal(key, (n, 2))
    r2 = jnp.sum(z**2, axis=1)
    return -0.5 * r2 / scale_p**2 - 2 * jnp.log(scale_p) + 0.5 * r2 / scale_q**2 + 2 * jnp.log(scale_q)


def test_constructor_validates_shapes():
    with pytest.raises(ValueError, match="log_weights must be 1-D"):
        WeightedSamples({"x": jnp.zeros(3)}, jnp.zeros((3, 1)))
    with pytest.raises(ValueError, match="samples\\['x'\\] has 4 rows but log_weights has 3"):
        WeightedSamples({"x": jnp.zeros(4)}, jnp.zeros(3))
    with pytest.raises(ValueError, match="scalar"):
        WeightedSamples({"x": jnp.float32(1.0)}, jnp.zeros(3))
    with pytest.raises(ValueError, match="dict site -> array"):
        WeightedSamples(jnp.zeros(3), jnp.zeros(3))
    with pytest.raises(ValueError, match="share the leading sample axis"):
        WeightedSamples.from_posterior({"a": jnp.zeros(3), "b": jnp.zeros(4)})
    with pytest.raises(ValueError, match="does not match"):
        WeightedSamples({"x": jnp.zeros(3)}, jnp.zeros(3)).replace(log_weights=jnp.zeros(4))
    with pytest.raises(ValueError, match="asks for site 'y'"):
        WeightedSamples({"x": jnp.zeros(3)}, jnp.zeros(3)).moments({"m": ("y", jnp.sin)})


def test_from_posterior_and_basic_estimates():
    ws = WeightedSamples.from_posterior({"x": jnp.arange(4.0), "y": jnp.ones((4, 2))})
    np.testing.assert_allclose(ws.log_evidence(), 0.0, atol=1e-15)
    np.testing.assert_allclose(ws.ess(), 4.0)
    np.testing.assert_allclose(ws.normalized_weights(), 0.25)
    m = ws.moments({"x": lambda x: x, "xy": (("x", "y"), lambda x, y: x * y)})
    np.testing.assert_allclose(m["x"], 1.5)
    np.testing.assert_allclose(m["xy"], [1.5, 1.5])
    b = ws.bounds()
    np.testing.assert_allclose([b.elbo, b.eubo], [0.0, 0.0], atol=1e-15)
    assert ws.num_samples == 4 and "num_samples=4" in repr(ws)


def test_all_zero_weights_give_minus_inf_evidence_undefined_normalisation_and_zero_grads():
    """Z = 0: log Z = -inf, the kept evidence of a resample is -inf; everything that divides
    by Z (normalised weights, ESS, EUBO, k-hat) is 0/0 = NaN; gradients are NaN-free."""
    x = jnp.arange(20.0)

    @jax.jit
    def everything(lw):
        ws = WeightedSamples({"x": x}, lw)
        grads = [
            jax.grad(lambda v: fn(WeightedSamples({"x": x}, v)))(lw)
            for fn in (lambda w: w.ess(), lambda w: w.log_evidence(), lambda w: w.bounds().eubo)
        ]
        return dict(
            log_z=ws.log_evidence(), ess=ws.ess(), w=ws.normalized_weights(), bounds=ws.bounds(),
            pk=ws.pareto_k(), grads=grads, resampled=ws.resample(jax.random.key(0), 5).log_evidence(),
        )

    out = everything(jnp.full(20, -jnp.inf))
    assert float(out["log_z"]) == -np.inf and float(out["resampled"]) == -np.inf
    assert np.isnan(float(out["ess"]))
    assert np.all(np.isnan(out["w"]))
    assert float(out["bounds"].elbo) == -np.inf and np.isnan(float(out["bounds"].eubo))
    assert np.isnan(float(out["pk"].khat)) and not bool(out["pk"].reliable)
    assert not any(np.any(np.isnan(g)) for g in out["grads"])


def test_float32_log_space(float32):
    lw = jnp.array([-10_000.0, -10_001.0, -10_003.0], jnp.float32)
    ws = WeightedSamples({"x": jnp.arange(3.0)}, lw)
    ref = np.log(np.sum(np.exp(np.array([0.0, -1.0, -3.0])))) - 10_000.0
    assert ws.log_evidence().dtype == jnp.float32
    np.testing.assert_allclose(ws.log_evidence(), ref, rtol=1e-6)
    w = np.exp([0.0, -1.0, -3.0])
    np.testing.assert_allclose(ws.ess(), w.sum() ** 2 / (w**2).sum(), rtol=1e-5)
    b = ws.bounds()
    assert np.isfinite(b.elbo) and np.isfinite(b.eubo) and b.elbo <= b.eubo


def test_resample_preserves_evidence_and_distribution():
    key_x, key_r = jax.random.split(jax.random.key(0))
    x = jax.random.normal(key_x, (5000,))
    ws = WeightedSamples({"x": x}, -0.5 * (x - 1.0) ** 2 + 0.5 * x**2 + 3.0)  # N(0,1) -> N(1,1)
    n = 20_000
    draws = jax.jit(lambda w, k: w.resample(k, n))(ws, key_r)
    np.testing.assert_allclose(draws.log_evidence(), ws.log_evidence(), rtol=1e-12)
    w = np.asarray(ws.normalized_weights())
    mean = float(np.sum(w * np.asarray(x)))
    se_weighted = np.sqrt(np.sum(w**2 * (np.asarray(x) - mean) ** 2))
    sample = np.asarray(draws.samples["x"])
    assert abs(sample.mean() - mean) < 5 * (sample.std() / np.sqrt(n))
    assert abs(mean - 1.0) < 5 * se_weighted
    assert np.all(np.isin(sample, np.asarray(x)))
    zero = ws.replace(log_weights=ws.log_weights.at[::2].set(-jnp.inf))
    picked = np.asarray(jax.jit(lambda w, k: w.resample(k, 1000))(zero, key_r).samples["x"])
    assert not np.any(np.isin(picked, np.asarray(x)[::2]))


def test_pareto_k_agrees_with_arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az

    @jax.jit
    def ours(lw):
        res = psis_log_weights(lw)
        return res.log_weights, res.khat, WeightedSamples({"x": lw}, lw).pareto_k()

    for n, q, p in [(2000, 1.0, 1.5), (2000, 2.0, 1.0)]:  # heavy tail; bounded weights
        lw = np.asarray(gaussian_pair_log_weights(jax.random.key(n), n, q, p))
        ref_lw, ref_k = az.psislw(lw.copy(), normalize=False)
        smoothed, khat, pk = ours(jnp.asarray(lw))
        np.testing.assert_allclose(khat, ref_k, rtol=1e-10)
        np.testing.assert_allclose(smoothed, ref_lw, atol=1e-10)
        np.testing.assert_allclose(pk.khat, ref_k, rtol=1e-10)
        assert pk.threshold == min(1 - 1 / np.log10(n), 0.7)


@jax.jit
def _khat_replicates(keys, ratio):
    n = 30_000
    return jax.vmap(
        lambda k: WeightedSamples(
            {"x": jnp.zeros(n)}, gaussian_pair_log_weights(k, n, jnp.sqrt(ratio), 1.0)
        ).pareto_k().khat
    )(keys)


@pytest.mark.parametrize("ratio", [0.8, 0.5, 0.3])
def test_pareto_k_of_gaussian_pairs(ratio):
    """k = 1 - sigma_q^2 / sigma_p^2 for a proposal narrower than the target."""
    reps = 20
    keys = jax.random.split(jax.random.key(int(ratio * 10)), reps)
    khat = np.asarray(_khat_replicates(keys, ratio))
    assert abs(khat.mean() - (1 - ratio)) < 5 * khat.std(ddof=1) / np.sqrt(reps)


def test_pareto_k_threshold_and_constant_weights():
    assert pareto_k_threshold(100) == 0.5
    assert pareto_k_threshold(10**6) == 0.7
    with pytest.raises(ValueError, match="num_samples"):
        pareto_k_threshold(1)
    pk = jax.jit(lambda ws: ws.pareto_k())(WeightedSamples.from_posterior({"x": jnp.arange(50.0)}))
    assert float(pk.khat) == -np.inf and bool(pk.reliable)
    with pytest.raises(ValueError, match="at least 10 samples"):
        psis_log_weights(jnp.zeros(5))
