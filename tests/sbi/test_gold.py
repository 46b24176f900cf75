"""Gold mining on z ~ N(theta, 2), x ~ N(z, 1): analytic marginal x ~ N(theta, sqrt 5),
posterior z | x, theta ~ N(0.8 (theta / 4 + x), 0.8)."""
import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from jax.scipy.stats import norm
from numpyro import handlers

from jaxis.sbi import (apply_mlp, fit, init_mlp, joint_log_density, joint_log_ratio,
                       joint_score, rascal_loss, rolr_loss, sally_loss, scandal_loss,
                       simulate, simulator_spec)

N = 20_000


def model(theta, x=None):
    z = numpyro.sample("z", dist.Normal(theta, 2.0))
    numpyro.sample("x", dist.Normal(z, 1.0), obs=x)


def marginal_log_p(x, theta):
    return norm.logpdf(x, theta, jnp.sqrt(5.0))


def posterior_z(key, x, theta, n):
    return 0.8 * (theta / 4 + x) + jnp.sqrt(0.8) * jax.random.normal(key, (n,))


def test_joint_score_holds_the_latent_fixed():
    """The pitfall: on a seeded trace, t = d/dtheta [log N(z; theta, 2) + log N(x; z, 1)]
    with z fixed is (z - theta) / 4. Re-running the seeded model instead moves z = theta +
    2 eps with theta and differentiates to x - z: a different quantity."""
    theta = 0.3
    tr = handlers.trace(handlers.seed(model, 7)).get_trace(theta)
    z, x = tr["z"]["value"], tr["x"]["value"]
    t = joint_score(model, tr, theta)["theta"]
    assert jnp.allclose(t, (z - theta) / 4, rtol=1e-12)

    def moving(th):  # the wrong way: x observed, z re-drawn with the same randomness
        tr_m = handlers.trace(handlers.seed(model, 7)).get_trace(th, x)
        return sum(s["fn"].log_prob(s["value"]) for s in tr_m.values())

    assert jnp.allclose(moving(theta), tr["z"]["fn"].log_prob(z) + norm.logpdf(x, z, 1.0))
    assert jnp.allclose(jax.grad(moving)(theta), x - z, rtol=1e-12)
    assert not jnp.allclose(t, x - z)


def test_theta_as_a_sample_site_leaves_out_its_prior():
    def hier(x=None):
        theta = numpyro.sample("theta", dist.Normal(0.0, 10.0))
        model(theta, x)

    values = {"theta": 0.3, "z": 1.1, "x": -0.4}
    lp = joint_log_density(hier, values)
    assert jnp.allclose(lp, norm.logpdf(1.1, 0.3, 2.0) + norm.logpdf(-0.4, 1.1, 1.0))
    assert jnp.allclose(joint_score(hier, values)["theta"], (1.1 - 0.3) / 4)


def test_joint_ratio_and_score_average_to_the_marginal_ones():
    """E_{z|x,theta1}[r(x, z | theta0, theta1)] = r(x | theta0, theta1) and
    E_{z|x,theta}[t(x, z | theta)] = (x - theta) / 5, each within 4 standard errors."""
    x, theta0, theta1 = 1.3, 0.2, 0.9
    z1 = posterior_z(jax.random.PRNGKey(0), x, theta1, N)
    log_r = jax.jit(jax.vmap(lambda z: joint_log_ratio(model, {"z": z, "x": x},
                                                       theta0, theta1, theta1)))(z1)
    r = jnp.exp(log_r)
    exact_r = jnp.exp(marginal_log_p(x, theta0) - marginal_log_p(x, theta1))
    assert jnp.abs(r.mean() - exact_r) < 4 * r.std() / jnp.sqrt(N)

    z0 = posterior_z(jax.random.PRNGKey(1), x, theta0, N)
    t = jax.vmap(lambda z: joint_score(model, {"z": z, "x": x, "theta": theta0})["theta"])(z0)
    assert jnp.abs(t.mean() - (x - theta0) / 5) < 4 * t.std() / jnp.sqrt(N)


def test_sally_recovers_the_exact_score():
    """An MLP regressed on joint scores (SALLY) at theta = 0.5 matches (x - theta) / 5.

    The joint score is the exact score plus noise of variance Var(t | x) = 0.8 / 16; a
    consistent regression's excess error falls like 1/N, so the criterion is a mean squared
    error to the exact score below a tenth of that noise variance (measured in the test)."""
    theta = 0.5
    with jax.enable_x64(False):
        spec = simulator_spec(model, (theta,), x_site="x")  # z is the "theta" of the spec
        latents, x = simulate(jax.random.PRNGKey(2), model, spec, 4000, (theta,))
        z = latents["z"]
        score = jax.vmap(lambda zz, xx: joint_score(model, {"z": zz, "x": xx}, theta)["theta"])
        t = jax.jit(score)(z, x)
        scale = jnp.sqrt(5.0)

        def loss(p, key, batch):
            xb, tb = batch
            return sally_loss(apply_mlp(p, (xb[:, None] - theta) / scale)[:, 0], tb)

        p0 = init_mlp(jax.random.PRNGKey(4), (1, 16, 1))
        params, _ = jax.jit(fit, static_argnums=(1, 4, 5, 6))(jax.random.PRNGKey(3), loss, p0,
                        (x, t), optax.adam(3e-3), 1000, 256)
        grid = theta + scale * jnp.linspace(-2, 2, 41)
        fitted = apply_mlp(params, ((grid - theta) / scale)[:, None])[:, 0]
        noise = jnp.mean((t - (x - theta) / 5) ** 2)
        assert jnp.mean((fitted - (grid - theta) / 5) ** 2) < 0.1 * noise


def test_gold_losses_are_minimised_at_the_truth():
    """ROLR, RASCAL and SCANDAL evaluated at the exact marginal ratio / score / density are
    below their values at perturbed estimators (same samples, so no Monte Carlo tolerance)."""
    theta0, theta1 = 0.0, 1.0
    k = jax.random.split(jax.random.PRNGKey(5), 4)
    y = (jnp.arange(N) % 2).astype(float)
    th = jnp.where(y == 1, theta1, theta0)
    z = th + 2 * jax.random.normal(k[0], (N,))
    x = z + jax.random.normal(k[1], (N,))
    log_r = jax.vmap(lambda zz, xx: joint_log_ratio(model, {"z": zz, "x": xx}, theta0, theta1,
                                                    0.0))(z, x)
    t = jax.vmap(lambda zz, xx, tt: joint_score(model, {"z": zz, "x": xx, "theta": tt})["theta"])(
        z, x, th)
    exact_log_r = marginal_log_p(x, theta0) - marginal_log_p(x, theta1)
    exact_t = (x - th) / 5
    for dr in (-0.3, 0.3):
        assert rolr_loss(exact_log_r, log_r, y) < rolr_loss(exact_log_r + dr, log_r, y)
        assert (rascal_loss(exact_log_r, exact_t, log_r, t, y)
                < rascal_loss(exact_log_r + dr, exact_t + dr, log_r, t, y))
        assert (scandal_loss(marginal_log_p(x, th), exact_t, t)
                < scandal_loss(norm.logpdf(x, th + dr, jnp.sqrt(5.0)), (x - th - dr) / 5, t))
    assert jnp.isfinite(jax.grad(rolr_loss)(exact_log_r, log_r, y)).all()


def test_bad_input():
    with pytest.raises(ValueError, match=r"latent sites \['z'\]"):
        joint_score(model, {"x": 1.0}, 0.3)
    with pytest.raises(ValueError, match="neither arguments"):
        joint_log_density(model, {"x": 1.0, "z": 0.0}, 0.3, params=("phi",))
    with pytest.raises(ValueError, match="no value"):
        joint_score(model, {"x": 1.0, "z": 0.0}, params=("theta",))
    with pytest.raises(ValueError, match="dict over params"):
        joint_log_ratio(model, {"x": 1.0, "z": 0.0}, 0.1, 0.2, 0.0, params=("theta", "x"))
