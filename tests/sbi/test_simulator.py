"""The one simulator interface of jaxis.sbi: which sites are theta and x, and draws."""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from jaxis.sbi import simulate, simulator_spec, tasks
from jaxis.sbi._simulator import prior_predictive, simulate_at

from . import gaussian


def test_the_data_site_is_the_observed_one_or_x():
    """model(x=None) called bare, the same model given data, and a data site not named x."""
    expected = (("theta",), ((3,),), "x", (3,))
    assert tuple(simulator_spec(gaussian.model, kwargs={"d": 3})) == expected
    assert tuple(simulator_spec(gaussian.model, (jnp.zeros(3), 3))) == expected

    def named_y(y=None):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu, 1.0).expand([2]).to_event(1), obs=y)

    spec = simulator_spec(named_y, (jnp.zeros(2),))
    assert (spec.theta_sites, spec.x_site, spec.x_shape) == (("mu",), "y", (2,))
    with pytest.raises(ValueError, match="x_site"):
        simulator_spec(named_y)  # nothing observed and no site named x


def test_draws_are_released_prior_predictive_draws():
    """Given data, the x site is still simulated; x - theta ~ N(0, S^2) (4 s.e. on the sd)."""
    spec = simulator_spec(gaussian.model, (jnp.zeros(1),))
    theta, x = simulate(jax.random.PRNGKey(0), gaussian.model, spec, 20_000, (jnp.zeros(1),))
    resid = np.asarray(x - theta["theta"]).ravel()
    se = gaussian.S / np.sqrt(2 * resid.size)
    assert abs(resid.std() - gaussian.S) < 4 * se and np.all(np.asarray(x) != 0.0)


def test_simulate_at_inverts_prior_predictive_with_the_jacobian():
    """two_moons' uniform prior: theta = T(u) round-trips and log pi_u(u) = log pi(theta)
    + log|T'(u)|, with T the logistic map onto (-1, 1) per coordinate."""
    task = tasks.get("two_moons")
    spec = simulator_spec(task.model)
    theta, _, u = prior_predictive(jax.random.PRNGKey(1), task.model, spec)
    again, x, log_pi_u = simulate_at(jax.random.PRNGKey(2), task.model, spec, u)
    np.testing.assert_allclose(again["theta"], theta["theta"], rtol=1e-5)
    s = jax.nn.sigmoid(u["theta"])
    expected = -2 * np.log(2.0) + np.sum(np.log(2 * s * (1 - s)))
    np.testing.assert_allclose(log_pi_u, expected, rtol=1e-5)
    assert x.shape == (2,)
