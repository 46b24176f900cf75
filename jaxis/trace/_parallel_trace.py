"""Run proposal and model with K samples per latent, each on its own positional axis.

The proposal (guide, or the prior when no guide is given) runs under
:class:`~jaxis.trace._mp_sample.MPSampler`; the model then runs with those values
substituted, so its arithmetic broadcasts each parent's sample axis into its children.
Nothing is special-cased per distribution: every log density is the site's own
``fn.log_prob`` with numpyro's ``mask`` and ``scale`` applied. With ``dedup_rows``, an
observed site whose parameters do not vary along a latent-free plate is summed over that
plate from sufficient statistics (:mod:`jaxis.trace._row_stats`), recorded in
``presummed``.
"""
from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
from numpyro import handlers

from ._broadcast import broadcast_errors, logging_sites
from ._blocks import sum_blocks
from ._enumerate import EnumerateSites
from ._mp_sample import MPSampler, score_term
from ._scan import ScanSampler
from ._score import score_sites, site_log_prob
from ._structure import ModelStructure


class ParallelTrace(NamedTuple):
    """Positional arrays of one MP run (numpyro-enum layout)."""

    values: dict  # latent -> value with K on its own axis
    log_p: dict  # latent and observed sites -> masked, scaled log p
    log_q: dict  # sampled latent -> log q_mix (enumerated latents have none)
    deterministic: dict  # deterministic sites -> value
    parents: dict  # latent -> its proposal parents (a tuple of latent names)
    perms: dict  # proposal parent -> permutation of its samples, (K, *batch_shape)
    score: jax.Array  # zero, with the score-function gradient of non-reparameterised draws
    chains: tuple = ()  # a ChainSpec per scan with a body latent (jaxis.trace._scan)
    presummed: Optional[dict] = None  # observed site -> jaxis.trace._score.Presummed


def parallel_trace(
    rng_key: jax.Array,
    model: Callable,
    guide: Optional[Callable],
    *,
    sizes: Mapping[str, int],
    structure: ModelStructure,
    args: tuple,
    kwargs: dict,
    dedup_rows: bool = False,
) -> ParallelTrace:
    """Draw ``sizes[i]`` proposal samples per latent ``i`` and score them under the model.

    ``dedup_rows``: sum observed sites over their latent-free plates where they are scored
    (from sufficient statistics along plates where their parameters do not vary;
    ``presummed`` names the plates).

    Enumerated latents take their support values instead (repeated to ``sizes[i]``). A
    JAX shape error raised by model code under these sample shapes is re-raised as a
    ``ValueError`` naming the site and the broadcast-safe rewrite.
    """
    sample_key, model_key = jax.random.split(rng_key)
    blocks = structure.blocks()
    if blocks:
        model = sum_blocks(model, blocks)
        guide = None if guide is None else sum_blocks(guide, blocks)
    enum = structure.enumerated()
    if enum:
        model = EnumerateSites.wrap(model, {n: (sizes[n], structure.latent_dim(n),
                                                structure.site(n).batch_shape) for n in enum})
    proposal = model if guide is None else guide
    log: list[str] = []  # sites reached by the programs
    scoring: list[str] = []  # sites whose log density is being computed

    def where() -> str:
        if scoring:
            return f"at site {scoring[-1]!r}, in its log density"
        return f"after site {log[-1]!r}" if log else "before its first site"

    with broadcast_errors(where):
        seeded = handlers.seed(logging_sites(proposal, log), rng_seed=model_key)
        scan_key = jax.random.fold_in(sample_key, len(structure.latents))
        scans = ScanSampler(seeded, structure=structure, sizes=dict(sizes),
                            score=site_log_prob, rng_key=scan_key,
                            role="prior" if guide is None else "guide")
        model_scans = scans  # the scans that score the model's body sites
        sampler = MPSampler(
            scans if structure.scans else seeded, proposal=proposal, rng_key=sample_key,
            sizes=dict(sizes), structure=structure, args=args, kwargs=kwargs,
        )
        scans.sampler = sampler
        ptrace = handlers.trace(sampler).get_trace(*args, **kwargs)
        if guide is None:
            mtrace = ptrace
        else:
            values = {n: ptrace[n]["value"] for n in structure.latents
                      if n not in enum and n in ptrace}  # scan latents: in scans.steps
            log.clear()
            sub = handlers.substitute(handlers.seed(model, rng_seed=model_key), data=values)
            model_scans = ScanSampler(sub, structure=structure, sizes=dict(sizes),
                                      score=site_log_prob, rng_key=scan_key, role="model",
                                      given=scans.steps)
            model_scans.sampler = sampler
            mtrace = handlers.trace(logging_sites(model_scans, log)).get_trace(*args, **kwargs)

        values, log_p, det, presummed = score_sites(mtrace, structure, dedup_rows,
                                                    scoring.append)
    values.update({**scans.values, **model_scans.values})
    log_p.update(model_scans.log_p)
    perms = {}
    for a, p in sampler.perms.items():
        site = structure.site(a)
        perms[a] = jnp.broadcast_to(p.reshape((p.shape[0],) + site.index_shape),
                                    (p.shape[0],) + site.batch_shape)
    return ParallelTrace(values, log_p, {**sampler.log_q, **scans.log_q}, det,
                         {**sampler.parents, **scans.parents}, perms,
                         score_term({**sampler.draw_log_q, **scans.draw_log_q}),
                         tuple(model_scans.chains), presummed)
