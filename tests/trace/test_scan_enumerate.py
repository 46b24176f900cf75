"""Enumerated states in a numpyro ``scan`` body (numpyro's ``hmm_enum`` style).

A discrete body latent marked ``infer={"enumerate": "parallel"}`` (or with support <= K
under ``enumerate="auto"``) takes its S support values at every step; the chain product
is then the forward algorithm. Oracles are written here, independently of jaxis: a
forward-backward pass in numpy (log Z and smoothing marginals), its JAX twin for the
exact gradient, quadrature over a continuous global latent, and a brute-force joint
posterior table for the posterior draws (forward filtering, backward sampling). Monte
Carlo checks use 4 standard errors computed from vmapped seeds or draws; no seed is tuned.
"""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.contrib.control_flow import scan
from numpyro.ops.indexing import Vindex
from scipy import integrate, special, stats

import jaxis
from tests.trace.test_unbiasedness import _pareto_khat

ENUM = {"enumerate": "parallel"}
INIT = np.array([0.5, 0.3, 0.2])
TRANS = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
LOCS = np.array([-1.5, 0.0, 1.5])
SCALE = 0.7
Y = np.array([-1.2, 0.3, 1.9, 1.1, -0.4, 0.2, 1.6])


def hmm(trans, y, infer=ENUM):
    """z_0 ~ Cat(trans[0]) (constant initial carry 0), z_t ~ Cat(trans[z_{t-1}])."""
    def step(z_prev, y_t):
        z = numpyro.sample("z", dist.Categorical(Vindex(trans)[..., z_prev, :]),
                           infer=dict(infer))  # a copy: numpyro may write into it
        numpyro.sample("y", dist.Normal(Vindex(jnp.asarray(LOCS))[..., z], SCALE), obs=y_t)
        return z, None
    scan(step, 0, y)


def hmm_init(trans, y):
    """A latent initial state z_{-1} ~ Cat(INIT), enumerated outside the scan."""
    z0 = numpyro.sample("z0", dist.Categorical(jnp.asarray(INIT)), infer=dict(ENUM))

    def step(z_prev, y_t):
        z = numpyro.sample("z", dist.Categorical(Vindex(trans)[..., z_prev, :]),
                           infer=dict(ENUM))
        numpyro.sample("y", dist.Normal(Vindex(jnp.asarray(LOCS))[..., z], SCALE), obs=y_t)
        return z, None
    scan(step, z0, y)


def hmm_scale(y):
    """An unknown emission scale (continuous global latent, K samples)."""
    s = numpyro.sample("s", dist.LogNormal(-0.3, 0.3))

    def step(z_prev, y_t):
        z = numpyro.sample("z", dist.Categorical(jnp.asarray(TRANS)[z_prev]),
                           infer=dict(ENUM))
        numpyro.sample("y", dist.Normal(jnp.asarray(LOCS)[z], s), obs=y_t)
        return z, None
    scan(step, 0, y)


def forward_backward(y, trans=TRANS, init=None, scale=SCALE):
    """log p(y) and smoothing marginals p(z_t | y), shape (T, S); numpy, scaled messages."""
    emit = stats.norm.pdf(np.asarray(y)[:, None], LOCS, scale)
    first = trans[0] if init is None else init @ trans
    alphas, log_z = [], 0.0
    a = first * emit[0]
    for t in range(len(y)):
        if t:
            a = (alphas[-1] @ trans) * emit[t]
        c = a.sum()
        log_z += np.log(c)
        alphas.append(a / c)
    beta, smooth = np.ones(3), [None] * len(y)
    for t in range(len(y) - 1, -1, -1):
        post = alphas[t] * beta
        smooth[t] = post / post.sum()
        beta = trans @ (emit[t] * beta)
        beta /= beta.sum()
    return log_z, np.array(smooth)


def forward_jax(trans, y):
    """log p(y) by the forward algorithm in JAX (for the exact gradient)."""
    emit = jax.scipy.stats.norm.logpdf(jnp.asarray(y)[:, None], jnp.asarray(LOCS), SCALE)
    a = jnp.log(trans[0]) + emit[0]
    for t in range(1, len(y)):
        a = jax.nn.logsumexp(a[:, None] + jnp.log(trans), 0) + emit[t]
    return jax.nn.logsumexp(a)


@pytest.mark.parametrize("K, seed", [(1, 0), (4, 7), (30, 3)])
def test_log_evidence_and_marginals_are_forward_backward(K, seed):
    log_z, smooth = forward_backward(Y)
    mpt = jaxis.mpis(hmm, K=K, check_memory=False)(jax.random.PRNGKey(seed),
                                                    jnp.asarray(TRANS), Y)
    assert mpt.samples["z"].shape == (3, len(Y))
    np.testing.assert_array_equal(mpt.samples["z"], np.repeat(np.arange(3)[:, None],
                                                               len(Y), 1))
    assert abs(float(jaxis.log_evidence(mpt)) - log_z) < 1e-10
    np.testing.assert_allclose(jaxis.marginals(mpt)["z"], smooth.T, atol=1e-10)
    mean = jaxis.moments(mpt, {"z": lambda z: z})["z"]
    np.testing.assert_allclose(mean, smooth @ np.arange(3), atol=1e-10)


def test_auto_mode_enumerates_small_supports():
    """Unmarked: enumerated when S <= K (exact), sampled when S > K (K values)."""
    log_z, _ = forward_backward(Y)
    model = lambda trans, y: hmm(trans, y, infer={})
    mpt = jaxis.mpis(model, K=3, check_memory=False)(jax.random.PRNGKey(1),
                                                      jnp.asarray(TRANS), Y)
    assert abs(float(jaxis.log_evidence(mpt)) - log_z) < 1e-10
    mpt = jaxis.mpis(model, K=2, check_memory=False)(jax.random.PRNGKey(1),
                                                      jnp.asarray(TRANS), Y)
    assert mpt.samples["z"].shape == (2, len(Y))


def test_latent_initial_state_enumerated():
    log_z, smooth = forward_backward(Y, init=INIT)
    mpt = jaxis.mpis(hmm_init, K=2, check_memory=False)(jax.random.PRNGKey(0),
                                                         jnp.asarray(TRANS), Y)
    assert abs(float(jaxis.log_evidence(mpt)) - log_z) < 1e-10
    np.testing.assert_allclose(jaxis.marginals(mpt)["z"], smooth.T, atol=1e-10)


def test_initial_state_with_other_size_is_rejected():
    def model(y):
        z0 = numpyro.sample("z0", dist.Bernoulli(0.5), infer=dict(ENUM))  # 2 values

        def step(x_prev, y_t):
            x = numpyro.sample("x", dist.Normal(x_prev, 1.0))  # K samples
            numpyro.sample("y", dist.Normal(x, 1.0), obs=y_t)
            return x, None
        scan(step, 1.0 * z0, y)
    with pytest.raises(ValueError, match="'z0'.*'x'.*both sampled or both enumerated"):
        jaxis.mpis(model, K=4, check_memory=False)(jax.random.PRNGKey(0), jnp.ones(3))


def test_gradient_wrt_transition_matrix_is_exact():
    run = jaxis.mpis(hmm, K=2, check_memory=False)
    grad = jax.grad(lambda tr: jaxis.log_evidence(run(jax.random.PRNGKey(0), tr, Y)))
    expected = jax.grad(forward_jax)(jnp.asarray(TRANS), Y)
    np.testing.assert_allclose(grad(jnp.asarray(TRANS)), expected, rtol=1e-10, atol=1e-12)


def _exact_with_scale(y) -> float:
    prior = stats.lognorm(0.3, scale=np.exp(-0.3))
    def log_lik(s):  # the forward algorithm in log space (no underflow at small s)
        emit = stats.norm.logpdf(np.asarray(y)[:, None], LOCS, s)
        a = np.log(TRANS[0]) + emit[0]
        for e in emit[1:]:
            a = special.logsumexp(a[:, None] + np.log(TRANS), 0) + e
        return special.logsumexp(a)
    f = lambda s: prior.pdf(s) * np.exp(log_lik(s))
    return np.log(integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-11)[0])


@pytest.mark.parametrize("K", [2, 5])
def test_unbiased_with_continuous_global(K):
    y = Y[:5]
    run = jaxis.mpis(hmm_scale, K=K, check_memory=False)
    lz = jax.jit(jax.vmap(lambda k: jaxis.log_evidence(run(k, y))))(
        jax.random.split(jax.random.PRNGKey(K), 4000))
    log_r = np.asarray(lz) - _exact_with_scale(y)
    assert _pareto_khat(log_r) < 0.5
    r = np.exp(log_r)
    se = r.std(ddof=1) / np.sqrt(r.size)
    assert abs(r.mean() - 1.0) < 4 * se, (r.mean(), se)
    assert se < 0.05  # the check has power


# ------------------------------------------------------------------ posterior draws
N_DRAWS = 40_000
SCALES = np.array([0.6, 1.2])
Y_SHORT = np.array([-1.2, 0.9, 1.6, -0.3])


def hmm_joint(y):
    """Enumerated global regime g, initial state z0 and chain z: the exact joint posterior
    over (g, z0, z_0..z_{T-1}) is a table of 2 * 3^(T+1) values."""
    g = numpyro.sample("g", dist.Bernoulli(0.4), infer=dict(ENUM))
    z0 = numpyro.sample("z0", dist.Categorical(jnp.asarray(INIT)), infer=dict(ENUM))

    def step(z_prev, y_t):
        z = numpyro.sample("z", dist.Categorical(jnp.asarray(TRANS)[z_prev]),
                           infer=dict(ENUM))
        numpyro.sample("y", dist.Normal(jnp.asarray(LOCS)[z], jnp.asarray(SCALES)[g]),
                       obs=y_t)
        return z, None
    scan(step, z0, y)


def _joint_table(y) -> np.ndarray:
    """p(g, z0, z_0..z_{T-1} | y) by brute force, shape (2, 3, 3, ..., 3)."""
    T = len(y)
    grids = np.meshgrid(*[np.arange(2)] + [np.arange(3)] * (T + 1), indexing="ij")
    g, z = grids[0], grids[1:]
    logp = np.log(np.where(g == 1, 0.4, 0.6)) + np.log(INIT[z[0]])
    for t in range(T):
        logp = logp + np.log(TRANS[z[t], z[t + 1]])
        logp = logp + stats.norm.logpdf(y[t], LOCS[z[t + 1]], SCALES[g])
    p = np.exp(logp - logp.max())
    return p / p.sum()


def _tv_threshold(p: np.ndarray, n: int, rng) -> float:
    """Mean + 5 sd of the total variation of n exact multinomial draws (simulated null)."""
    tvs = [0.5 * np.abs(rng.multinomial(n, p) / n - p).sum() for _ in range(200)]
    return float(np.mean(tvs) + 5 * np.std(tvs))


def test_posterior_draws_follow_the_exact_joint():
    """Regime, initial state and chain drawn jointly: frequencies of the 486 joint values
    match the brute-force posterior; a product-of-marginals sampler fails the same test."""
    exact = _joint_table(Y_SHORT)
    mpt = jaxis.mpis(hmm_joint, K=2, check_memory=False)(jax.random.PRNGKey(0), Y_SHORT)
    d = jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, N_DRAWS)
    assert d["z"].shape == (N_DRAWS, len(Y_SHORT)) and d["g"].shape == (N_DRAWS,)
    cols = [np.asarray(d["g"]), np.asarray(d["z0"])] + [np.asarray(d["z"][:, t])
                                                        for t in range(len(Y_SHORT))]
    ids = np.ravel_multi_index(tuple(c.astype(int) for c in cols), exact.shape)
    freq = np.bincount(ids, minlength=exact.size) / N_DRAWS
    p = exact.ravel()
    rng = np.random.default_rng(0)
    thresh = _tv_threshold(p, N_DRAWS, rng)
    assert 0.5 * np.abs(freq - p).sum() < thresh
    prod = np.ones_like(exact)
    for axis in range(exact.ndim):
        others = tuple(a for a in range(exact.ndim) if a != axis)
        shape = [1] * exact.ndim
        shape[axis] = exact.shape[axis]
        prod = prod * exact.sum(others).reshape(shape)
    bad = rng.multinomial(N_DRAWS, prod.ravel()) / N_DRAWS
    assert 0.5 * np.abs(bad - p).sum() > thresh


def test_draws_match_smoothing_marginals():
    _, smooth = forward_backward(Y)
    mpt = jaxis.mpis(hmm, K=3, check_memory=False)(jax.random.PRNGKey(2),
                                                    jnp.asarray(TRANS), Y)
    z = np.asarray(jaxis.sample_posterior(jax.random.PRNGKey(3), mpt, N_DRAWS)["z"])
    freq = np.stack([(z == s).mean(0) for s in range(3)], 1)  # (T, S)
    se = np.sqrt(smooth * (1 - smooth) / N_DRAWS)
    assert np.all(np.abs(freq - smooth) <= 4 * se + 1e-12)


def test_draws_of_sampled_chain_match_marginals_and_moments():
    """A continuous chain with K samples per step, a global scale and a latent initial
    state (tests/trace/test_scan.py's ssm_global): per-step index frequencies and means of
    the draws agree with jaxis.marginals and jaxis.moments within 4 standard errors."""
    from tests.trace.test_scan import simulate, ssm_global

    y = jnp.asarray(simulate(6, seed=2))
    mpt = jaxis.mpis(ssm_global, K=7, check_memory=False)(jax.random.PRNGKey(0), y)
    idx = jaxis.sample_indices(jax.random.PRNGKey(1), mpt, N_DRAWS)
    draws = jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, N_DRAWS)
    marg = np.asarray(jaxis.marginals(mpt)["x"])  # (K, T)
    freq = np.stack([(np.asarray(idx["x"]) == k).mean(0) for k in range(7)])
    se = np.sqrt(marg * (1 - marg) / N_DRAWS)
    assert np.all(np.abs(freq - marg) <= 4 * se + 1e-12)
    mom = jaxis.moments(mpt, {s: (lambda v: v) for s in ("x", "q", "x0")})
    for s, m in mom.items():
        x = np.asarray(draws[s])
        se = x.std(0) / np.sqrt(N_DRAWS)
        assert np.all(np.abs(x.mean(0) - np.asarray(m)) <= 4 * se), s
    np.testing.assert_array_equal(  # every draw is one of the step's K samples
        np.take_along_axis(np.asarray(mpt.samples["x"]), np.asarray(idx["x"]), 0),
        np.asarray(draws["x"]))
