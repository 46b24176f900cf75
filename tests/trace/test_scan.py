"""numpyro's ``scan`` (Markov chains) under MP IS, against exact oracles written here.

- Kalman filter (linear-Gaussian state space model): exact log likelihood; with a global
  latent, exact Z by quadrature over it; the RTS smoother gives the exact posterior means.
- Discrete HMM (Categorical transitions, Normal emissions): the forward algorithm.

Unbiasedness is E[Z-hat / Z] = 1 over 20,000 vmapped seeds, within 4 Monte Carlo
standard errors computed from the same runs (after checking the Pareto k-hat of the
ratios is below 0.5, so that the standard error means something). Convergence and
moments are compared within 4 standard errors over seeds. No seed is tuned.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.contrib.control_flow import scan
from scipy import integrate, stats

import jaxis
from tests.trace.test_unbiasedness import _pareto_khat

A, Q, R = 0.9, 0.5, 1.0  # x_t ~ N(A x_{t-1}, Q^2), y_t ~ N(x_t, R^2), x_{-1} = 0
SEEDS = 20_000


def ssm(y):
    def step(x_prev, y_t):
        x = numpyro.sample("x", dist.Normal(A * x_prev, Q))
        numpyro.sample("y", dist.Normal(x, R), obs=y_t)
        return x, x
    scan(step, 0.0, y)


def ssm_global(y):
    """Unknown transition scale and a latent initial state (the carry's step -1)."""
    q = numpyro.sample("q", dist.LogNormal(-0.5, 0.3))
    x0 = numpyro.sample("x0", dist.Normal(0.0, 1.0))

    def step(x_prev, y_t):
        x = numpyro.sample("x", dist.Normal(A * x_prev, q))
        numpyro.sample("y", dist.Normal(x, R), obs=y_t)
        return x, None
    scan(step, x0, y)


def kalman(y, a=A, q=Q, r=R, m0=0.0, p0=0.0):
    """Exact log p(y), filtered and smoothed means (Kalman filter, RTS smoother)."""
    m, P, ll, ms, Ps, mp, Pp = m0, p0, 0.0, [], [], [], []
    for yt in y:
        m, P = a * m, a * a * P + q * q
        mp.append(m), Pp.append(P)
        S = P + r * r
        ll += -0.5 * (np.log(2 * np.pi * S) + (yt - m) ** 2 / S)
        gain = P / S
        m, P = m + gain * (yt - m), (1 - gain) * P
        ms.append(m), Ps.append(P)
    smooth = list(ms)
    for t in range(len(y) - 2, -1, -1):
        J = Ps[t] * a / Pp[t + 1]
        smooth[t] = ms[t] + J * (smooth[t + 1] - mp[t + 1])
    return ll, np.array(smooth)


def simulate(T, seed):
    rng = np.random.default_rng(seed)
    x, xp = np.zeros(T), 0.0
    for t in range(T):
        xp = A * xp + Q * rng.normal()
        x[t] = xp
    return x + R * rng.normal(size=T)


S_HMM = 3
TRANS = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
LOCS = np.array([-1.5, 0.0, 1.5])


def hmm(y):
    def step(z_prev, y_t):
        z = numpyro.sample("z", dist.Categorical(jnp.asarray(TRANS)[z_prev]))
        numpyro.sample("y", dist.Normal(jnp.asarray(LOCS)[z], 0.7), obs=y_t)
        return z, None
    scan(step, 0, y)


def forward_algorithm(y):
    alpha = TRANS[0] * stats.norm.pdf(y[0], LOCS, 0.7)
    for yt in y[1:]:
        alpha = (alpha @ TRANS) * stats.norm.pdf(yt, LOCS, 0.7)
    return np.log(alpha.sum())


@functools.lru_cache(maxsize=None)
def _log_z_hat(model, y: tuple, K: int, seeds: int) -> np.ndarray:
    # "marked": the HMM's 3 states are sampled (K per step) even at K >= 3, where the
    # default would enumerate them (tests/trace/test_scan_enumerate.py)
    run = jaxis.mpis(model, K=K, check_memory=False, enumerate="marked")
    f = jax.jit(jax.vmap(lambda k: jaxis.log_evidence(run(k, jnp.asarray(y)))))
    return np.asarray(f(jax.random.split(jax.random.PRNGKey(K), seeds)))


def _check_unbiased(log_z_hat: np.ndarray, log_z: float) -> tuple[float, float]:
    ratio = np.exp(log_z_hat - log_z)
    assert _pareto_khat(log_z_hat - log_z) < 0.5
    mean, se = ratio.mean(), ratio.std() / np.sqrt(ratio.size)
    assert abs(mean - 1.0) < 4 * se, (mean, se)
    return mean, se


Y4 = (0.4, 1.3, -0.2, 0.8)


@pytest.mark.parametrize("K", [2, 4])
def test_unbiased_linear_gaussian(K):
    _check_unbiased(_log_z_hat(ssm, Y4, K, SEEDS), kalman(np.array(Y4))[0])


def _exact_global(y):
    prior = stats.lognorm(0.3, scale=np.exp(-0.5))
    f = lambda q: prior.pdf(q) * np.exp(kalman(y, q=q, p0=1.0)[0])
    return np.log(integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-11)[0])


@pytest.mark.parametrize("K", [2, 3])
def test_unbiased_with_global_parent_and_latent_initial_state(K):
    y = (0.4, 1.3, -0.2)
    _check_unbiased(_log_z_hat(ssm_global, y, K, SEEDS), _exact_global(np.array(y)))


@pytest.mark.parametrize("K", [2, 3])
def test_unbiased_discrete_hmm(K):
    y = (-1.2, 0.3, 1.9, 1.1, -0.4)
    _check_unbiased(_log_z_hat(hmm, y, K, SEEDS), forward_algorithm(np.array(y)))


@pytest.mark.slow
def test_log_evidence_converges_to_kalman():
    """T = 50: E[log Z-hat] approaches log p(y) from below as K grows."""
    y = tuple(simulate(50, seed=1))
    exact = kalman(np.array(y))[0]
    gaps, ses = [], []
    for K in (5, 20, 60):
        lz = _log_z_hat(ssm, y, K, 32)
        gaps.append(exact - lz.mean())
        ses.append(lz.std() / np.sqrt(lz.size))
    assert gaps[0] > gaps[1] + 4 * np.hypot(ses[0], ses[1])
    assert gaps[1] > gaps[2] - 4 * np.hypot(ses[1], ses[2])
    assert abs(gaps[2]) < 4 * ses[2], (gaps, ses)


def test_moments_and_marginals_match_kalman_smoother():
    y = simulate(10, seed=2)
    _, smooth = kalman(y)
    run = jaxis.mpis(ssm, K=40, check_memory=False)

    def one(key):
        mpt = run(key, jnp.asarray(y))
        return jaxis.moments(mpt, {"x": lambda v: v})["x"], jaxis.marginals(mpt)["x"]

    means, weights = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(0), 32))
    assert weights.shape == (32, 40, 10)
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-9)
    est, se = means.mean(0), means.std(0) / np.sqrt(means.shape[0])
    assert np.all(np.abs(est - smooth) < 4 * se + 0.02), (est, smooth, se)


def test_jit_vmap_and_no_recompile():
    y = jnp.asarray(simulate(8, seed=3))
    run = jaxis.mpis(ssm, K=5, check_memory=False)
    lz = jax.jit(jax.vmap(lambda k: jaxis.log_evidence(run(k, y))))(
        jax.random.split(jax.random.PRNGKey(0), 3))
    assert lz.shape == (3,) and np.all(np.isfinite(lz))
    run(jax.random.PRNGKey(1), y)
    mpt = run(jax.random.PRNGKey(2), y + 1.0)
    assert run._jitted._cache_size() == 1
    assert mpt.samples["x"].shape == (5, 8)
    assert jaxis.marginals(mpt)["x"].shape == (5, 8)


def _step_model(body, init=0.0):
    def model(y):
        scan(body, init, y)
    return model


def _two_latents(x_prev, y_t):
    x = numpyro.sample("x", dist.Normal(x_prev, 1.0))
    u = numpyro.sample("u", dist.Normal(x, 1.0))
    numpyro.sample("y", dist.Normal(u, 1.0), obs=y_t)
    return x, None


def _second_order(carry, y_t):
    x_prev, x_prev2 = carry
    x = numpyro.sample("x", dist.Normal(0.5 * x_prev + 0.3 * x_prev2, 1.0))
    numpyro.sample("y", dist.Normal(x, 1.0), obs=y_t)
    return (x, x_prev), None


def _deterministic(x_prev, y_t):
    x = numpyro.sample("x", dist.Normal(x_prev, 1.0))
    numpyro.deterministic("x2", x * 2)
    return x, None


def _scan_in_plate(y):
    with numpyro.plate("n", 2):
        scan(_two_latents, 0.0, y)


def _uses_output(y):
    last, _ = scan(lambda c, y_t: (numpyro.sample("x", dist.Normal(c, 1.0)), None), 0.0, y)
    numpyro.sample("obs", dist.Normal(last, 1.0), obs=0.0)


@pytest.mark.parametrize("model, args, match", [
    (_step_model(_two_latents), (), r"several latent sites \['x', 'u'\]"),
    (_step_model(_second_order, (0.0, 0.0)), (), "second-order chain"),
    (_step_model(_deterministic), (), "'x2'.*deterministic"),
    (_scan_in_plate, (), "scan inside a numpyro.plate"),
    (_uses_output, (), "'obs' uses the samples of scan latent 'x' outside"),
])
def test_unsupported_patterns_raise(model, args, match):
    run = jaxis.mpis(model, K=3, check_memory=False)
    with pytest.raises(ValueError, match=match):
        run(jax.random.PRNGKey(0), jnp.ones(4))


def test_sample_posterior_jits_and_vmaps():
    """Posterior draws of a chain (tests in tests/trace/test_scan_enumerate.py)."""
    mpt = jaxis.mpis(ssm, K=3, check_memory=False)(jax.random.PRNGKey(0), jnp.ones(4))
    draws = jax.jit(jax.vmap(lambda k: jaxis.sample_posterior(k, mpt, 10)["x"]))(
        jax.random.split(jax.random.PRNGKey(1), 2))
    assert draws.shape == (2, 10, 4)
    for t in range(4):
        assert np.isin(np.asarray(draws[..., t]), np.asarray(mpt.samples["x"][:, t])).all()
