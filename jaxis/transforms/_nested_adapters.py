"""Adapters from nested samplers' results to :class:`~jaxis.NestedSamples`.

Adapters read the samplers' outputs by field name on the host (no sampler is imported):

- dynesty ``Results``: ``samples``, ``logl``, ``logvol``, ``logwt``, ``samples_n``
  (dynamic runs) or ``nlive``/``niter`` (static runs; final live points ``n = nlive..1``);
- jaxns ``NestedSamplerResults``: ``samples``, ``log_L_samples``, ``log_dp_mean``,
  ``num_live_points_per_sample``, first ``total_num_samples`` rows;
- blackjax ``NSInfo`` (``blackjax.ns.utils.finalise``): ``particles``, ``loglikelihood``,
  ``loglikelihood_birth``; sorted by likelihood, ``n_i = #{births < L_i} - #{deaths < L_i}``
  (Fowlie, Handley & Su 2021) and ``log X_i = -sum_{k<=i} 1/n_k``;
- UltraNest result dict: ``weighted_samples`` (``points``, ``logl``, normalised
  ``weights``) and ``logz`` to restore their scale.

Each adapter hands the arrays to :func:`jaxis.from_nested`, which checks and sorts them.

References: Speagle (2020), MNRAS 493, 3132 (dynesty); Albert (2020), arXiv:2012.15286
(jaxns); Buchner (2021), JOSS 6, 3001 (UltraNest); Fowlie, Handley, Su (2021), MNRAS 503,
1199 (live points with plateaus and batches).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import jax
import numpy as np

from ..weighted._nested_samples import NestedSamples
from ._nested import from_nested

__all__ = ["from_dynesty", "from_jaxns", "from_blackjax", "from_ultranest"]


def _field(results: Any, name: str, source: str) -> Any:
    """``results.name`` or ``results[name]``; a clear error naming the tool otherwise."""
    try:
        return getattr(results, name)
    except (AttributeError, KeyError):
        pass
    try:
        return results[name]
    except (KeyError, TypeError, IndexError):
        raise ValueError(
            f"{source} output has no field {name!r}; pass the sampler's results object "
            "itself (or call jaxis.from_nested with the arrays)."
        ) from None


def _has_field(results: Any, name: str) -> bool:
    try:
        _field(results, name, "")
    except ValueError:
        return False
    return True


def _columns(points: np.ndarray, names: Optional[Sequence[str]], default: str) -> dict:
    """``(N, d)`` points to ``{name: (N,)}`` when names are given, else ``{default: points}``."""
    points = np.asarray(points)
    if names is None:
        return {default: points}
    if points.ndim != 2 or points.shape[1] != len(names):
        raise ValueError(
            f"names has {len(names)} entries but the points have shape {points.shape}; "
            "give one name per column."
        )
    return {n: points[:, i] for i, n in enumerate(names)}


def from_dynesty(results: Any, *, names: Optional[Sequence[str]] = None) -> NestedSamples:
    """``NestedSamples`` from a dynesty ``Results`` (static or dynamic run)."""
    logl = np.asarray(_field(results, "logl", "dynesty"))
    if _has_field(results, "samples_n"):
        num_live = np.asarray(_field(results, "samples_n", "dynesty"), float)
    else:
        nlive = int(_field(results, "nlive", "dynesty"))
        niter = int(_field(results, "niter", "dynesty"))
        if logl.shape[0] == niter:
            num_live = np.full(niter, float(nlive))
        elif logl.shape[0] == niter + nlive:
            num_live = np.concatenate([np.full(niter, float(nlive)), np.arange(nlive, 0, -1.0)])
        else:
            raise ValueError(
                f"dynesty results have {logl.shape[0]} samples, neither niter={niter} nor "
                f"niter + nlive={niter + nlive}; pass samples_n or use jaxis.from_nested."
            )
    return from_nested(
        _columns(_field(results, "samples", "dynesty"), names, "theta"),
        logl,
        log_volume=np.asarray(_field(results, "logvol", "dynesty")),
        log_weights=np.asarray(_field(results, "logwt", "dynesty")),
        num_live=num_live,
    )


def from_jaxns(results: Any) -> NestedSamples:
    """``NestedSamples`` from a jaxns ``NestedSamplerResults`` (padding rows dropped)."""
    total = int(_field(results, "total_num_samples", "jaxns"))
    samples = jax.tree_util.tree_map(
        lambda v: np.asarray(v)[:total], dict(_field(results, "samples", "jaxns"))
    )
    return from_nested(
        samples,
        np.asarray(_field(results, "log_L_samples", "jaxns"))[:total],
        log_weights=np.asarray(_field(results, "log_dp_mean", "jaxns"))[:total],
        num_live=np.asarray(_field(results, "num_live_points_per_sample", "jaxns"))[:total],
        weights_include_likelihood=True,
    )


def from_blackjax(info: Any, *, name: str = "theta") -> NestedSamples:
    """``NestedSamples`` from blackjax nested sampling (dead points plus final live ones)."""
    logl = np.asarray(_field(info, "loglikelihood", "blackjax"))
    birth = np.asarray(_field(info, "loglikelihood_birth", "blackjax"))
    order = np.argsort(logl, kind="stable")
    logl = logl[order]
    num_live = np.searchsorted(np.sort(birth), logl, side="left") - np.searchsorted(
        logl, logl, side="left"
    )
    num_live = np.maximum(num_live, 1).astype(float)
    particles = _field(info, "particles", "blackjax")
    samples = particles if isinstance(particles, dict) else {name: particles}
    samples = jax.tree_util.tree_map(lambda v: np.asarray(v)[order], dict(samples))
    return from_nested(
        samples, logl, log_volume=-np.cumsum(1.0 / num_live), num_live=num_live
    )


def from_ultranest(result: Any, *, names: Optional[Sequence[str]] = None) -> NestedSamples:
    """``NestedSamples`` from an UltraNest result dict (``sampler.run()``'s return)."""
    weighted = _field(result, "weighted_samples", "UltraNest")
    weights = np.asarray(_field(weighted, "weights", "UltraNest weighted_samples"), float)
    logz = float(_field(result, "logz", "UltraNest"))
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights) + logz
    return from_nested(
        _columns(_field(weighted, "points", "UltraNest weighted_samples"), names, "theta"),
        np.asarray(_field(weighted, "logl", "UltraNest weighted_samples")),
        log_weights=log_weights,
        weights_include_likelihood=True,
    )
