"""Mining gold: joint scores and joint likelihood ratios read off a numpyro model's trace.

For a simulator ``p(x, z | theta)`` with latents ``z``, the marginal likelihood
``p(x | theta)`` is intractable, but the *joint* quantities are not:

    t(x, z | theta)           = grad_theta log p(x, z | theta),
    r(x, z | theta0, theta1)  = p(x, z | theta0) / p(x, z | theta1),

with every latent ``z`` held at its traced value. They are unbiased for the marginal ones,

    E_{p(z | x, theta)}[t(x, z | theta)]            = grad_theta log p(x | theta),
    E_{p(z | x, theta1)}[r(x, z | theta0, theta1)]  = p(x | theta0) / p(x | theta1),

so regressing on them learns the intractable score and ratio (SALLY, ROLR, RASCAL,
SCANDAL). Holding ``z`` fixed matters: a latent that is re-drawn as ``theta + 2 eps``
with ``eps`` fixed (differentiating through the sampler) moves with ``theta`` and gives
another quantity. Here the latents are conditioned on their values, so nothing but the
densities depends on ``theta``. ``theta`` may be model arguments or sample sites (whose own
prior term is then left out).

References: Brehmer, Louppe, Pavez, Cranmer (2020), *Mining gold from implicit models to
improve likelihood-free inference*, PNAS 117(10); Brehmer, Cranmer, Louppe, Pavez (2018),
*Constraining effective field theories with machine learning*.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
from numpyro import handlers

Array = jax.Array


def _site_values(trace_or_values: Mapping) -> dict[str, Any]:
    """``{site: value}`` from a numpyro trace (site dicts) or from such a dict already."""
    return {k: (v["value"] if isinstance(v, Mapping) and "value" in v else v)
            for k, v in trace_or_values.items()
            if not (isinstance(v, Mapping) and v.get("type") != "sample")}


def joint_log_density(model: Callable, trace_or_values: Mapping, *args,
                      params: Sequence[str] = ("theta",), **kwargs) -> Array:
    """``log p(x, z | theta)``: every sample site at its value in ``trace_or_values``.

    A name in ``params`` is a model argument (its value is taken from ``trace_or_values``
    when present there, else from ``args``/``kwargs``) or a sample site, whose own log
    density is then left out. Every other latent site must have a value.
    """
    values = _site_values(trace_or_values)
    try:
        bound = inspect.signature(model).bind_partial(*args, **kwargs).arguments
        arg_names = set(inspect.signature(model).parameters)
    except (TypeError, ValueError):
        bound, arg_names = {}, set()
    call = dict(bound)
    for p in params:
        if p in arg_names and p in values:
            call[p] = values[p]
    trace = handlers.trace(handlers.seed(handlers.condition(model, values), 0)).get_trace(**call)
    sites = {n: s for n, s in trace.items() if s["type"] == "sample"}
    unknown = [p for p in params if p not in arg_names and p not in sites]
    if unknown:
        raise ValueError(
            f"params {unknown} are neither arguments of the model ({sorted(arg_names)}) nor "
            f"sample sites ({sorted(sites)})."
        )
    missing = [n for n, s in sites.items() if not s["is_observed"]]
    if missing:
        raise ValueError(
            f"trace_or_values has no value for the latent sites {missing}; the joint density "
            "holds every latent at its traced value, so pass them all."
        )
    total = 0.0
    for name, site in sites.items():
        if name in params:
            continue
        log_p = site["fn"].log_prob(site["value"])
        if site["scale"] is not None:
            log_p = site["scale"] * log_p
        total = total + jnp.sum(log_p)
    return total


def _as_params(theta: Any, params: Sequence[str]) -> dict[str, Any]:
    if isinstance(theta, Mapping):
        missing = [p for p in params if p not in theta]
        if missing:
            raise ValueError(f"theta lacks values for params {missing}.")
        return {p: theta[p] for p in params}
    if len(params) != 1:
        raise ValueError(f"theta must be a dict over params {list(params)}; got one value.")
    return {params[0]: theta}


def joint_score(model: Callable, trace_or_values: Mapping, *args,
                params: Sequence[str] = ("theta",), **kwargs) -> dict[str, Array]:
    """``t(x, z | theta) = grad_theta log p(x, z | theta)`` at the values in the trace.

    Returns a dict param -> gradient (the shape of that param). jit-, vmap- and
    grad-able in the values.

    Example:
        >>> import jax.numpy as jnp, numpyro, numpyro.distributions as dist
        >>> from jaxis.sbi import joint_score
        >>> def model(theta, x=None):
        ...     z = numpyro.sample("z", dist.Normal(theta, 2.0))
        ...     numpyro.sample("x", dist.Normal(z, 1.0), obs=x)
        >>> t = joint_score(model, {"z": 1.0, "x": 0.5, "theta": 0.2})  # (z - theta) / 4
        >>> float(t["theta"])
        0.2
    """
    values = _site_values(trace_or_values)
    bound = {} if all(p in values for p in params) else \
        inspect.signature(model).bind_partial(*args, **kwargs).arguments
    missing = [p for p in params if p not in values and p not in bound]
    if missing:
        raise ValueError(f"params {missing} have no value in trace_or_values nor in the "
                         "model's arguments.")
    theta = {p: jnp.asarray(values[p] if p in values else bound[p], jnp.result_type(float))
             for p in params}

    def log_p(th):
        return joint_log_density(model, {**values, **th}, *args, params=params, **kwargs)

    return jax.grad(log_p)(theta)


def joint_log_ratio(model: Callable, trace_or_values: Mapping, theta0: Any, theta1: Any,
                    *args, params: Sequence[str] = ("theta",), **kwargs) -> Array:
    """``log r(x, z | theta0, theta1) = log p(x, z | theta0) - log p(x, z | theta1)``.

    ``theta0``/``theta1`` are dicts over ``params`` (or one value when there is one param).
    """
    values = _site_values(trace_or_values)
    log_p = [joint_log_density(model, {**values, **_as_params(t, params)}, *args,
                               params=params, **kwargs) for t in (theta0, theta1)]
    return log_p[0] - log_p[1]
