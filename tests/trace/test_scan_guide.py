"""Guides with ``scan`` for scan models, against exact oracles written here.

The linear-Gaussian state space model of ``tests/trace/test_scan.py``: its exact posterior
is a Gaussian N(m, P) over the whole series, computed here from the joint covariance
(numpy), and, being Markov, it is the guide x_t | x_{t-1} ~ N(m_t + c_t (x_{t-1} -
m_{t-1}), v_t) with c_t = P[t, t-1] / P[t-1, t-1], v_t = P[t, t] - c_t P[t, t-1]. The
Kalman filter gives log p(y), the RTS smoother the posterior means; quadrature over a
global latent gives Z with globals. Monte Carlo checks use 4 standard errors computed from
vmapped seeds; no seed is tuned.
"""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.contrib.control_flow import scan

import jaxis
from tests.trace.test_scan import (
    A,
    Q,
    R,
    Y4,
    _check_unbiased,
    _exact_global,
    kalman,
    simulate,
    ssm,
    ssm_global,
)
from tests.trace.test_scan_enumerate import Y, _exact_with_scale, hmm_scale
from tests.trace.test_scan_plates import ssm as ssm_chains


def exact_posterior(y):
    """Mean and covariance of p(x | y): prior covariance L L^T, L[t, s] = Q A^(t-s)."""
    T = len(y)
    t, s = np.arange(T)[:, None], np.arange(T)[None, :]
    L = np.where(s <= t, Q * A ** np.maximum(t - s, 0), 0.0)
    P = np.linalg.inv(np.linalg.inv(L @ L.T) + np.eye(T) / R ** 2)
    return P @ np.asarray(y) / R ** 2, P


def markov_params(y):
    """(m_t - c_t m_{t-1}, c_t, sd_t) of the exact posterior's forward conditionals."""
    m, P = exact_posterior(y)
    c = np.zeros(len(y))
    c[1:] = np.diag(P, -1) / np.diag(P)[:-1]
    var = np.diag(P) - c * np.concatenate([[0.0], np.diag(P, -1)])
    shift = m - c * np.concatenate([[0.0], m[:-1]])
    return jnp.asarray(shift), jnp.asarray(c), jnp.asarray(np.sqrt(var))


def exact_guide(y):
    """The exact posterior given data ``y`` as a Markov guide: scan over (shift_t, c_t,
    sd_t)."""
    params = markov_params(y)

    def guide(y):
        def step(x_prev, p):
            shift, c, sd = p
            return numpyro.sample("x", dist.Normal(shift + c * x_prev, sd)), None
        scan(step, 0.0, params)
    return guide


def mean_field_guide(y):
    """x_t ~ N(loc_t, scale_t), independent steps (no carry): the smoothing marginals of
    data ``y`` (the optimum a trained mean-field guide approaches)."""
    m, P = exact_posterior(y)
    loc, scale = jnp.asarray(m), jnp.asarray(np.sqrt(np.diag(P)))

    def guide(y):
        scan(lambda c, p: (None, numpyro.sample("x", dist.Normal(p[0], p[1]))), None,
             (loc, scale))
    return guide


def global_guide(y):
    """Guide latents before the scan (q, x0) and a Markov body using both and the data."""
    q = numpyro.sample("q", dist.LogNormal(-0.6, 0.3))
    x0 = numpyro.sample("x0", dist.Normal(0.2, 0.9))

    def step(x_prev, y_t):
        return numpyro.sample("x", dist.Normal(0.5 * x_prev + 0.4 * y_t, q)), None
    scan(step, x0, y)


def _log_z_hat(model, guide, y, K: int, seeds: int) -> np.ndarray:
    run = jaxis.mpis(model, guide, K=K, check_memory=False)
    f = jax.jit(jax.vmap(lambda k: jaxis.log_evidence(run(k, jnp.asarray(y)))))
    return np.asarray(f(jax.random.split(jax.random.PRNGKey(K), seeds)))


def test_exact_posterior_guide_gives_the_exact_evidence():
    """With the exact posterior's forward conditionals as guide, Z-hat = Z for every draw:
    the step factor of (k_{t-1}, k_t) is Z-free ratios q(x_t^k | x_{t-1}^j) / (K q_mix(
    x_t^k)) times backward messages that telescope, and summing over j the mixture over
    the K paired tuples (a permutation: every j once) cancels q_mix exactly. The prior's
    estimate varies from draw to draw."""
    exact = kalman(np.array(Y4))[0]
    guided = _log_z_hat(ssm, exact_guide(Y4), Y4, 2, 200)
    np.testing.assert_allclose(guided, exact, rtol=0, atol=1e-9)
    prior = _log_z_hat(ssm, None, Y4, 2, 200)
    assert prior.std() > 100 * guided.std() + 1e-6, (prior.std(), guided.std())


@pytest.mark.slow
def test_guide_with_global_latents_and_initial_state_is_unbiased():
    y = (0.4, 1.3, -0.2)
    _check_unbiased(_log_z_hat(ssm_global, global_guide, y, 3, 20_000),
                    _exact_global(np.array(y)))


def plated_guide(y):
    """A Markov guide for the independent chains of ``tests/trace/test_scan_plates.py``."""
    def step(x_prev, y_t):
        with numpyro.plate("series", y.shape[1]):
            x = numpyro.sample("x", dist.Normal(0.5 * x_prev + 0.4 * y_t, 0.6))
        return x, None
    scan(step, jnp.zeros(y.shape[1]), y)


@pytest.mark.slow
def test_guide_with_a_plate_in_its_body_is_unbiased():
    y = np.stack([simulate(3, seed) for seed in (10, 11)], axis=1)
    exact = sum(kalman(y[:, n])[0] for n in range(2))
    _check_unbiased(_log_z_hat(ssm_chains, plated_guide, y, 3, 20_000), exact)


def test_mean_field_guide_moments_match_rts_smoother():
    y = simulate(10, seed=2)
    _, smooth = kalman(y)
    run = jaxis.mpis(ssm, mean_field_guide(y), K=30, check_memory=False)
    means = jax.jit(jax.vmap(lambda k: jaxis.moments(run(k, jnp.asarray(y)),
                                                     {"x": lambda v: v})["x"]))(
        jax.random.split(jax.random.PRNGKey(0), 32))
    assert means.shape == (32, 10)
    est, se = means.mean(0), means.std(0) / np.sqrt(means.shape[0])
    assert np.all(np.abs(est - smooth) < 4 * se + 1e-3), (est, smooth, se)


def test_guide_for_globals_with_enumerated_states_is_unbiased():
    """The guide proposes the emission scale only; the body's states are enumerated."""
    y = Y[:5]
    guide = lambda y: numpyro.sample("s", dist.LogNormal(-0.4, 0.3))
    _check_unbiased(_log_z_hat(hmm_scale, guide, y, 5, 4000), _exact_with_scale(y))


def test_jit_vmap_and_posterior_draws():
    y = jnp.asarray(simulate(6, seed=3))
    run = jaxis.mpis(ssm_global, global_guide, K=4, check_memory=False)
    lz = jax.jit(jax.vmap(lambda k: jaxis.log_evidence(run(k, y))))(
        jax.random.split(jax.random.PRNGKey(0), 3))
    assert lz.shape == (3,) and np.all(np.isfinite(lz))
    mpt = run(jax.random.PRNGKey(1), y)
    draws = jaxis.sample_posterior(jax.random.PRNGKey(2), mpt, 10)
    assert draws["x"].shape == (10, 6) and draws["q"].shape == (10,)
    for t in range(6):
        assert np.isin(np.asarray(draws["x"][:, t]), np.asarray(mpt.samples["x"][:, t])).all()


@pytest.mark.slow
def test_gradient_wrt_data_matches_finite_differences():
    """Same key, same draws: log Z-hat is smooth in the data (the guide uses them too)."""
    y = jnp.asarray(simulate(6, seed=3))
    run = jaxis.mpis(ssm_global, global_guide, K=4, check_memory=False)
    f = jax.jit(lambda y: jaxis.log_evidence(run(jax.random.PRNGKey(0), y)))
    g = jax.jit(jax.grad(f))(y)
    e = 1e-6 * np.eye(6)
    fd = [(f(y + e[i]) - f(y - e[i])) / 2e-6 for i in range(6)]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)


def _whole_series(y):
    numpyro.sample("x", dist.Normal(jnp.zeros(y.shape[0]), 1.0).to_event(1))


def _no_scan(y):
    pass


def _other_name(y):
    scan(lambda c, y_t: (None, numpyro.sample("u", dist.Normal(y_t, 1.0))), None, y)


def _observes(y):
    def step(c, y_t):
        numpyro.sample("x", dist.Normal(y_t, 1.0))
        numpyro.sample("y", dist.Normal(y_t, 1.0), obs=y_t)
        return None, None
    scan(step, None, y)


def _shorter(y):
    scan(lambda c, y_t: (None, numpyro.sample("x", dist.Normal(y_t, 1.0))), None, y[1:])


@pytest.mark.parametrize("guide, match", [
    (_whole_series, "'x' samples the whole series .* one step at a time"),
    (_no_scan, r"does not sample the model's scan latent\(s\) \['x'\]"),
    (_other_name, "guide's scan samples 'u', which is not the latent of a scan"),
    (_observes, r"observes \['y'\]"),
    (_shorter, "3 steps, the model's 4"),
])
def test_unsupported_guides_raise(guide, match):
    run = jaxis.mpis(ssm, guide, K=3, check_memory=False)
    with pytest.raises(ValueError, match=match):
        run(jax.random.PRNGKey(0), jnp.ones(4))
