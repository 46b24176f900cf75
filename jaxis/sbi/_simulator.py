"""A numpyro model as a simulator: its theta and x sites, prior-predictive draws, and
draws at given parameters in unconstrained space.

A model ``p(theta, z, x) = p(theta) p(z | theta) p(x | theta, z)`` is a simulator: run
``model(*args, **kwargs)`` with the data site ``x`` released (any ``obs`` value dropped)
and every random choice is drawn forward, ``theta ~ p(theta)``, ``x ~ p(x | theta)``.
:class:`SimulatorSpec` records the names and per-draw shapes of the parameter sites and
of the data site (read once with ``jax.eval_shape``: nothing is simulated), and flattens
site values (with any leading batch axes) into one vector per draw, the input format of
the networks in :mod:`jaxis.sbi`.

Defaults: ``x`` is the model's single observed site (``model(x_obs)``), or the site named
``"x"`` when none is observed (``model()`` for ``model(x=None)``); ``theta`` is every
other latent sample site.

ABC's population Monte Carlo moves the parameters in unconstrained space: site ``s`` with
support ``S`` takes ``theta_s = T_s(u_s)``, ``T_s = biject_to(S)`` (evaluated in the
trace, so a support that depends on other parameters is handled), and the prior density
of ``u`` is

    log pi_u(u) = sum_s [log pi_s(T_s(u_s) | parents) + log |det J_{T_s}(u_s)|].

Reference: Cranmer, Brehmer, Louppe (2020), *The frontier of simulation-based inference*,
PNAS; Phan, Pradhan, Jankowiak (2019), *Composable effects for flexible and accelerated
probabilistic programming in NumPyro* (effect handlers, ``biject_to``).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.primitives import Messenger

from ..weighted._checks import concrete

Array = jax.Array

__all__ = ["SimulatorSpec", "simulator_spec", "check_x_obs", "simulate", "prior_predictive",
           "simulate_at", "site_log_prob"]


class _Release(Messenger):
    """Drop the ``obs`` value of one site so that the site is drawn from its distribution."""

    def __init__(self, fn: Callable, site: str):
        self.site = site
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] == "sample" and msg["name"] == self.site:
            msg["value"], msg["is_observed"] = None, False


class SimulatorSpec(NamedTuple):
    """Names and per-draw shapes of the parameter sites and of the data site."""

    theta_sites: tuple[str, ...]
    theta_shapes: tuple[tuple[int, ...], ...]
    x_site: str
    x_shape: tuple[int, ...]

    @property
    def theta_dim(self) -> int:
        return sum(math.prod(s) for s in self.theta_shapes)

    @property
    def x_dim(self) -> int:
        return math.prod(self.x_shape)

    def flat_theta(self, theta: Any) -> Array:
        """``(..., theta_dim)`` from a dict site -> ``(..., *shape)`` (or one site's array)."""
        if not isinstance(theta, Mapping):
            if len(self.theta_sites) != 1:
                raise ValueError(
                    f"theta must be a dict with sites {list(self.theta_sites)}; got an array."
                )
            theta = {self.theta_sites[0]: theta}
        missing = [s for s in self.theta_sites if s not in theta]
        if missing:
            raise ValueError(f"theta lacks sites {missing}; expected {list(self.theta_sites)}.")
        parts = [_flat(jnp.asarray(theta[s]), shape, f"theta[{s!r}]")
                 for s, shape in zip(self.theta_sites, self.theta_shapes)]
        batch = {p.shape[:-1] for p in parts}
        if len(batch) != 1:
            raise ValueError(f"theta: the sites have different batch shapes {sorted(batch)}.")
        return jnp.concatenate(parts, axis=-1)

    def unflat_theta(self, flat: Array) -> dict[str, Array]:
        """The inverse of :meth:`flat_theta`: a dict site -> ``(..., *shape)``."""
        out, start = {}, 0
        for s, shape in zip(self.theta_sites, self.theta_shapes):
            size = math.prod(shape)
            out[s] = flat[..., start:start + size].reshape(flat.shape[:-1] + shape)
            start += size
        return out

    def flat_x(self, x: Array) -> Array:
        """``(..., x_dim)`` from data of shape ``(..., *x_shape)``."""
        return _flat(jnp.asarray(x), self.x_shape, "x")


def _flat(value: Array, shape: tuple[int, ...], name: str) -> Array:
    cut = value.ndim - len(shape)
    if cut < 0 or value.shape[cut:] != shape:
        raise ValueError(f"{name} must have trailing shape {shape}; got {value.shape}.")
    return value.reshape(value.shape[:cut] + (-1,)).astype(jnp.result_type(float))


def simulator_spec(
    model: Callable,
    args: tuple = (),
    kwargs: Optional[Mapping] = None,
    theta_sites: Optional[Sequence[str]] = None,
    x_site: Optional[str] = None,
) -> SimulatorSpec:
    """Infer (or check) the theta and x sites of ``model(*args, **kwargs)`` (see above)."""
    if not callable(model):
        raise ValueError(f"model must be a numpyro model (a callable), got {type(model).__name__}.")
    kwargs = dict(kwargs or {})
    observed: dict[str, bool] = {}

    def run(key):
        trace = handlers.trace(handlers.seed(model, key)).get_trace(*args, **kwargs)
        sites = {n: s for n, s in trace.items() if s["type"] == "sample"}
        observed.update({n: bool(s["is_observed"]) for n, s in sites.items()})
        return {n: s["value"] for n, s in sites.items()}

    shapes = jax.eval_shape(run, jax.random.PRNGKey(0))
    if x_site is None:
        obs = [n for n, o in observed.items() if o]
        if len(obs) != 1 and not (not obs and "x" in observed):
            raise ValueError(
                f"x_site: the model has observed sites {obs} and no unobserved site 'x'; name "
                "the data site with x_site= (one site)."
            )
        x_site = obs[0] if obs else "x"
    if x_site not in observed:
        raise ValueError(
            f"x_site {x_site!r} is not a sample site of the model; its sample sites: "
            f"{sorted(observed)}. Pass x_site=<the name of the data site>."
        )
    latent = [n for n, o in observed.items() if not o and n != x_site]
    theta_sites = tuple(latent if theta_sites is None else theta_sites)
    unknown = [n for n in theta_sites if n not in latent]
    if unknown or not theta_sites:
        raise ValueError(
            f"theta_sites {list(theta_sites)}: each must be a latent sample site; the latent "
            f"sites are {latent}."
        )
    return SimulatorSpec(theta_sites, tuple(tuple(shapes[n].shape) for n in theta_sites),
                         x_site, tuple(shapes[x_site].shape))


def check_x_obs(x_obs: Any, spec: SimulatorSpec) -> Array:
    """``x_obs`` as a finite array of the data site's shape; ``ValueError`` otherwise
    (the finiteness check only outside jit)."""
    x_obs = jnp.asarray(x_obs)
    if x_obs.shape != spec.x_shape:
        raise ValueError(
            f"x_obs has shape {x_obs.shape}, but the model's site {spec.x_site!r} "
            f"simulates shape {spec.x_shape}; pass one observation of that shape."
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


def _trace(rng_key: Array, model: Callable, spec: SimulatorSpec, args: tuple,
           kwargs: Optional[Mapping]) -> dict:
    released = _Release(model, spec.x_site)
    return handlers.trace(handlers.seed(released, rng_key)).get_trace(*args, **(kwargs or {}))


def prior_predictive(rng_key: Array, model: Callable, spec: SimulatorSpec, args: tuple = (),
                     kwargs: Optional[Mapping] = None) -> tuple[dict, Array, dict]:
    """One prior-predictive draw: ``(theta, x, u)`` with ``u_s = T_s^{-1}(theta_s)``."""
    trace = _trace(rng_key, model, spec, args, kwargs)
    theta = {n: trace[n]["value"] for n in spec.theta_sites}
    u = {n: biject_to(trace[n]["fn"].support).inv(theta[n]) for n in spec.theta_sites}
    return theta, trace[spec.x_site]["value"], u


def simulate(rng_key: Array, model: Callable, spec: SimulatorSpec, num_simulations: int,
             args: tuple = (), kwargs: Optional[Mapping] = None) -> tuple[dict, Array]:
    """``num_simulations`` prior-predictive draws (vmapped): ``(theta (N, ...), x (N, ...))``."""

    def one(key):
        trace = _trace(key, model, spec, args, kwargs)
        return {n: trace[n]["value"] for n in spec.theta_sites}, trace[spec.x_site]["value"]

    return jax.vmap(one)(jax.random.split(rng_key, int(num_simulations)))


def simulate_at(rng_key: Array, model: Callable, spec: SimulatorSpec, u: dict,
                args: tuple = (), kwargs: Optional[Mapping] = None) -> tuple[dict, Array, Array]:
    """Simulate at ``theta = T(u)``: ``(theta, x, log pi_u(u))`` (see the module docstring)."""

    def constrain(msg):
        if msg["name"] in u:
            return biject_to(msg["fn"].support)(u[msg["name"]])
        return None

    substituted = handlers.substitute(model, substitute_fn=constrain)
    trace = _trace(rng_key, substituted, spec, args, kwargs)
    log_prior = jnp.zeros(())
    theta = {}
    for name in spec.theta_sites:
        site = trace[name]
        theta[name] = site["value"]
        log_jac = biject_to(site["fn"].support).log_abs_det_jacobian(u[name], site["value"])
        log_prior = log_prior + site_log_prob(site) + jnp.sum(log_jac)
    return theta, trace[spec.x_site]["value"], log_prior
