"""A conjugate Gaussian simulator with an analytic ratio and posterior (shared by the sbi tests).

theta ~ N(0, I_d), x | theta ~ N(theta, s^2 I_d): p(x) = N(0, (1 + s^2) I), the posterior
is N(x / (1 + s^2), s^2 / (1 + s^2) I) and log r = log N(x; theta, s) - log N(x; 0, sqrt(1+s^2)).
"""
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.scipy.stats import norm

S = 0.5


def model(x=None, d=1):
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([d]).to_event(1))
    numpyro.sample("x", dist.Normal(theta, S).to_event(1), obs=x)


def log_ratio(theta, x):
    return (norm.logpdf(x, theta, S) - norm.logpdf(x, 0.0, jnp.sqrt(1 + S**2))).sum(-1)


def posterior(x):
    """Mean and standard deviation of p(theta | x)."""
    return x / (1 + S**2), jnp.sqrt(S**2 / (1 + S**2)) * jnp.ones_like(x)
