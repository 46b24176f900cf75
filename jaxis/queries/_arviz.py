"""Convert MP IS (or weighted) posterior draws to an arviz ``InferenceData``.

arviz is imported lazily. Groups: ``posterior`` (one chain of draws), ``sample_stats``
(evidence and importance ESS), and, when the model is given, ``log_likelihood`` (pointwise,
from numpyro's ``log_likelihood``) and ``observed_data``.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Union

import jax
import numpy as np
from numpyro import handlers
from numpyro.infer.util import log_likelihood as numpyro_log_likelihood

from .._mpis import MPTrace
from ..weighted._weighted_samples import WeightedSamples
from ._joint import ess, joint_ess
from ._moments import log_evidence
from ._sample import sample_posterior


def _dims(mpt: MPTrace, site: str, ndim: int) -> list[str]:
    graph = mpt.graph
    specs = {l.name: l for l in graph.latents + graph.deterministics}
    spec = specs.get(site)
    if spec is None:
        return [f"{site}_dim_{i}" for i in range(ndim)]
    by_dim = {graph.plate(p).dim: p for p in spec.plates}
    batch = len(spec.batch_shape) if spec in graph.latents else ndim
    names = []
    for i in range(ndim):
        dim = i - batch
        if i < batch and dim in by_dim and spec.batch_shape[i] == graph.plate(by_dim[dim]).size:
            names.append(by_dim[dim])
        else:
            names.append(f"{site}_dim_{i}")
    return names


def _site_dims(name: str, site: dict, shape: tuple, event_dim: int) -> list[str]:
    """Dim names of a numpyro trace site's value of ``shape``: its plates where the plate's
    dim and size match, ``{name}_dim_{i}`` elsewhere."""
    frames = {f.dim: f for f in site["cond_indep_stack"]}
    batch = len(shape) - event_dim
    names = []
    for i, size in enumerate(shape):
        frame = frames.get(i - batch) if i < batch else None
        names.append(frame.name if frame is not None and frame.size == size
                     else f"{name}_dim_{i}")
    return names


def _draws(result, draws, num_samples, rng_key) -> dict:
    """The posterior draws to export: given, or drawn here (see :func:`to_arviz`)."""
    if rng_key is None and num_samples is not None:
        raise ValueError(
            f"to_arviz: num_samples={num_samples} needs rng_key= to draw with (e.g. "
            "rng_key=jax.random.PRNGKey(0))."
        )
    if isinstance(result, WeightedSamples):
        if draws is not None:
            raise ValueError(
                "to_arviz: draws= is for an MPTrace; the draws of a WeightedSamples are its "
                "samples (pass rng_key= and num_samples= to resample them by their weights)."
            )
        if rng_key is not None:
            count = result.num_samples if num_samples is None else num_samples
            return result.resample(rng_key, count).samples
        lw = np.asarray(result.log_weights)
        if lw.size and not np.all(lw == lw[0]):
            raise ValueError(
                "to_arviz: the WeightedSamples have unequal weights, but arviz treats every "
                "draw as an equally weighted posterior draw (az.loo, az.summary would be "
                "wrong). Pass rng_key= (and num_samples=) to resample them by their weights."
            )
        return result.samples
    if draws is not None:
        if rng_key is not None:
            raise ValueError(
                "to_arviz: pass either draws= or rng_key= and num_samples= (to draw them "
                "here), not both."
            )
        return draws
    if rng_key is None:
        raise ValueError(
            "to_arviz: no draws to convert; pass draws=jaxis.sample_posterior(key, mpt, n), "
            "or rng_key= and num_samples= to draw them here."
        )
    if num_samples is None:
        raise ValueError("to_arviz: rng_key= needs num_samples= (how many draws to make).")
    return sample_posterior(rng_key, result, num_samples)


def _model_trace(model: Callable, draws: dict, args: tuple, kwargs: dict) -> dict:
    """The model's trace at the first draw; ``ValueError`` when a latent has no draws or
    an observed site has some."""
    first = jax.tree_util.tree_map(lambda v: v[0], draws)
    tr = handlers.trace(handlers.seed(handlers.substitute(model, first), 0)).get_trace(
        *args, **kwargs)
    latents = {n for n, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}
    observed = {n for n, s in tr.items() if s["type"] == "sample" and s["is_observed"]}
    missing = sorted(latents - set(draws))
    if missing:
        raise ValueError(
            f"to_arviz: the model samples latent site(s) {missing} that have no draws "
            f"(draws hold {sorted(draws)}); the log likelihood needs a value of every latent. "
            "Pass the model the draws came from, with the same arguments."
        )
    clash = sorted(observed & set(draws))
    if clash:
        raise ValueError(
            f"to_arviz: draws hold observed site(s) {clash} of the model; pass posterior "
            "draws of the latents (jaxis.sample_posterior), not predictive draws."
        )
    return tr


def to_arviz(
    result: Union[MPTrace, WeightedSamples],
    draws: Optional[Mapping[str, Any]] = None,
    *,
    num_samples: Optional[int] = None,
    rng_key: Optional[jax.Array] = None,
    model: Optional[Callable] = None,
    args: tuple = (),
    kwargs: Optional[dict] = None,
    log_likelihood: Optional[Mapping[str, Any]] = None,
):
    """``arviz.InferenceData`` of posterior draws: one chain, dims named from the plates.

    Draws:
        - ``MPTrace``: ``draws`` (``site -> (N, ...)``, from :func:`jaxis.sample_posterior`),
          or ``rng_key`` and ``num_samples`` to draw them here with ``sample_posterior``.
        - ``WeightedSamples``: arviz treats every draw as an equally weighted posterior draw,
          so with ``rng_key`` the samples are resampled by their weights (``num_samples``
          draws, default ``N``; :meth:`WeightedSamples.resample`); without it the samples
          are exported as they are, which is allowed only when their weights are all equal
          (e.g. ``WeightedSamples.from_posterior(mcmc.get_samples())``).

    Groups:
        - ``posterior``: the draws, shape ``(1, N, *site shape)``.
        - ``sample_stats``: ``log_evidence`` (:func:`jaxis.log_evidence` of ``result``) and
          ``importance_ess`` (:func:`jaxis.joint_ess`: the MP ESS over all index
          combinations, or the Kish ESS of the weights), the same value at every draw; for
          an ``MPTrace`` also ``importance_ess_<site>``, the per-site ESS in ``[1, K]``
          (:func:`jaxis.ess`) per plate element.
        - ``log_likelihood`` and ``observed_data`` when ``model`` (with its ``args`` and
          ``kwargs``, those ``result`` was fitted on) is given: the pointwise
          ``log p(y_i | z_n)`` of every observed site at every draw, from numpyro's
          ``numpyro.infer.util.log_likelihood`` (so ``az.loo`` and ``az.waic`` work), and
          the observed values. Or pass a precomputed ``log_likelihood``
          (``site -> (N, ...)``) instead of ``model``.

    **Diagnostics.** MP IS draws are independent draws from the MP posterior, which puts
    mass on only K samples per latent (per plate element): the N draws hold at most K
    distinct values per site. arviz's ``ess`` and ``r_hat`` are MCMC diagnostics and do
    not see this (``az.ess`` can report hundreds for draws holding a few dozen distinct
    values); read ``sample_stats.importance_ess*`` instead. With one chain ``r_hat`` is
    NaN (use ``az.summary(idata, kind="stats")``), and ``az.loo`` uses a relative
    efficiency of 1. Its Pareto k-hat is fitted to draws with few distinct values when K
    is small, and is then noisy: raise K before reading it.

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> mpt = jaxis.mpis(model, K=10)(jax.random.PRNGKey(0), y)
        >>> draws = jaxis.sample_posterior(jax.random.PRNGKey(1), mpt, num_samples=1000)
        >>> idata = jaxis.to_arviz(mpt, draws)
        >>> idata.posterior["theta"].shape                    # (chain, draw, groups, 1)
        (1, 1000, 2, 1)
        >>> sorted(idata.sample_stats.data_vars)
        ['importance_ess', 'importance_ess_mu', 'importance_ess_theta', 'log_evidence']

    With ``model=model, args=(y,)`` the ``log_likelihood`` group is added too, for
    ``az.loo(idata)``; ``az.summary(idata, kind="stats")`` summarises the draws.
    """
    if not isinstance(result, (MPTrace, WeightedSamples)):
        raise TypeError(
            f"to_arviz: result must be an MPTrace (jaxis.mpis(...)(key, *args)) or a "
            f"WeightedSamples, got {type(result).__name__}."
        )
    kwargs = {} if kwargs is None else dict(kwargs)
    if model is None and (args or kwargs):
        raise ValueError(
            "to_arviz: args= / kwargs= are the model's arguments, for the log_likelihood and "
            "observed_data groups; pass model= too."
        )
    if model is not None and log_likelihood is not None:
        raise ValueError(
            "to_arviz: pass either model= (the log likelihood is computed here) or a "
            "precomputed log_likelihood=, not both."
        )
    if not isinstance(args, tuple):
        raise TypeError(f"to_arviz: args must be a tuple of the model's arguments, got "
                        f"{type(args).__name__} (write args=(y,) for one argument).")
    draws = _draws(result, draws, num_samples, rng_key)
    if not draws:
        raise ValueError(
            "draws is empty: the model has no latent sites, so there is no posterior to "
            "convert (pass sample_posterior(key, mpt, n) of a model with latents)."
        )
    import arviz as az

    draws = {k: np.asarray(v) for k, v in draws.items()}
    n = next(iter(draws.values())).shape[0]
    groups: dict = {"posterior": {k: v[None] for k, v in draws.items()}}
    dims: dict = {}
    if isinstance(result, MPTrace):
        dims.update({k: _dims(result, k, v.ndim - 1) for k, v in draws.items()})

    stats = {"log_evidence": float(log_evidence(result)),
             "importance_ess": float(joint_ess(result))}
    if isinstance(result, MPTrace) and result.graph.latents:
        for site, value in ess(result).items():
            value = np.asarray(value)
            stats[f"importance_ess_{site}"] = value
            dims[f"importance_ess_{site}"] = _dims(result, site, value.ndim)
    groups["sample_stats"] = {k: np.broadcast_to(np.asarray(v), (1, n) + np.shape(v))
                              for k, v in stats.items()}

    if model is not None:
        tr = _model_trace(model, draws, args, kwargs)
        if isinstance(result, WeightedSamples):  # no graph: dims from numpyro's plates
            dims.update({k: _site_dims(k, tr[k], v.shape[1:], tr[k]["fn"].event_dim)
                         for k, v in draws.items() if k in tr})
        obs = {k: s for k, s in tr.items() if s["type"] == "sample" and s["is_observed"]}
        loglik = numpyro_log_likelihood(model, draws, *args, parallel=True, **kwargs)
        groups["log_likelihood"] = {k: np.asarray(v)[None] for k, v in loglik.items()}
        groups["observed_data"] = {k: np.asarray(s["value"]) for k, s in obs.items()}
        # arviz takes one dims mapping for all groups: name the batch dims, which the log
        # likelihood and the observed value share; arviz names the value's event dims
        for k, s in obs.items():
            shape = np.shape(s["value"])
            batch = shape[:len(shape) - s["fn"].event_dim]
            dims[k] = _site_dims(k, s, batch, 0)
    elif log_likelihood is not None:
        groups["log_likelihood"] = {k: np.asarray(v)[None] for k, v in log_likelihood.items()}
    return az.from_dict(**groups, dims=dims)
