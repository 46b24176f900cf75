"""Tiny numpyro models (2-4 latent instances) for exact enumeration tests.

Each entry: (model, guide or None, args, K). Kept small so that K^n <= ~1000.
"""
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.contrib.control_flow import scan


def explaining_away(x=2.0):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    numpyro.sample("x", dist.Normal(a + b, 0.3), obs=x)


def plated_hierarchy(y):
    """mu -> theta_g (plate of 2) -> y_gn (nested data plate of 3)."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("groups", y.shape[0], dim=-2):
        theta = numpyro.sample("theta", dist.Normal(mu, 1.0))
        with numpyro.plate("data", y.shape[1], dim=-1):
            numpyro.sample("y", dist.Normal(theta, 0.5), obs=y)


def plated_guide(y):
    numpyro.sample("mu", dist.Normal(0.3, 1.2))
    with numpyro.plate("groups", y.shape[0], dim=-2):
        numpyro.sample("theta", dist.Normal(0.0, 1.5))


def discrete_continuous(y):
    """Bernoulli and Categorical latents feeding a continuous plated latent."""
    c = numpyro.sample("c", dist.Bernoulli(0.4))
    k = numpyro.sample("k", dist.Categorical(jnp.array([0.2, 0.3, 0.5])))
    locs = jnp.array([-1.0, 0.0, 2.0])
    with numpyro.plate("items", y.shape[0], dim=-1):
        z = numpyro.sample("z", dist.Normal(2.0 * c + locs[k], 1.0))
        numpyro.sample("y", dist.Normal(z, 0.7), obs=y)


def poisson_count(y):
    rate = numpyro.sample("n", dist.Poisson(3.0))
    with numpyro.plate("obs_plate", y.shape[0], dim=-1):
        numpyro.sample("y", dist.Normal(rate, 1.5), obs=y)


def multivariate(x, y):
    """A 2-d Gaussian weight vector (event dim) and a plated 2-d latent."""
    w = numpyro.sample("w", dist.MultivariateNormal(jnp.zeros(2), jnp.array([[1.0, 0.3], [0.3, 1.0]])))
    with numpyro.plate("rows", y.shape[0], dim=-1):
        u = numpyro.sample("u", dist.Normal(jnp.zeros(2), 1.0).to_event(1))
        numpyro.sample("y", dist.Normal(jnp.sum((w + u) * x, -1), 0.5), obs=y)


def dependent_model(y):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    with numpyro.plate("p", y.shape[0], dim=-1):
        b = numpyro.sample("b", dist.Normal(a, 1.0))
        numpyro.sample("y", dist.Normal(b, 0.5), obs=y)


def dependent_guide(y):
    """The proposal of b depends on the proposal's a: a parent-mixture proposal."""
    a = numpyro.sample("a", dist.Normal(0.5, 1.0))
    with numpyro.plate("p", y.shape[0], dim=-1):
        numpyro.sample("b", dist.Normal(0.5 * a, 0.9))


def masked_scaled(y):
    """numpyro.factor, handlers.mask, dist.mask and handlers.scale in one model."""
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    numpyro.factor("soft", -0.5 * (a - 1.0) ** 2)
    with numpyro.plate("p", y.shape[0], dim=-1):
        b = numpyro.sample("b", dist.Normal(a, 1.0))
        with handlers.mask(mask=jnp.array([True, False])):
            numpyro.sample("y1", dist.Normal(b, 0.5), obs=y)
        with handlers.scale(scale=2.0):
            numpyro.sample("y2", dist.Normal(b, 1.0).mask(jnp.array([False, True])), obs=y)
    numpyro.deterministic("s", a * 2.0)


def two_parents(y):
    """A plated child of a location and a scale parent (eight-schools shape)."""
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.LogNormal(0.0, 0.5))
    with numpyro.plate("p", y.shape[0], dim=-1):
        c = numpyro.sample("c", dist.Normal(a, b))
        numpyro.sample("y", dist.Normal(c, 0.5), obs=y)


def three_parents(y):
    """A plated child of a location, a scale and a discrete parent."""
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.LogNormal(0.0, 0.5))
    d = numpyro.sample("d", dist.Bernoulli(0.5))
    with numpyro.plate("p", y.shape[0], dim=-1):
        c = numpyro.sample("c", dist.Normal(a + 1.5 * d, b))
        numpyro.sample("y", dist.Normal(c, 0.5), obs=y)


def sibling_plates(y1, y2):
    """Two sibling plates on the same dim (sizes 2 and 3), each holding a latent."""
    m = numpyro.sample("m", dist.Normal(0.0, 1.0))
    with numpyro.plate("first", y1.shape[0], dim=-1):
        z1 = numpyro.sample("z1", dist.Normal(m, 1.0))
        numpyro.sample("y1", dist.Normal(z1, 0.5), obs=y1)
    with numpyro.plate("second", y2.shape[0], dim=-1):
        z2 = numpyro.sample("z2", dist.Normal(m, 1.0))
        numpyro.sample("y2", dist.Normal(z2, 0.5), obs=y2)


def nested_latents(y):
    """mu -> theta_g (plate of 2) -> phi_gi (nested plate of 2) -> y_gi: perms per element."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("groups", 2, dim=-2):
        theta = numpyro.sample("theta", dist.Normal(mu, 1.0))
        with numpyro.plate("items", 2, dim=-1):
            phi = numpyro.sample("phi", dist.Normal(theta, 0.7))
            numpyro.sample("y", dist.Normal(phi, 0.5), obs=y)


CASES = {
    "explaining_away": (explaining_away, None, (), 5),
    "plated_prior": (plated_hierarchy, None, (jnp.array([[0.1, 0.5, -0.2], [1.2, 0.9, 1.5]]),), 4),
    "plated_guide": (plated_hierarchy, plated_guide, (jnp.array([[0.1, 0.5, -0.2], [1.2, 0.9, 1.5]]),), 4),
    "discrete_continuous": (discrete_continuous, None, (jnp.array([0.5, 2.5]),), 3),
    "poisson": (poisson_count, None, (jnp.array([2.0, 4.0, 5.0]),), 6),
    "multivariate": (multivariate, None, (jnp.array([[1.0, 0.5], [-0.3, 1.0]]), jnp.array([0.7, -0.4])), 4),
    "dependent_guide": (dependent_model, dependent_guide, (jnp.array([0.8, 1.4]),), 4),
    "masked_scaled": (masked_scaled, None, (jnp.array([0.3, 1.1]),), 4),
    "two_parents": (two_parents, None, (jnp.array([0.4, 1.3]),), 4),
    "three_parents": (three_parents, None, (jnp.array([0.4, 1.3]),), 3),
    "nested_latents": (nested_latents, None, (jnp.array([[0.2, 0.9], [-0.4, 1.5]]),), 3),
    "sibling_plates": (sibling_plates, None, (jnp.array([0.4, 1.3]), jnp.array([1.0, -0.5, 0.2])), 3),
}


def markov_chain(y):
    """A scan: x_t ~ N(0.9 x_{t-1}, 1) -> y_t (one latent per step, a Markov chain)."""
    def step(x_prev, y_t):
        x = numpyro.sample("x", dist.Normal(0.9 * x_prev, 1.0))
        numpyro.sample("y", dist.Normal(x, 1.0), obs=y_t)
        return x, None
    scan(step, 0.0, y)
