"""Neural ratio estimation on the conjugate Gaussian (analytic ratio and posterior)."""
import functools

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.util import log_density

from jaxis.sbi import nre_loss, nre_posterior, simulator_spec, train_nre
from tests.sbi import gaussian

X_OBS = jnp.array([0.8])


@pytest.fixture(scope="module")
def ratios():
    with jax.enable_x64(False):  # float32 training: the library's default precision
            return {m: train_nre(jax.random.PRNGKey(0), gaussian.model, 2000, X_OBS, method=m,
                             hidden=(32, 32), num_steps=800, batch_size=128)
                for m in ("A", "B", "balanced")}


@pytest.mark.parametrize("method", ["A", "B"])
def test_weighted_prior_recovers_the_analytic_posterior(ratios, method):
    """Posterior mean and sd from prior draws weighted by the learned ratio.

    The learned ratio has an approximation error that no Monte Carlo bound describes; the
    tolerance is a fifth of the posterior sd (plus 4 importance-sampling standard errors),
    far tighter than the prior (sd 1/0.45 = 2.2 posterior sds away from the posterior).
    """
    ws = nre_posterior(jax.random.PRNGKey(1), ratios[method], gaussian.model, X_OBS, 10_000, X_OBS)
    mean, sd = gaussian.posterior(X_OBS)
    m = ws.moments({"m": ("theta", lambda t: t), "m2": ("theta", lambda t: t**2)})
    est_sd = jnp.sqrt(m["m2"] - m["m"] ** 2)
    se = est_sd / jnp.sqrt(ws.ess())
    assert jnp.all(jnp.abs(m["m"] - mean) < 0.2 * sd + 4 * se)
    assert jnp.all(jnp.abs(est_sd / sd - 1) < 0.2)


def test_balanced_nre_is_balanced_and_conservative(ratios):
    """Balanced NRE: on fresh simulations ``E_joint[s(f)] + E_marginal[s(f)]`` is near 1
    (the penalty's target; 4 s.e. plus 0.05 for the finite penalty weight) and the weighted
    posterior is not narrower than the exact one (its purpose, Delaunoy et al. 2022)."""
    ratio = ratios["balanced"]
    theta = jax.random.normal(jax.random.PRNGKey(6), (4000, 1))
    x = theta + gaussian.S * jax.random.normal(jax.random.PRNGKey(7), (4000, 1))
    s_joint = jax.nn.sigmoid(ratio(theta, x))
    s_marg = jax.nn.sigmoid(ratio(jnp.roll(theta, 1, axis=0), x))
    gap = s_joint.mean() + s_marg.mean() - 1
    se = jnp.sqrt((s_joint.var() + s_marg.var()) / 4000)
    assert jnp.abs(gap) < 4 * se + 0.05
    ws = nre_posterior(jax.random.PRNGKey(1), ratio, gaussian.model, X_OBS, 10_000, X_OBS)
    m = ws.moments({"m": ("theta", lambda t: t), "m2": ("theta", lambda t: t**2)})
    assert jnp.all(jnp.sqrt(m["m2"] - m["m"] ** 2) > 0.9 * gaussian.posterior(X_OBS)[1])


def test_nre_a_is_calibrated_where_the_posterior_is(ratios):
    """NRE-A's optimum is log r itself (no x-dependent offset): on posterior draws, the
    learned log ratio is within 0.3 nats of the exact one on average."""
    mean, sd = gaussian.posterior(X_OBS)
    theta = mean + sd * jax.random.normal(jax.random.PRNGKey(2), (2000, 1))
    err = ratios["A"](theta, X_OBS) - gaussian.log_ratio(theta, X_OBS)
    assert jnp.abs(jnp.mean(err)) < 0.3


def test_ratio_is_jit_vmap_grad_and_a_numpyro_factor(ratios):
    ratio = ratios["B"]
    assert ratio.losses.shape == (800,)
    assert ratio.losses[-100:].mean() < ratio.losses[:100].mean()  # it trained
    theta = jnp.linspace(-1, 1, 5)[:, None]
    direct = ratio(theta, X_OBS)
    assert direct.shape == (5,)
    assert jnp.allclose(jax.jit(lambda r, t: r(t, X_OBS))(ratio, theta), direct, atol=1e-6)
    assert jnp.allclose(jax.vmap(lambda t: ratio(t, X_OBS))(theta), direct, atol=1e-6)
    assert jnp.allclose(ratio({"theta": theta}, X_OBS), direct)
    g = jax.grad(lambda t: ratio(t, X_OBS))(theta[0])
    assert g.shape == (1,) and jnp.all(jnp.isfinite(g))

    def posterior_model():
        theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([1]).to_event(1))
        numpyro.factor("log_r", ratio(theta, X_OBS))

    lp, _ = log_density(posterior_model, (), {}, {"theta": theta[2]})
    prior = dist.Normal(0.0, 1.0).log_prob(theta[2]).sum()
    assert jnp.allclose(lp, prior + direct[2], atol=1e-6)


def test_nre_loss_is_minimised_by_the_exact_ratio():
    """At the exact log r (a 'network' that returns it), NRE-A's loss is lower than at
    log r scaled by 0.5 or 1.5, and NRE-B's loss is unchanged by adding a function of x."""
    key = jax.random.PRNGKey(3)
    theta = jax.random.normal(key, (2000, 1))
    x = theta + gaussian.S * jax.random.normal(jax.random.PRNGKey(4), (2000, 1))

    @functools.partial(jax.jit, static_argnums=0)
    def loss(method, scale, offset=0.0):
        def logits(t, xx):
            return scale * gaussian.log_ratio(t, xx) + offset * xx[..., 0]

        return nre_loss(logits, jax.random.PRNGKey(5), (theta, x), method=method)

    assert loss("A", 1.0) < loss("A", 0.5)
    assert loss("A", 1.0) < loss("A", 1.5)
    assert jnp.allclose(loss("B", 1.0), loss("B", 1.0, offset=3.0), atol=1e-10)


def test_bad_input():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="method"):
        train_nre(key, gaussian.model, 10, X_OBS, method="C")
    with pytest.raises(ValueError, match="theta_sites"):
        train_nre(key, gaussian.model, 10, X_OBS, theta_sites=("mu",))
    with pytest.raises(ValueError, match="x_site"):
        simulator_spec(gaussian.model, (None,), x_site="y")
    with pytest.raises(ValueError, match="validation_fraction"):
        train_nre(key, gaussian.model, 10, X_OBS, validation_fraction=1.0)
    with pytest.raises(ValueError, match="num_atoms"):
        train_nre(key, gaussian.model, 10, X_OBS, method="B", num_atoms=1)
    spec = simulator_spec(gaussian.model, (X_OBS,))
    with pytest.raises(ValueError, match="trailing shape"):
        spec.flat_x(jnp.ones((3, 2)))
