"""Score a model's sites on given positional samples: ``log p`` of every sample site.

The model runs with every latent's value substituted (K samples on the latent's own
positional axis, or any other number: a chunk of them), so its arithmetic broadcasts the
sample axes into each site's log density exactly as in the MP run that drew them
(:mod:`jaxis.trace._parallel_trace`). Each site's log density is
``scale * mask * fn.log_prob(value)`` (:func:`site_log_prob`); with ``dedup_rows`` an
observed site is summed over its latent-free plates where it is scored: from sufficient
statistics along plates where its parameters do not vary (:func:`presummed_log_prob`),
row by row under ``jax.checkpoint`` otherwise (:func:`plate_summed_log_prob`). Used by
the memory-bounded contraction (:mod:`jaxis.contract._chunked`), which re-scores the
heavy factors one chunk of a global latent's samples at a time.

Reference: Bowyer, Heap, Aitchison 2023, eqs. 18-23 (the MP factors).
"""
from __future__ import annotations

import math
from typing import Callable, Collection, NamedTuple, Optional

import jax
import jax.numpy as jnp
from numpyro import handlers

from ._blocks import BlockSum, block_reduce, sum_blocks
from ._kernels import log_density
from ._row_stats import repeated_dims, summed_log_density
from ._structure import ModelStructure


def site_log_prob(site: dict) -> jax.Array:
    """``scale * mask * fn.log_prob(value)`` for a traced sample site (numpyro semantics).

    A NaN observed value gives a NaN log density (numpyro's ``log_prob`` would call it
    out of support, ``-inf``: impossible data, which it is not). For a block site
    (:class:`BlockSum`) NaN, mask and scale act per element, before the block sum, so
    handlers applied outside the model mean what they mean in numpyro.
    """
    fn = site["fn"]
    base = fn.base if isinstance(fn, BlockSum) else fn
    lp = log_density(base, site["value"])
    value = jnp.asarray(site["value"])
    if site["is_observed"] and jnp.issubdtype(value.dtype, jnp.inexact):
        event = tuple(range(value.ndim - len(base.event_shape), value.ndim))
        lp = lp + jnp.where(jnp.any(jnp.isnan(value), axis=event), jnp.nan, 0.0)  # no select
    if site.get("mask") is not None:
        lp = jnp.where(site["mask"], lp, 0.0)
    if site.get("scale") is not None:
        lp = site["scale"] * lp
    if isinstance(fn, BlockSum):
        lp = block_reduce(jnp.sum, lp, fn.dims)
    return lp


class Presummed(NamedTuple):
    """How an observed site's ``log p`` was summed over latent-free plates at scoring."""
    plates: tuple[str, ...]        # the plates summed (size-1 dims kept)
    batch_shape: tuple[int, ...]   # the unsummed batch shape (checked against the graph)
    from_stats: bool               # from sufficient statistics (dedup_rows), not row by row


def presummed_log_prob(site: dict, free_plates: dict[str, int]):
    """``(log p summed over the repeated plates, Presummed)`` or ``None``.

    ``free_plates``: the site's plates that hold no latent (name -> dim). Applies to an
    observed site without mask, scale or block dims whose distribution has a
    sufficient-statistics form (:func:`~jaxis.trace._row_stats.repeated_dims`).
    """
    fn = site["fn"]
    if (not site["is_observed"] or isinstance(fn, BlockSum) or site.get("mask") is not None
            or site.get("scale") is not None or not free_plates):
        return None
    dims = repeated_dims(fn, tuple(free_plates.values()))
    lp = summed_log_density(fn, site["value"], dims) if dims else None
    if lp is None:
        return None
    return lp, Presummed(tuple(n for n, d in free_plates.items() if d in dims),
                         tuple(fn.batch_shape), True)


def plate_summed_log_prob(site: dict, free_plates: dict[str, int]) -> tuple:
    """``(site_log_prob summed over free_plates, Presummed)``, row by row.

    The sum runs where the density is evaluated, under ``jax.checkpoint``: a reverse pass
    keeps the distribution's parameters and recomputes the density, instead of keeping the
    elementwise chain's intermediates at full size (the chimpanzee observations: K^5 x 420
    elements; MP VI's step at K=10 took 433 ms with the sum in the contraction, 378 ms
    with it here, against 153 ms for ``log_evidence``).
    """
    shape = []  # the unsummed shape, read while the checkpointed function is traced (once)

    def summed():
        lp = site_log_prob(site)
        shape.append(tuple(lp.shape))
        return jnp.sum(lp, axis=tuple(free_plates.values()), keepdims=True)

    lp = jax.checkpoint(summed)()
    return lp, Presummed(tuple(free_plates), shape[0], False)


def score_sites(trace: dict, structure: ModelStructure, dedup_rows: bool,
                on_site: Optional[Callable[[str], None]] = None) -> tuple:
    """``(latent values, log_p, deterministic values, presummed)`` of a model trace.

    ``on_site(name)`` is called before each site is scored (for error messages).
    """
    values, log_p, det, presummed = {}, {}, {}, {}
    latent_plates = {p for n in structure.latents for p in structure.site(n).plates}
    for name, site in trace.items():
        if on_site is not None:
            on_site(name)
        if site["type"] == "deterministic":
            det[name] = site["value"]
        elif site["type"] == "sample":
            free = {f.name: f.dim for f in site["cond_indep_stack"]
                    if f.name not in latent_plates}
            summed = None
            if dedup_rows and free and not isinstance(site["fn"], BlockSum):
                summed = presummed_log_prob(site, free) or plate_summed_log_prob(site, free)
            if summed is None:
                log_p[name] = site_log_prob(site)
            else:
                log_p[name], presummed[name] = summed
            if not site["is_observed"]:
                values[name] = site["value"]
    return values, log_p, det, presummed


def mp_log_factors(structure: ModelStructure, log_p: dict, log_q: dict, K: int,
                   names: Optional[Collection[str]] = None) -> dict:
    """``log p - log q_mix - log K`` per sampled latent, ``log p`` per enumerated latent
    (uniform proposal on its S values: ``log q + log S = 0``) and per observed site; for
    the sites in ``names`` only (default: all)."""
    factors = {}
    for site in structure.sites:
        if names is not None and site.name not in names:
            continue
        if site.kind == "latent" and not site.enum_size:
            factors[site.name] = log_p[site.name] - log_q[site.name] - math.log(K)
        elif site.kind in ("latent", "observed"):
            factors[site.name] = log_p[site.name]
    return factors


def score_model(model: Callable, structure: ModelStructure, values: dict, args: tuple,
                kwargs: dict, dedup_rows: bool) -> tuple[dict, dict]:
    """``(log_p, presummed)`` of every sample site of ``model`` with ``values`` substituted
    for all its latents (positional layout; any number of samples per latent)."""
    blocks = structure.blocks()
    if blocks:
        model = sum_blocks(model, blocks)
    sub = handlers.substitute(handlers.seed(model, rng_seed=jax.random.PRNGKey(0)),
                              data=values)
    trace = handlers.trace(sub).get_trace(*args, **kwargs)
    _, log_p, _, presummed = score_sites(trace, structure, dedup_rows)
    return log_p, presummed
