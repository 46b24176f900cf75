"""Posterior predictive and predictive log-likelihood from exact MP posterior draws.

Latent sites take their posterior draws; where the new arguments extend a plate (e.g. new
repeats, or new groups), the new plate elements are drawn from the prior given the sampled
parents, and the drawn elements keep their values. The predictive log-likelihood is

    log p(y_test | y_train) ≈ logmeanexp_n [log p(y_all | z_n) - log p(y_train | z_n)],
    z_n ~ P_MP(z | y_train)

(Bowyer, Heap, Aitchison 2023, section 4).
"""
from __future__ import annotations

import inspect
import math
import warnings
from typing import Any, Callable, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp
from numpyro import handlers
from numpyro.primitives import Messenger

from .._mpis import MPTrace
from ..trace._score import site_log_prob
from ..weighted._checks import check_count, concrete
from ._sample import sample_posterior

Args = Union[tuple, dict]


class _Extend(Messenger):
    """Substitute posterior values; draw new plate elements from the prior given parents."""

    def __init__(self, fn, values: dict, rng_key):
        self.values = values
        self.rng_key = rng_key
        self.count = 0
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] != "sample" or msg["is_observed"] or msg["name"] not in self.values:
            return
        old = self.values[msg["name"]]
        shape = tuple(msg["fn"].shape())
        if tuple(old.shape) == shape:
            msg["value"] = old
            return
        if len(old.shape) != len(shape):
            raise ValueError(
                f"Site {msg['name']!r} had shape {old.shape} when fitted but {shape} now; only "
                "plate sizes may change."
            )
        self.count += 1
        new = msg["fn"].sample(jax.random.fold_in(self.rng_key, self.count))
        old = old[tuple(slice(0, s) for s in shape)]
        msg["value"] = jax.lax.dynamic_update_slice(new, old.astype(new.dtype), (0,) * len(shape))


def _split(args: Args) -> tuple[tuple, dict]:
    return ((), dict(args)) if isinstance(args, dict) else (tuple(args), {})


def predictive(*args: Any, **kwargs: Any) -> Callable[..., dict]:
    """Posterior predictive, numpyro-style: ``predictive(mpt, model, num_samples)(rng_key,
    *args, **kwargs) -> site -> (num_samples, ...)``.

    Latents take exact MP posterior draws (:func:`sample_posterior`); where the new
    arguments extend a plate, the new plate elements are drawn from the prior given the
    sampled parents; observed sites are drawn from the likelihood. Every sample and
    deterministic site is returned. As numpyro's ``Predictive(model, ...)(rng_key, *args)``,
    the key is passed at call time, so one predictive serves many keys and arguments.

    The old form ``predictive(rng_key, mpt, model, num_samples)(*args)`` (key bound when
    building) still works and gives the same draws for the same key, with a
    ``DeprecationWarning``.

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> mpt = jaxis.mpis(model, K=10)(jax.random.PRNGKey(0), y)
        >>> y_more = jnp.zeros((3, 4))      # one more group, one more observation each
        >>> pred = jaxis.predictive(mpt, model, num_samples=100)(jax.random.PRNGKey(1), y_more)
        >>> pred["theta"].shape, pred["obs"].shape
        ((100, 3, 1), (100, 3, 4))
    """
    old_form = "rng_key" in kwargs or (  # predictive(rng_key, mpt, model, num_samples)
        len(args) >= 1 and not isinstance(args[0], MPTrace)
        and (isinstance(args[1], MPTrace) if len(args) >= 2 else "mpt" in kwargs))
    if old_form:
        bound = inspect.signature(_old_predictive).bind(*args, **kwargs)
        warnings.warn(
            "predictive(rng_key, mpt, model, num_samples)(*args) is deprecated: pass the key "
            "at call time, predictive(mpt, model, num_samples)(rng_key, *args), as numpyro's "
            "Predictive.", DeprecationWarning, stacklevel=2)
        return _old_predictive(*bound.args, **bound.kwargs)
    return _predictive(*args, **kwargs)


def _old_predictive(rng_key: jax.Array, mpt: MPTrace, model: Callable, num_samples: int):
    run = _predictive(mpt, model, num_samples)
    return lambda *args, **kwargs: run(rng_key, *args, **kwargs)


def _predictive(mpt: MPTrace, model: Callable, num_samples: int) -> Callable[..., dict]:
    if not isinstance(mpt, MPTrace):
        raise TypeError(
            f"predictive: mpt must be an MPTrace (from jaxis.mpis(...)(key, *args)), got "
            f"{type(mpt).__name__}; call predictive(mpt, model, num_samples)(rng_key, *args)."
        )
    check_count(num_samples, "num_samples")

    def run(rng_key: jax.Array, *args, **kwargs) -> dict:
        _check_key(rng_key)
        draw_key, run_key = jax.random.split(rng_key)
        draws = sample_posterior(draw_key, mpt, num_samples)

        def one(key, d):
            k1, k2 = jax.random.split(key)
            fn = handlers.seed(_Extend(model, d, k1), k2)
            tr = handlers.trace(fn).get_trace(*args, **kwargs)
            return {n: s["value"] for n, s in tr.items()
                    if s["type"] in ("sample", "deterministic")}

        return jax.vmap(one)(jax.random.split(run_key, num_samples), draws)

    return run


def _check_key(rng_key) -> None:
    """``TypeError`` unless ``rng_key`` looks like a JAX PRNG key (typed, or raw uint32)."""
    dtype = getattr(rng_key, "dtype", None)
    typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
    raw = dtype == jnp.uint32 and jnp.ndim(rng_key) == 1
    if not (typed or raw):
        raise TypeError(
            "predictive(mpt, model, num_samples)(rng_key, *args): the first argument of the "
            f"call must be a PRNG key (jax.random.PRNGKey(0) or jax.random.key(0)), got "
            f"{type(rng_key).__name__} of dtype {dtype}; pass the key before the model's "
            "arguments."
        )


def _observed_log_lik(model, values, key, args: Args) -> jax.Array:
    a, kw = _split(args)
    k1, k2 = jax.random.split(key)
    tr = handlers.trace(handlers.seed(_Extend(model, values, k1), k2)).get_trace(*a, **kw)
    return sum(jnp.sum(site_log_prob(s)) for s in tr.values()
               if s["type"] == "sample" and s["is_observed"])


def _observed_shapes(model: Callable, args: Args) -> dict:
    """Shapes of the observed sites of ``model(*args)``, traced abstractly (no allocation)."""
    a, kw = _split(args)

    def observed():
        tr = handlers.trace(handlers.seed(model, 0)).get_trace(*a, **kw)
        return {n: s["value"] for n, s in tr.items() if s["type"] == "sample" and s["is_observed"]}

    return {n: v.shape for n, v in jax.eval_shape(observed).items()}


def _check_train_within_all(model: Callable, train_args: Args, all_args: Args) -> None:
    """``ValueError`` unless every observed site of the training data is the leading
    sub-plate of the same site of the full data: no larger along any dim, and (when the
    data are concrete) equal to the full data's values there."""
    train, full = _observed_shapes(model, train_args), _observed_shapes(model, all_args)
    for name, shape in train.items():
        other = full.get(name)
        if other is None or len(other) != len(shape) or any(t > f for t, f in zip(shape, other)):
            raise ValueError(
                f"train_args / all_args: observed site {name!r} has shape {shape} in the "
                f"training data but {other} in all the data; all_args must hold the training "
                "data plus the held-out data (every plate at least as large). Were the two "
                "arguments swapped?"
            )
    if not concrete(*jax.tree_util.tree_leaves((train_args, all_args))):
        return  # under an outer jit the values are abstract; the shapes were checked
    train, full = _observed_values(model, train_args), _observed_values(model, all_args)
    for name, value in train.items():
        lead = full[name][tuple(slice(0, n) for n in value.shape)]
        if not np.array_equal(lead, value, equal_nan=lead.dtype.kind in "fc"):
            raise ValueError(
                f"train_args / all_args: observed site {name!r} of the training data differs "
                f"from the leading {value.shape} block of the same site in all the data. "
                "all_args must hold the training data first (same values), then the "
                "held-out data."
            )


def _observed_values(model: Callable, args: Args) -> dict:
    """Observed values of ``model(*args)`` (one concrete run, latents from the prior)."""
    a, kw = _split(args)
    tr = handlers.trace(handlers.seed(model, 0)).get_trace(*a, **kw)
    return {n: np.asarray(s["value"]) for n, s in tr.items()
            if s["type"] == "sample" and s["is_observed"]}


def predictive_log_likelihood_from_draws(
    rng_key: jax.Array, draws: dict, model: Callable, train_args: Args, all_args: Args
) -> jax.Array:
    """``logmeanexp_n [log p(y_all | z_n) - log p(y_train | z_n)]`` over given draws.

    ``draws``: site -> (N, ...) posterior draws from any sampler (MP IS, or global IS
    weights resampled with ``WeightedSamples.resample``); sites the model does not sample
    are ignored. New plate elements of ``all_args`` are drawn from the prior given z_n.

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> mpt = jaxis.mpis(model, K=10)(jax.random.PRNGKey(0), y)   # fitted on y
        >>> draws = jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, num_samples=1000)
        >>> y_all = jnp.concatenate([y, jnp.array([[0.2], [1.0]])], axis=1)  # 4th column
        >>> pll = predictive_log_likelihood_from_draws(
        ...     jax.random.PRNGKey(2), draws, model, (y,), (y_all,))
        >>> pll.shape, bool(jnp.isfinite(pll))       # log p(4th column | y), estimated
        ((), True)
    """
    leaves = jax.tree_util.tree_leaves(draws)
    if not leaves or leaves[0].shape[0] == 0:
        raise ValueError("draws is empty: pass at least one posterior draw per site.")
    _check_train_within_all(model, train_args, all_args)
    num_samples = leaves[0].shape[0]

    def one(key, d):
        k1, k2 = jax.random.split(key)
        return (_observed_log_lik(model, d, k1, all_args)
                - _observed_log_lik(model, d, k2, train_args))

    vals = jax.vmap(one)(jax.random.split(rng_key, num_samples), draws)
    return logsumexp(vals) - math.log(num_samples)


def predictive_log_likelihood(
    rng_key: jax.Array,
    mpt: MPTrace,
    model: Callable,
    train_args: Args,
    all_args: Args,
    num_samples: int = 100,
) -> jax.Array:
    """``logmeanexp_n [log p(y_all | z_n) - log p(y_train | z_n)]`` over posterior draws.

    ``train_args`` / ``all_args``: the model's arguments (a tuple, or a dict of keyword
    arguments) for the training data and for training + held-out data; every observed
    site of the training data must be a sub-plate of the full data's (``ValueError``).
    """
    check_count(num_samples, "num_samples")
    _check_train_within_all(model, train_args, all_args)
    draw_key, run_key = jax.random.split(rng_key)
    draws = sample_posterior(draw_key, mpt, num_samples)
    return predictive_log_likelihood_from_draws(run_key, draws, model, train_args, all_args)
