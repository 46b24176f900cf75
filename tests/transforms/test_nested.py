"""Nested sampling as importance sampling, on a perfect run with known answers.

The perfect run: Gaussian likelihood ``N(theta; 0, I_3)``, uniform prior in a ball of
radius ``R``. The shrinkage ``t_i ~ Beta(n_i, 1)`` is drawn exactly (``n`` live points,
then the final live points die with ``n, n-1, ..., 1``), each dead point sits uniformly on
its contour sphere ``|theta| = R X_i^(1/3)``. The weights use the nominal volumes
``log X_i = sum_k log(1 - 1/n_k)``, for which ``sum_i L_i dX_i`` is an unbiased estimate
of ``Z`` (Campbell's theorem on the Poisson process of ``-log X``; Walter 2017), and so is
the reweighted sum for any new target. Tolerances are 5 standard errors over runs.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxis.transforms import (
    from_blackjax,
    from_dynesty,
    from_jaxns,
    from_nested,
    from_ultranest,
    prior_swap,
    reweight,
)
from jaxis.weighted import NestedSamples, WeightedSamples, simulate_log_evidence

DIM, RADIUS, NLIVE, NITER = 3, 5.0, 100, 1400
NEW_MEAN, NEW_SCALE = jnp.array([1.5, 0.0, 0.0]), 1.5
RUNS = 200


def log_gauss(theta, mean, scale):
    return -0.5 * jnp.sum((theta - mean) ** 2, -1) / scale**2 - 0.5 * DIM * jnp.log(
        2 * jnp.pi * scale**2
    )


def live_counts():
    return jnp.concatenate([jnp.full(NITER, NLIVE), jnp.arange(NLIVE, 0, -1)]).astype(float)


def perfect_run(key):
    k_t, k_dir = jax.random.split(key)
    n = live_counts()
    log_x_true = jnp.cumsum(jnp.log(jax.random.uniform(k_t, n.shape)) / n)
    direction = jax.random.normal(k_dir, (n.shape[0], DIM))
    direction = direction / jnp.linalg.norm(direction, axis=1, keepdims=True)
    theta = direction * (RADIUS * jnp.exp(log_x_true / DIM))[:, None]
    nominal = jnp.cumsum(jnp.log1p(-1.0 / n))
    ws = from_nested({"theta": theta}, log_gauss(theta, 0.0, 1.0), log_volume=nominal, num_live=n)
    return ws


def new_log_likelihood(samples):
    return log_gauss(samples["theta"], NEW_MEAN, NEW_SCALE)


def closed_forms():
    log_ball = np.log(4.0 / 3.0 * np.pi * RADIUS**3)
    old = np.log(stats.chi2.cdf(RADIUS**2, DIM)) - log_ball
    noncentral = float(jnp.sum(NEW_MEAN**2)) / NEW_SCALE**2
    new = np.log(stats.ncx2.cdf(RADIUS**2 / NEW_SCALE**2, DIM, noncentral)) - log_ball
    return old, new


@pytest.fixture(scope="module")
def runs():
    def one(key):
        k_run, k_res = jax.random.split(key)
        ws = perfect_run(k_run)
        new = reweight(ws, lambda s: new_log_likelihood(s) - log_gauss(s["theta"], 0.0, 1.0))
        # resample to equal-weight posterior draws first, then reweight (the wasteful way)
        post = ws.resample(k_res, ws.num_samples)
        post_new = reweight(
            post, lambda s: new_log_likelihood(s) - log_gauss(s["theta"], 0.0, 1.0)
        )
        return ws.log_evidence(), new.log_evidence(), new.ess(), post_new.ess()

    keys = jax.random.split(jax.random.key(20240601), RUNS)
    return [np.asarray(a) for a in jax.jit(jax.vmap(one))(keys)]


def test_reweighted_evidence_matches_closed_form(runs):
    log_z_old, log_z_new, _, _ = runs
    for estimate, truth in zip((log_z_old, log_z_new), closed_forms()):
        ratio = np.exp(estimate - truth)  # unbiased for 1
        se = ratio.std(ddof=1) / np.sqrt(RUNS)
        assert abs(ratio.mean() - 1.0) < 5 * se


def test_direct_reweighting_beats_resampling_first(runs):
    _, _, ess_direct, ess_resampled = runs
    diff = ess_direct - ess_resampled
    assert diff.mean() > 5 * diff.std(ddof=1) / np.sqrt(RUNS)


def test_volume_simulation_matches_spread_over_runs():
    """The simulated log Z spread of one run equals the spread over independent runs."""
    keys = jax.random.split(jax.random.key(7), RUNS)

    def one(key):
        k_run, k_sim = jax.random.split(key)
        ws = perfect_run(k_run)
        new = reweight(ws, lambda s: new_log_likelihood(s) - log_gauss(s["theta"], 0.0, 1.0))
        ev = simulate_log_evidence(k_sim, (ws, new), num_draws=64)
        return ws.log_evidence(), ev.std[0]

    log_z, sim_std = (np.asarray(a) for a in jax.lax.map(jax.jit(one), keys))
    spread = log_z.std(ddof=1)
    se = spread / np.sqrt(2 * (RUNS - 1)) + sim_std.std(ddof=1) / np.sqrt(RUNS)
    assert abs(sim_std.mean() - spread) < 5 * se


def test_joint_simulation_shares_volumes():
    @jax.jit
    def sets(key):
        ws = perfect_run(key)
        new = reweight(ws, lambda s: new_log_likelihood(s) - log_gauss(s["theta"], 0.0, 1.0))
        k = jax.random.key(11)
        joint = simulate_log_evidence(k, (ws, new, ws), num_draws=32)
        return ws, new, joint, simulate_log_evidence(k, ws, num_draws=32)

    ws, new, joint, alone = sets(jax.random.key(3))
    np.testing.assert_allclose(joint.draws[:, 0], joint.draws[:, 2])
    np.testing.assert_allclose(joint.draws[:, :1], alone.draws)
    np.testing.assert_allclose(joint.log_evidence, [ws.log_evidence(), new.log_evidence(), ws.log_evidence()])
    assert isinstance(new, NestedSamples)  # reweighting keeps the run's volumes
    np.testing.assert_array_equal(new.log_widths, ws.log_widths)


def test_prior_swap_then_resample_composes():
    """nested -> prior swap -> resample: the swap to a narrower prior moves the mean."""
    ball = -np.log(4.0 / 3.0 * np.pi * RADIUS**3)

    @jax.jit
    def chain(key):
        ws = perfect_run(key)
        swapped = prior_swap(ws, lambda s: jnp.full(ws.num_samples, ball),
                             lambda s: log_gauss(s["theta"], NEW_MEAN, NEW_SCALE))
        return ws, swapped, swapped.resample(jax.random.key(2), 4000)

    ws, swapped, draws = chain(jax.random.key(5))
    # new target N(0, I) * N(mu, s^2 I): posterior mean mu / (1 + s^2)
    expected = np.asarray(NEW_MEAN) / (1.0 + NEW_SCALE**2)
    w = np.asarray(swapped.normalized_weights())[:, None]
    theta = np.asarray(ws.samples["theta"])
    mean = np.sum(w * theta, 0)
    se = np.sqrt(np.sum(w**2 * (theta - mean) ** 2, 0))
    assert np.all(np.abs(mean - expected) < 5 * se)
    assert type(draws) is WeightedSamples
    np.testing.assert_allclose(draws.log_evidence(), swapped.log_evidence(), rtol=1e-12)
    sample_mean = np.asarray(draws.samples["theta"]).mean(0)
    sample_se = np.asarray(draws.samples["theta"]).std(0) / np.sqrt(4000)
    assert np.all(np.abs(sample_mean - mean) < 5 * (sample_se + se))


def test_num_live_inferred_from_expected_volumes():
    n = live_counts()
    shrink = jnp.cumsum(jnp.log(n / (n + 1.0)))  # E[X_i] schedule, then the final live points
    log_x = jnp.concatenate([shrink[:-1], jnp.array([-jnp.inf])])
    ws = from_nested({"x": jnp.zeros(n.shape)}, jnp.zeros(n.shape), log_volume=log_x)
    np.testing.assert_allclose(ws.num_live[: NITER + NLIVE - 1], n[:-1], rtol=1e-6)


def _perfect_arrays():
    ws = perfect_run(jax.random.key(9))
    log_x = np.asarray(jnp.cumsum(jnp.log1p(-1.0 / live_counts())))
    theta = np.asarray(ws.samples["theta"])
    logl = np.asarray(log_gauss(theta, 0.0, 1.0))
    return ws, theta, logl, log_x


def test_dynesty_adapter_static_and_dynamic():
    ws, theta, logl, log_x = _perfect_arrays()
    static = dict(samples=theta, logl=logl, logvol=log_x, logwt=np.asarray(ws.log_weights),
                  nlive=NLIVE, niter=NITER)
    out = from_dynesty(static, names=["a", "b", "c"])
    np.testing.assert_allclose(out.log_evidence(), ws.log_evidence(), rtol=1e-12)
    np.testing.assert_allclose(out.num_live, live_counts())
    np.testing.assert_array_equal(out.samples["b"], theta[:, 1])

    class Results:  # attribute access, dynamic run with samples_n
        pass

    dyn = Results()
    for k, v in static.items():
        setattr(dyn, k, v)
    dyn.samples_n = np.asarray(live_counts())
    np.testing.assert_allclose(from_dynesty(dyn).log_weights, ws.log_weights)
    with pytest.raises(ValueError, match="logvol"):
        from_dynesty({k: v for k, v in static.items() if k != "logvol"})


def test_jaxns_blackjax_ultranest_adapters():
    ws, theta, logl, log_x = _perfect_arrays()
    n = ws.num_samples
    pad = 7
    jaxns = dict(
        samples={"theta": np.concatenate([theta, np.zeros((pad, DIM))])},
        log_L_samples=np.concatenate([logl, np.full(pad, -np.inf)]),
        log_dp_mean=np.concatenate([np.asarray(ws.log_weights), np.full(pad, -np.inf)]),
        num_live_points_per_sample=np.concatenate([np.asarray(live_counts()), np.zeros(pad)]),
        total_num_samples=n,
    )
    out = from_jaxns(jaxns)
    np.testing.assert_allclose(out.log_evidence(), ws.log_evidence(), rtol=1e-12)
    np.testing.assert_allclose(out.log_widths, ws.log_widths, atol=1e-9)

    ultra = dict(logz=float(ws.log_evidence()), weighted_samples=dict(
        points=theta, logl=logl, weights=np.asarray(ws.normalized_weights())))
    out = from_ultranest(ultra)
    np.testing.assert_allclose(out.log_evidence(), ws.log_evidence(), rtol=1e-9)

    # blackjax: constant n live points, each replacement born at the contour it replaced
    perm = np.random.default_rng(0).permutation(n)
    birth = np.concatenate([np.full(NLIVE, -np.inf), logl[: n - NLIVE]])
    info = dict(particles={"theta": theta[perm]}, loglikelihood=logl[perm],
                loglikelihood_birth=birth[perm])
    out = from_blackjax(info)
    np.testing.assert_allclose(out.num_live, live_counts())
    np.testing.assert_array_equal(out.samples["theta"], theta)
    expected = from_nested({"theta": theta}, logl, log_volume=-np.cumsum(1.0 / live_counts()))
    np.testing.assert_allclose(out.log_weights, expected.log_weights, rtol=1e-12)


def test_from_nested_bad_input():
    with pytest.raises(ValueError, match="log_volume= .* or log_weights="):
        from_nested({"x": jnp.zeros(3)}, jnp.zeros(3))
    with pytest.raises(ValueError, match="log_volume must have"):
        from_nested({"x": jnp.zeros(3)}, jnp.zeros(3), log_volume=jnp.zeros(4))
    with pytest.raises(ValueError, match="samples\\['x'\\] has 2 rows"):
        from_nested({"x": jnp.zeros(2)}, jnp.zeros(3), log_volume=-jnp.arange(1.0, 4.0))
    with pytest.raises(ValueError, match="NestedSamples"):
        simulate_log_evidence(jax.random.key(0), WeightedSamples({"x": jnp.zeros(3)}, jnp.zeros(3)))
