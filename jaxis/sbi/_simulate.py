"""A numpyro model as a simulator: which sites are theta and x, prior-predictive draws.

A model ``p(theta, z, x) = p(theta) p(z | theta) p(x | theta, z)`` is a simulator: run it
with the observed site ``x`` released (its ``obs`` value dropped) and every random choice is
drawn forward, ``theta ~ p(theta)``, ``x ~ p(x | theta)``. :class:`SimulatorSpec` records
the names and per-draw shapes of the parameter sites ``theta`` and of the data site ``x``,
and flattens a dict of site values (with any leading batch axes) into one vector per draw,
the input format of the networks in :mod:`jaxis.sbi`.

Defaults: ``x`` is the model's single observed site, ``theta`` every other latent sample
site. A model written ``x = sample("x", d, obs=x_obs)`` may also be called with
``x_obs=None`` and ``x_site="x"`` named.

Reference: Cranmer, Brehmer, Louppe (2020), *The frontier of simulation-based inference*.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
from numpyro import handlers
from numpyro.primitives import Messenger

Array = jax.Array


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
    """Infer (or check) the theta and x sites from one trace of ``model(*args, **kwargs)``."""
    trace = handlers.trace(handlers.seed(model, 0)).get_trace(*args, **(kwargs or {}))
    samples = {n: s for n, s in trace.items() if s["type"] == "sample"}
    observed = [n for n, s in samples.items() if s["is_observed"]]
    if x_site is None:
        if len(observed) != 1:
            raise ValueError(
                f"x_site: the model has observed sites {observed}; name the data site "
                "with x_site= (one site)."
            )
        x_site = observed[0]
    if x_site not in samples:
        raise ValueError(f"x_site {x_site!r} is not a sample site; sites: {sorted(samples)}.")
    latent = [n for n, s in samples.items() if not s["is_observed"] and n != x_site]
    if theta_sites is None:
        theta_sites = latent
    theta_sites = tuple(theta_sites)
    unknown = [n for n in theta_sites if n not in latent]
    if unknown or not theta_sites:
        raise ValueError(
            f"theta_sites {list(theta_sites)}: each must be a latent sample site; the latent "
            f"sites are {latent}."
        )
    shapes = tuple(tuple(jnp.shape(samples[n]["value"])) for n in theta_sites)
    return SimulatorSpec(theta_sites, shapes, x_site, tuple(jnp.shape(samples[x_site]["value"])))


def simulate(
    rng_key: Array,
    model: Callable,
    spec: SimulatorSpec,
    num_simulations: int,
    args: tuple = (),
    kwargs: Optional[Mapping] = None,
) -> tuple[dict[str, Array], Array]:
    """``num_simulations`` prior-predictive draws: ``(theta dict (N, ...), x (N, *x_shape))``."""
    kwargs = dict(kwargs or {})
    released = _Release(model, spec.x_site)

    def one(key):
        tr = handlers.trace(handlers.seed(released, key)).get_trace(*args, **kwargs)
        return {n: tr[n]["value"] for n in spec.theta_sites}, tr[spec.x_site]["value"]

    return jax.vmap(one)(jax.random.split(rng_key, int(num_simulations)))
