"""A numpyro model as a simulator: its sites, prior-predictive draws, and draws at given
parameters in unconstrained space.

The model is called with no arguments, ``model()``: its latent sample sites are the
parameters ``theta`` and the site named ``observed`` (``"x"`` by default) is the
simulated data, so the model must be written ``model(x=None)`` with
``numpyro.sample("x", ..., obs=x)``. ``inspect_model`` reads the sites once with
``jax.eval_shape`` (nothing is simulated) and raises a ``ValueError`` naming the fix when
the data site is missing or already observed.

For population Monte Carlo the parameters move in unconstrained space: site ``s`` with
support ``S`` takes ``theta_s = T_s(u_s)``, ``T_s = biject_to(S)`` (evaluated in the trace,
so a support that depends on other parameters is handled), and the prior density of
``u`` is

    log pi_u(u) = sum_s [log pi_s(T_s(u_s) | parents) + log |det J_{T_s}(u_s)|].

Reference: Phan, Pradhan, Jankowiak (2019), *Composable effects for flexible and
accelerated probabilistic programming in NumPyro* (effect handlers, ``biject_to``).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from numpyro import handlers
from numpyro.distributions.transforms import biject_to

from ..weighted._checks import concrete

Array = jax.Array

__all__ = ["ModelSites", "inspect_model", "check_x_obs", "prior_predictive",
           "simulate_at", "site_log_prob"]


class ModelSites(NamedTuple):
    """Static description of a simulator: its data site and parameter sites."""

    observed: str
    params: tuple[str, ...]
    data_shape: tuple[int, ...]


def _sample_sites(trace: dict) -> dict:
    return {name: site for name, site in trace.items() if site["type"] == "sample"}


def inspect_model(model: Callable, observed: str) -> ModelSites:
    """The sites of ``model()`` (traced abstractly); ``ValueError`` if ``observed`` is unusable."""
    if not callable(model):
        raise ValueError(f"model must be a numpyro model (a callable), got {type(model).__name__}.")
    if not isinstance(observed, str):
        raise ValueError(f"observed must be the name of the data site (a str), got {observed!r}.")
    found: dict[str, Any] = {}

    def run(key):
        trace = handlers.trace(handlers.seed(model, key)).get_trace()
        sites = _sample_sites(trace)
        found.update({n: bool(s["is_observed"]) for n, s in sites.items()})
        return {n: s["value"] for n, s in sites.items()}

    shapes = jax.eval_shape(run, jax.random.PRNGKey(0))
    if observed not in found:
        raise ValueError(
            f"model() has no sample site {observed!r} (its sample sites: {sorted(found)}); "
            "pass observed=<the name of the data site>."
        )
    if found[observed]:
        raise ValueError(
            f"site {observed!r} is observed when the model is called with no arguments, so it "
            f"cannot be simulated; write the model as model({observed}=None) with "
            f"numpyro.sample({observed!r}, ..., obs={observed})."
        )
    params = tuple(n for n, obs in found.items() if n != observed and not obs)
    if not params:
        raise ValueError(
            f"model() has no latent sample site besides {observed!r}: nothing to infer.")
    return ModelSites(observed, params, tuple(shapes[observed].shape))


def check_x_obs(x_obs: Any, sites: ModelSites) -> Array:
    """``x_obs`` as a finite array of the data site's shape; ``ValueError`` otherwise
    (the finiteness check only outside jit)."""
    x_obs = jnp.asarray(x_obs)
    if x_obs.shape != sites.data_shape:
        raise ValueError(
            f"x_obs has shape {x_obs.shape}, but the model's site {sites.observed!r} "
            f"simulates shape {sites.data_shape}; pass one observation of that shape."
        )
    if concrete(x_obs) and not bool(jnp.all(jnp.isfinite(x_obs))):
        raise ValueError(
            f"x_obs contains NaN or inf values ({x_obs}); every distance to it would be "
            "undefined. Pass a finite observation."
        )
    return x_obs


def site_log_prob(site: dict) -> Array:
    """A sample site's summed log density, with its ``scale`` as numpyro applies it."""
    log_prob = jnp.sum(site["fn"].log_prob(site["value"]))
    return log_prob if site.get("scale") is None else site["scale"] * log_prob


def prior_predictive(model: Callable, sites: ModelSites,
                     rng_key: Array) -> tuple[dict, Array, dict]:
    """One prior-predictive draw: ``(theta, x, u)`` with ``u_s = T_s^{-1}(theta_s)``."""
    trace = handlers.trace(handlers.seed(model, rng_key)).get_trace()
    theta = {n: trace[n]["value"] for n in sites.params}
    u = {n: biject_to(trace[n]["fn"].support).inv(theta[n]) for n in sites.params}
    return theta, trace[sites.observed]["value"], u


def simulate_at(model: Callable, sites: ModelSites, rng_key: Array,
                u: dict) -> tuple[dict, Array, Array]:
    """Simulate at ``theta = T(u)``: ``(theta, x, log pi_u(u))`` (see the module docstring)."""

    def constrain(msg):
        if msg["name"] in u:
            return biject_to(msg["fn"].support)(u[msg["name"]])
        return None

    substituted = handlers.substitute(model, substitute_fn=constrain)
    trace = handlers.trace(handlers.seed(substituted, rng_key)).get_trace()
    log_prior = jnp.zeros(())
    theta = {}
    for name in sites.params:
        site = trace[name]
        theta[name] = site["value"]
        transform = biject_to(site["fn"].support)
        log_jac = transform.log_abs_det_jacobian(u[name], site["value"])
        log_prior = log_prior + site_log_prob(site) + jnp.sum(log_jac)
    return theta, trace[sites.observed]["value"], log_prior
