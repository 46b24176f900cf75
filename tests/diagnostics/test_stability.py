"""The stability slope, ESS growth and the weight summary, on cases with exact answers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxis.diagnostics import ess_curve, stability, weight_summary
from jaxis.transforms import from_nested, reweight
from jaxis.weighted import WeightedSamples


def log_normal(x, s, m=0.0):
    return -0.5 * jnp.sum(((x - m) / s) ** 2, -1) - x.shape[-1] * jnp.log(s)


@pytest.mark.parametrize("scale_q, scale_p", [(1.0, 2.0), (2.0, 1.0), (1.0, 1.25)])
def test_gaussian_slope_is_variance_ratio(scale_q, scale_p):
    """log p = (sigma_q^2 / sigma_p^2) log q + const exactly for zero-mean Gaussians."""
    x = scale_q * jax.random.normal(jax.random.key(0), (4000, 1))
    log_q, log_p = log_normal(x, scale_q), log_normal(x, scale_p)
    res = jax.jit(stability)(log_p, log_q)
    np.testing.assert_allclose(res.slope, scale_q**2 / scale_p**2, rtol=1e-10)
    assert float(res.slope_se) < 1e-8
    assert bool(res.stable) == (scale_q >= scale_p)
    ws = WeightedSamples({"x": x}, log_p - log_q - jnp.log(4000.0))
    np.testing.assert_allclose(stability(ws, log_q).slope, res.slope, rtol=1e-10)


def test_nested_samples_are_stable_and_posterior_draws_are_not():
    """The blog's figure: for a shifted, wider target, nested samples stay below the 1:1
    line in the low-density tail; resampled posterior draws do not."""

    @jax.jit
    def both(key):
        n_live, n_iter, dim = 100, 1200, 2
        live = jnp.concatenate([jnp.full(n_iter, n_live), jnp.arange(n_live, 0, -1)]).astype(float)
        k1, k2, k3 = jax.random.split(key, 3)
        log_x = jnp.cumsum(jnp.log(jax.random.uniform(k1, live.shape)) / live)
        direction = jax.random.normal(k2, (live.shape[0], dim))
        direction = direction / jnp.linalg.norm(direction, axis=1, keepdims=True)
        theta = direction * (5.0 * jnp.exp(log_x / dim))[:, None]
        log_l = log_normal(theta, 1.0)
        nominal = jnp.cumsum(jnp.log1p(-1.0 / live))
        ns = from_nested({"t": theta}, log_l, log_volume=nominal, num_live=live)
        mean = jnp.array([1.5, 0.0])
        new = reweight(ns, lambda s: log_normal(s["t"], 1.5, mean) - log_l)
        post = ns.resample(k3, ns.num_samples)
        log_q = log_normal(post.samples["t"], 1.0)  # posterior draws: old posterior density
        moved = reweight(post, lambda s: log_normal(s["t"], 1.5, mean) - log_q)
        return stability(new).stable, stability(moved, log_q).stable

    nested_stable, resampled_stable = both(jax.random.key(1))
    assert bool(nested_stable) and not bool(resampled_stable)


def test_ess_curve_and_summary():
    x = jax.random.normal(jax.random.key(2), (500,))
    ws = WeightedSamples({"x": x}, 0.5 * x)
    curve_fn = jax.jit(ess_curve)
    curve = curve_fn(ws)
    w_all = np.exp(0.5 * np.asarray(x))
    np.testing.assert_allclose(curve[-1], w_all.sum() ** 2 / (w_all**2).sum(), rtol=1e-12)
    w = w_all[:100]
    np.testing.assert_allclose(curve[99], w.sum() ** 2 / (w**2).sum(), rtol=1e-12)
    flat = WeightedSamples.from_posterior({"x": x})
    np.testing.assert_allclose(curve_fn(flat), np.arange(1, 501), rtol=1e-12)
    zero_first = ws.replace(log_weights=ws.log_weights.at[:10].set(-jnp.inf))
    c = np.asarray(curve_fn(zero_first))
    assert np.all(np.isnan(c[:10]))  # no mass yet: no effective sample size
    assert np.all((c[10:] >= 1.0) & (c[10:] <= np.arange(11, 501)))
    s = jax.jit(weight_summary)(ws)
    np.testing.assert_allclose(s.ess_fraction * 500, curve[-1], rtol=1e-12)
    np.testing.assert_allclose(s.max_weight, w_all.max() / w_all.sum(), rtol=1e-12)
    assert s.elbo <= s.log_evidence <= s.eubo  # Jensen and KL(wbar || uniform) >= 0


def test_bad_inputs():
    ws = WeightedSamples({"x": jnp.zeros(10)}, jnp.zeros(10))
    with pytest.raises(ValueError, match="log_sampling_density is needed"):
        stability(ws)
    with pytest.raises(ValueError, match="tail_fraction"):
        stability(jnp.zeros(10), jnp.zeros(10), tail_fraction=0.0)
    with pytest.raises(ValueError, match="equal length"):
        stability(jnp.zeros(10), jnp.zeros(9))


def test_nan_input_and_too_few_tail_points_are_not_a_verdict():
    log_q = jnp.linspace(-5.0, 0.0, 20)
    res = stability(2.0 * log_q, log_q.at[15].set(jnp.nan))  # outside the fitted tail
    assert np.isnan(res.slope) and np.isnan(res.slope_se) and not bool(res.stable)
    one_point = stability(jnp.full(20, -jnp.inf).at[0].set(0.0), log_q)  # p = 0 but once
    assert np.isnan(one_point.slope) and not bool(one_point.stable)
    two_points = stability(jnp.full(20, -jnp.inf).at[:2].set(0.0), log_q)
    assert np.isfinite(two_points.slope) and np.isnan(two_points.slope_se)
