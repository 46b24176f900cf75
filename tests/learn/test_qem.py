"""QEM (``jaxis.qem``): moment-matching EM of a mean-field proposal, against exact posteriors.

Oracles: Gaussian conditioning for the conjugate Gaussian hierarchy; conjugate updates for
Beta-Bernoulli, Gamma-Poisson, Dirichlet-Categorical, a MultivariateNormal mean and a
LogNormal scale;
brute-force enumeration (with the Gaussian global integrated analytically) for Bernoulli /
Categorical latents. Every run is vmapped over ``SEEDS`` seeds; a learned quantity must be
within 4 standard errors (computed from the seeds) of the exact posterior value.
"""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.scipy.special import digamma

import jaxis
from jaxis.learn import build_qem_step, qem_init
from jaxis.models import gaussian_hierarchy as gh

SEEDS = 16
EVALS = 16  # evaluation runs per learned proposal


def runs(model, *args, K=10, num_steps=40, lr=0.3, **options):
    run = jaxis.qem(model, K=K, num_steps=num_steps, lr=lr, **options)
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    return jax.vmap(lambda k: run(k, *args))(keys)


def assert_within(x, exact, k=4.0):
    """Mean over seeds (axis 0) within ``k`` computed standard errors of ``exact``."""
    x = np.asarray(x)
    se = x.std(0, ddof=1) / np.sqrt(x.shape[0])
    err = np.abs(x.mean(0) - np.asarray(exact))
    assert np.all(err <= k * se), (x.mean(0), exact, se)


def gaussian_posterior(y, s: gh.Scales = gh.Scales()):
    """Exact posterior means and sds of ``mu`` and ``theta[g]`` by Gaussian conditioning."""
    G, N = y.shape
    group = np.repeat(np.arange(G), N)
    # latents (mu, theta_1..G), data y_gn = theta_g + noise; all covariances from s
    c_lat = s.mu**2 + s.theta**2 * np.diag(np.r_[0.0, np.ones(G)])
    c_lat_y = np.full((G + 1, G * N), s.mu**2)
    c_lat_y[1:] += s.theta**2 * (np.arange(G)[:, None] == group[None, :])
    c_y = s.mu**2 + s.theta**2 * (group[:, None] == group[None, :]) + s.y**2 * np.eye(G * N)
    mean = c_lat_y @ np.linalg.solve(c_y, np.asarray(y).reshape(-1))
    cov = c_lat - c_lat_y @ np.linalg.solve(c_y, c_lat_y.T)
    return mean, np.sqrt(np.diag(cov))


@pytest.mark.slow  # one vmapped QEM run, then 2 x 256 evaluation runs
def test_gaussian_hierarchy_converges_to_posterior_marginals_and_log_z():
    y = gh.synthetic(jax.random.PRNGKey(1), groups=4, observations=3)
    state, info = runs(gh.model, y)
    mean, sd = gaussian_posterior(y)
    p = state.params
    assert_within(p["mu_loc"], mean[0])
    assert_within(p["mu_scale"], sd[0])
    assert_within(p["theta_loc"][..., 0], mean[1:])
    assert_within(p["theta_scale"][..., 0], sd[1:])
    assert info.log_evidence.shape == (SEEDS, 40)

    # log P_MP with the learned proposal approaches log Z as K grows (E log P_MP <= log Z)
    # (each learned proposal evaluated on EVALS keys: the gaps are small and noisy)
    guide = jaxis.qem_guide(gh.model)
    keys = jax.random.split(jax.random.PRNGKey(2), SEEDS * EVALS).reshape(SEEDS, EVALS, 2)

    def gap(K):
        lz = lambda k, prm: jaxis.log_evidence(jaxis.mpis(gh.model, guide, K=K, params=prm)(k, y))
        per_key = jax.vmap(lambda ks, prm: jax.vmap(lambda k: lz(k, prm))(ks))
        return (gh.exact_log_evidence(y) - np.asarray(per_key(keys, p))).reshape(-1)

    small, large = gap(1), gap(30)
    se = lambda x: x.std(ddof=1) / np.sqrt(x.size)
    assert (small - large).mean() > 4 * se(small - large)
    assert large.mean() > -4 * se(large)  # a lower bound in expectation


A_BETA, B_BETA, A_GAMMA, B_GAMMA = 2.0, 3.0, 2.0, 1.0
ALPHA = jnp.array([1.0, 2.0, 3.0])
PRIOR_COV = jnp.array([[1.0, 0.5], [0.5, 2.0]])


def conjugate(flips, counts, cats, points):
    """Independent conjugate pairs, plated per group: exact posteriors in closed form."""
    with numpyro.plate("groups", flips.shape[0], dim=-2):
        p = numpyro.sample("p", dist.Beta(A_BETA, B_BETA))
        lam = numpyro.sample("lam", dist.Gamma(A_GAMMA, B_GAMMA))
        with numpyro.plate("n", flips.shape[1], dim=-1):
            numpyro.sample("flips", dist.Bernoulli(p), obs=flips)
            numpyro.sample("counts", dist.Poisson(lam), obs=counts)
    w = numpyro.sample("w", dist.Dirichlet(ALPHA))
    b = numpyro.sample("b", dist.MultivariateNormal(jnp.zeros(2), PRIOR_COV))
    s = numpyro.sample("s", dist.LogNormal(0.0, 1.0))
    with numpyro.plate("m", cats.shape[0], dim=-1):
        numpyro.sample("cats", dist.Categorical(w), obs=cats)
        numpyro.sample("points", dist.MultivariateNormal(b, jnp.eye(2)), obs=points)
        numpyro.sample("sizes", dist.LogNormal(jnp.log(s), 1.0), obs=jnp.exp(points[:, 0]))


@pytest.mark.slow  # six latents with iterative moment matching: a long compilation
def test_beta_gamma_dirichlet_mvn_match_conjugate_posteriors():
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    flips = jax.random.bernoulli(keys[0], jnp.array([[0.2], [0.5], [0.9]]), (3, 10)) * 1.0
    counts = jax.random.poisson(keys[1], jnp.array([[0.5], [2.0], [6.0]]), (3, 10)) * 1.0
    cats = jax.random.categorical(keys[2], jnp.log(jnp.array([0.5, 0.3, 0.2])), shape=(12,))
    points = jnp.array([1.0, -1.0]) + jax.random.normal(keys[3], (12, 2))
    state, _ = runs(conjugate, flips, counts, cats, points)
    p = state.params
    assert_within(p["p_concentration1"][..., 0], A_BETA + flips.sum(1))
    assert_within(p["p_concentration0"][..., 0], B_BETA + (1 - flips).sum(1))
    assert_within(p["lam_concentration"][..., 0], A_GAMMA + counts.sum(1))
    assert_within(p["lam_rate"][..., 0], B_GAMMA + counts.shape[1])
    assert_within(p["w_concentration"], ALPHA + jnp.bincount(cats, length=3))
    prec = np.linalg.inv(PRIOR_COV) + points.shape[0] * np.eye(2)
    cov = np.linalg.inv(prec)
    assert_within(p["b_loc"], cov @ np.asarray(points.sum(0)))
    scale = p["b_scale_tril"]
    assert_within(scale @ jnp.swapaxes(scale, -1, -2), cov)
    n = points.shape[0]  # log s ~ N(0, 1), log sizes ~ N(log s, 1): a Normal posterior
    assert_within(p["s_loc"], points[:, 0].sum() / (1 + n))
    assert_within(p["s_scale"], (1 + n) ** -0.5)


LOCS = jnp.array([-1.0, 0.0, 1.0])
NOISE = 1.0
Y_DISCRETE = jnp.array([0.6, -1.1, 1.8])


def discrete(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[0]):
        z = numpyro.sample("z", dist.Bernoulli(0.4))
        c = numpyro.sample("c", dist.Categorical(jnp.array([0.2, 0.3, 0.5])))
        numpyro.sample("y", dist.Normal(mu + z + jnp.take(LOCS, c), NOISE), obs=y)


def enumerated_posterior(y):
    """``P(z_n = 1)``, ``P(c_n = k)``, ``E[mu]``, ``sd[mu]`` by summing all (z, c)."""
    y = np.asarray(y)
    n = y.size
    logw, pz, pc, m1, m2 = [], [], [], [], []
    for zs in itertools.product([0, 1], repeat=n):
        for cs in itertools.product(range(3), repeat=n):
            shift = np.array(zs) + np.asarray(LOCS)[list(cs)]
            cov = NOISE**2 * np.eye(n) + np.ones((n, n))  # mu ~ N(0, 1) integrated out
            r = y - shift
            ll = -0.5 * (r @ np.linalg.solve(cov, r) + np.linalg.slogdet(2 * np.pi * cov)[1])
            prior = np.sum(np.log(np.where(zs, 0.4, 0.6))) + np.sum(
                np.log(np.array([0.2, 0.3, 0.5])[list(cs)]))
            post_var = 1.0 / (1.0 + n / NOISE**2)
            post_mean = post_var * r.sum() / NOISE**2
            logw.append(ll + prior)
            pz.append(zs)
            pc.append(np.eye(3)[list(cs)])
            m1.append(post_mean)
            m2.append(post_var + post_mean**2)
    w = np.exp(np.array(logw) - max(logw))
    w /= w.sum()
    mean = w @ np.array(m1)
    return (w @ np.array(pz), np.tensordot(w, np.array(pc), 1), mean,
            np.sqrt(w @ np.array(m2) - mean**2))


def test_discrete_latents_sampled_or_enumerated_match_enumeration():
    # K = 30: a category of posterior probability p is drawn about K p times per step; at
    # K p < 1 its running probability is driven below p (see jaxis.learn._qem, Discrete)
    pz, pc, mean, sd = enumerated_posterior(Y_DISCRETE)
    state, _ = runs(discrete, Y_DISCRETE, K=30)
    p = state.params
    assert_within(p["z_probs"], pz)
    assert_within(p["c_probs"], pc)
    assert_within(p["mu_loc"], mean)
    assert_within(p["mu_scale"], sd)

    state, _ = runs(discrete, Y_DISCRETE, enumerate_discrete=True)
    assert set(state.params) == {"mu_loc", "mu_scale"}
    assert_within(state.params["mu_loc"], mean)
    assert_within(state.params["mu_scale"], sd)


def test_step_is_jittable_and_vmappable():
    y = gh.synthetic(jax.random.PRNGKey(4), groups=2, observations=3)
    guide = jaxis.qem_guide(gh.model)
    step = build_qem_step(gh.model, guide, K=5, lr=0.5)
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    states = jax.vmap(lambda k: qem_init(k, guide, 100, y))(keys)
    batched, infos = jax.jit(jax.vmap(lambda k, s: step(k, s, y)))(keys, states)
    one = jax.jit(lambda k, s: step(k, s, y))
    for i in range(3):
        s_i, info_i = one(keys[i], jax.tree_util.tree_map(lambda x: x[i], states))
        np.testing.assert_allclose(s_i.params["theta_loc"], batched.params["theta_loc"][i],
                                   rtol=1e-6)
        np.testing.assert_allclose(info_i.log_evidence, infos.log_evidence[i], rtol=1e-6)
    assert np.all(batched.step == 1)


def poisson_latent(y):
    n = numpyro.sample("n_latent", dist.Poisson(3.0))
    numpyro.sample("y", dist.Normal(n, 1.0), obs=y)


def test_bad_input_raises_naming_the_problem():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="n_latent"):
        jaxis.qem(poisson_latent, K=5, num_steps=2, lr=0.3)(key, 1.0)
    with pytest.raises(ValueError, match="lr"):
        jaxis.qem(gh.model, K=5, num_steps=2, lr=1.5)
    with pytest.raises(ValueError, match="num_steps"):
        jaxis.qem(gh.model, K=5, num_steps=0, lr=0.3)
    with pytest.raises(ValueError, match="qem_guide"):
        jaxis.qem(gh.model, lambda obs: None, K=5, num_steps=2, lr=0.3)


@pytest.mark.slow  # compiles the occupancy MP run inside the QEM scan
def test_occupancy_qem_with_sampled_z_improves_log_evidence():
    from jaxis.datasets import synthetic_occupancy
    from jaxis.models import occupancy

    data = synthetic_occupancy(jax.random.PRNGKey(0), num_years=2, num_birds=3, num_ids=20,
                               num_test_ids=1, num_replicates=3)
    run = jaxis.qem(occupancy.model, K=10, num_steps=15, lr=0.3)
    keys = jax.random.split(jax.random.PRNGKey(1), SEEDS)
    _, info = jax.vmap(lambda k: run(k, **data.train))(keys)
    gain = np.asarray(info.log_evidence[:, -1] - info.log_evidence[:, 0])
    assert np.all(np.isfinite(gain))
    assert gain.mean() > 4 * gain.std(ddof=1) / np.sqrt(SEEDS)
