"""Property suite for the transforms (issue 10): inputs with random NaN / inf / -inf / huge
entries and sizes 0 to 50; no output is ever a finite number computed from a NaN input,
ESS is in ``[1, N]`` or NaN, and finite cases match IEEE references computed with numpy.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxis.transforms import (
    from_nested,
    population_log_likelihood,
    power_scale,
    prior_swap,
    reweight,
)
from jaxis.weighted import WeightedSamples
from tests.strategies import PROPERTY, sizes, with_specials


def _summary(ws):
    return dict(log_z=ws.log_evidence(), ess=ws.ess(), mean=ws.moments({"x": jnp.cos})["x"])


@jax.jit
def _transformed(lw, a, b, alpha):
    ws = WeightedSamples({"x": jnp.arange(lw.shape[0], dtype=lw.dtype)}, lw)
    return dict(
        prior_swap=_summary(prior_swap(ws, b, a)),  # old b, new a
        reweight=_summary(reweight(ws, a)),
        power_scale=_summary(power_scale(ws, alpha, a)),
    )


def _log_sum(x):
    with np.errstate(invalid="ignore"):
        return np.logaddexp.reduce(x) if x.size else np.nan


def _check(out, n, nan_in, reference_log_z):
    assert np.isnan(out["ess"]) or 1.0 <= float(out["ess"]) <= n
    if nan_in:
        assert all(np.isnan(v) for v in out.values())
    else:
        np.testing.assert_allclose(float(out["log_z"]), reference_log_z, rtol=1e-12)


@PROPERTY
@given(st.data())
def test_reweighting_transforms(data):
    n = data.draw(sizes())
    lw, a, b = (data.draw(with_specials(n)) for _ in range(3))
    alpha = data.draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, np.nan]))
    out = _transformed(*(jnp.asarray(v) for v in (lw, a, b)), jnp.asarray(alpha))
    with np.errstate(invalid="ignore"):
        # p_old = 0 where a sample has weight: flagged NaN; a zero-weight row stays zero
        impossible = (b == -np.inf) & (lw > -np.inf)
        keep_zero = (b == -np.inf) & (lw == -np.inf) & ~np.isnan(a)
        swapped = np.where(keep_zero, -np.inf, np.where(impossible, np.nan, lw + (a - b)))
        shifted = lw + a
    nan_in = np.isnan(lw).any() | np.isnan(a).any()
    _check(out["prior_swap"], n, nan_in | np.isnan(b).any() | impossible.any(), _log_sum(swapped))
    _check(out["reweight"], n, nan_in, _log_sum(shifted))
    scale = out["power_scale"]
    assert np.isnan(scale["ess"]) or 1.0 <= float(scale["ess"]) <= n
    if nan_in or np.isnan(alpha):
        assert all(np.isnan(v) for v in scale.values())


N_LIVE = 5


def _valid_run(data, n):
    """Distinct rising likelihoods and the nominal volumes of ``N_LIVE`` live points."""
    logl = np.sort(data.draw(st.lists(st.floats(-30, 30), min_size=n, max_size=n, unique=True)))
    live = np.minimum(np.arange(n, 0, -1.0), N_LIVE)
    with np.errstate(divide="ignore"):
        log_x = np.cumsum(np.log1p(-1.0 / live))
    return np.asarray(logl, float), log_x


@jax.jit
def _nested_log_z(theta, logl, log_x):
    return from_nested({"t": theta}, logl, log_volume=log_x, num_live=N_LIVE).log_evidence()


@PROPERTY
@given(st.data())
def test_from_nested_is_invariant_to_row_order_and_flags_nan(data):
    n = data.draw(sizes(2, 7, 50))
    logl, log_x = _valid_run(data, n)
    theta = np.arange(n, dtype=float)
    ref = _nested_log_z(theta, logl, log_x)
    perm = np.asarray(data.draw(st.permutations(range(n))))
    np.testing.assert_allclose(_nested_log_z(theta[perm], logl[perm], log_x[perm]), ref, rtol=1e-12)
    broken = logl.copy()
    broken[data.draw(st.integers(0, n - 1))] = np.nan
    assert np.isnan(_nested_log_z(theta, broken, log_x))
    with pytest.raises(ValueError, match="log_likelihood is NaN at dead point"):
        from_nested({"t": theta}, broken, log_volume=log_x)


@jax.jit
def _population(log_pop, log_old, mask):
    return population_log_likelihood(log_pop, log_old, mask=mask, penalty="smooth")


@PROPERTY
@given(st.data())
def test_population_likelihood(data):
    n = data.draw(sizes(1, 2, 7, 50))
    log_pop = np.stack([data.draw(with_specials(n)) for _ in range(3)])
    log_old = np.stack([data.draw(with_specials(n, -5.0, 5.0)) for _ in range(3)])
    mask = np.asarray(data.draw(st.lists(st.booleans(), min_size=3 * n, max_size=3 * n)))
    mask = mask.reshape(3, n)
    res = _population(jnp.asarray(log_pop), jnp.asarray(log_old), jnp.asarray(mask))
    drawn_nan = (np.isnan(log_pop) | np.isnan(log_old)) & mask
    impossible = (log_old == -np.inf) & mask
    empty_source = ~mask.any(axis=1)
    if drawn_nan.any() or impossible.any() or empty_source.any():
        assert np.isnan(res.log_likelihood)
    var = float(res.variance)
    assert np.isnan(var) or var >= 0.0
    assert np.all(np.isnan(res.n_eff) | (np.asarray(res.n_eff) >= 0.0))
    if np.isnan(var):
        assert not bool(res.trusted)
