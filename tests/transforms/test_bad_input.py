"""Transforms under bad input (issue 10): a clear error or a correct value.

Each test is one case of the issue; on the original code each gave a plausible wrong value
(ESS 0, mean 0, ``+inf`` evidence, a confident variance of 0) or a raw broadcasting error.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxis.transforms import (
    detection_efficiency,
    from_nested,
    population_log_likelihood,
    prior_swap,
)
from jaxis.weighted import WeightedSamples, simulate_log_evidence

X = jnp.linspace(-2.0, 2.0, 6)


def _posterior():
    return WeightedSamples.from_posterior({"x": X})


def _old(s):
    return -0.5 * s["x"] ** 2


def _summary(ws):
    return ws.log_evidence(), ws.ess(), ws.moments({"x": lambda v: v})["x"]


# --- prior_swap ---------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["new", "old"])
def test_prior_swap_with_a_nan_prior_gives_nan_estimates(which):
    nan_at_2 = lambda s: _old(s).at[2].set(jnp.nan)
    new, old = (nan_at_2, _old) if which == "new" else (_old, nan_at_2)
    out = prior_swap(_posterior(), old, new)
    assert all(np.isnan(v) for v in _summary(out))
    assert np.isnan(out.log_weights[2]) and np.all(np.isfinite(np.delete(out.log_weights, 2)))
    jitted = jax.jit(lambda ws: _summary(prior_swap(ws, old, new)))(_posterior())
    assert all(np.isnan(v) for v in jitted)


def test_prior_swap_from_an_old_prior_that_calls_a_sample_impossible_is_an_input_error():
    old = lambda s: jnp.where(s["x"] > 1.5, -jnp.inf, _old(s))  # X[5] = 2 "cannot" exist
    with pytest.raises(ValueError, match=r"old_log_prior is -inf \(density 0\) at sample\(s\) \[5\]"):
        prior_swap(_posterior(), old, _old)
    log_z = jax.jit(lambda ws: prior_swap(ws, old, _old).log_evidence())(_posterior())
    assert np.isnan(log_z)  # under jit: flagged, not +inf


# --- from_nested --------------------------------------------------------------------------

N_LIVE, N_DEAD = 8, 40


def _run():
    """A nested run on the nominal schedule: ``n`` live points, then the final ones."""
    n = np.concatenate([np.full(N_DEAD - N_LIVE, N_LIVE), np.arange(N_LIVE, 0, -1)]).astype(float)
    with np.errstate(divide="ignore"):  # the last point has n = 1: X = 0
        log_x = np.cumsum(np.log1p(-1.0 / n))
    theta = np.exp(log_x / 2)  # radius shrinks with volume: the likelihood rises
    return {"t": theta}, -0.5 * theta**2, log_x, n


def test_from_nested_sorts_dead_points_given_in_any_order():
    samples, logl, log_x, n = _run()
    ref = from_nested(samples, logl, log_volume=log_x, num_live=n)
    perm = np.random.default_rng(0).permutation(N_DEAD)
    shuffled = from_nested({"t": samples["t"][perm]}, logl[perm], log_volume=log_x[perm],
                           num_live=n[perm])
    np.testing.assert_allclose(shuffled.log_evidence(), ref.log_evidence(), rtol=1e-12)
    np.testing.assert_array_equal(shuffled.samples["t"], samples["t"])
    np.testing.assert_array_equal(shuffled.num_live, n)


@pytest.mark.parametrize("kind", ["likelihoods shuffled", "steps up once", "reversed"])
def test_from_nested_rejects_volumes_that_rise_with_the_likelihood(kind):
    samples, logl, log_x, n = _run()
    if kind == "likelihoods shuffled":  # each point paired with another point's volume
        perm = np.random.default_rng(1).permutation(N_DEAD)
        samples, logl = {"t": samples["t"][perm]}, logl[perm]
    elif kind == "steps up once":
        log_x = log_x.copy()
        log_x[20] = log_x[18]
    else:
        log_x = log_x[::-1]
    with pytest.raises(ValueError, match="log_volume must fall .* rises at dead point"):
        from_nested(samples, logl, log_volume=log_x, num_live=n)
    log_z = jax.jit(lambda v: from_nested(samples, logl, log_volume=v).log_evidence())(log_x)
    assert np.isnan(log_z)


def test_from_nested_rejects_no_live_points():
    samples, logl, log_x, _ = _run()
    with pytest.raises(ValueError, match=r"num_live must be >= 1 .* got 0\.0"):
        from_nested(samples, logl, log_volume=log_x, num_live=0)

    @jax.jit
    def std(num_live):
        ws = from_nested(samples, logl, log_volume=log_x, num_live=num_live)
        return simulate_log_evidence(jax.random.key(0), ws, num_draws=8).std

    assert np.all(np.isnan(std(0.0)))  # under jit: flagged, not a spread of 0


def test_from_nested_rejects_nan_live_points():
    samples, logl, log_x, _ = _run()
    with pytest.raises(ValueError, match=r"num_live must be >= 1 .* got nan"):
        from_nested(samples, logl, log_volume=log_x, num_live=float("nan"))


def test_from_nested_names_num_live_of_the_wrong_length():
    samples, logl, log_x, n = _run()
    with pytest.raises(ValueError, match=r"num_live must be a scalar or have one entry per "
                                         r"dead point, shape \(40,\), got shape \(39,\)"):
        from_nested(samples, logl, log_volume=log_x, num_live=n[:-1])


# --- population_log_likelihood ------------------------------------------------------------

THETA = jnp.array([[0.1, -0.3, 0.4, 0.0], [1.0, 1.2, 0.8, 0.9]])


def _log_pop(theta, mu=0.2):
    return -0.5 * (theta - mu) ** 2


@pytest.mark.parametrize("penalty", ["none", "hard", "smooth"])
@pytest.mark.parametrize("kind", ["one draw per source", "a source masked to one draw"])
def test_a_variance_from_one_draw_is_unknown_and_untrusted(kind, penalty):
    if kind == "one draw per source":
        theta, mask = THETA[:, :1], None
    else:
        theta, mask = THETA, jnp.array([[True] * 4, [True, False, False, False]])
    res = population_log_likelihood(_log_pop(theta), 0.0, mask=mask, penalty=penalty)
    assert np.isnan(res.variance) and np.isnan(res.n_eff[-1]) and not bool(res.trusted)
    if penalty == "none":
        assert np.isfinite(res.log_likelihood)  # the estimate itself, flagged untrusted
    else:
        assert float(res.log_likelihood) == -np.inf  # the barrier fires


def test_a_nan_log_density_gives_a_nan_population_likelihood():
    res = population_log_likelihood(_log_pop(THETA).at[0, 2].set(jnp.nan), 0.0)
    assert np.isnan(res.log_likelihood) and np.isnan(res.log_likelihood_per_source[0])
    assert np.isfinite(res.log_likelihood_per_source[1])
    masked = population_log_likelihood(  # padding takes no part, whatever its value
        _log_pop(THETA).at[0, 2].set(jnp.nan), 0.0, mask=jnp.broadcast_to(jnp.arange(4) != 2, (2, 4)))
    assert np.isfinite(masked.log_likelihood)


def test_an_old_prior_of_zero_at_a_draw_is_an_input_error():
    log_old = jnp.zeros(THETA.shape).at[1, 3].set(-jnp.inf)
    with pytest.raises(ValueError, match=r"log_old is -inf \(density 0\) at sample\(s\) \[\(1, 3\)\]"):
        population_log_likelihood(_log_pop(THETA), log_old)
    res = jax.jit(population_log_likelihood)(_log_pop(THETA), log_old)
    assert np.isnan(res.log_likelihood)  # under jit: flagged, not +inf


def test_a_found_injection_where_the_draw_density_is_zero_is_an_input_error():
    with pytest.raises(ValueError, match=r"log_draw is -inf \(density 0\) at sample\(s\) \[1\]"):
        detection_efficiency(jnp.zeros(3), jnp.array([0.0, -jnp.inf, 0.0]), num_injections=5)
