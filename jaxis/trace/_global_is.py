"""Global importance sampling: the non-MP baseline with K joint draws from the proposal.

    log w_k = log p(x, z^k) - log q(z^k) - log K,   z^k ~ q,   Z ≈ sum_k w_k

(Bowyer, Heap, Aitchison 2023, eqs. 5-8). Each draw runs the proposal and the model once,
vectorised with ``vmap``; the result is a :class:`~jaxis.WeightedSamples` whose
``log_evidence()`` is the log of the global estimate.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import jax
from numpyro import handlers
from numpyro.infer.util import log_density

from .._builders import cached_build
from .._filter_jit import filter_jit
from .._memory import RUNTIME_ALLOWANCE, budget_guard, compiled_peak, resolve_budget
from ..weighted import WeightedSamples
from ._structure import model_structure


def global_is(
    model: Callable,
    guide: Optional[Callable] = None,
    *,
    K: int,
    memory_budget: Optional[int] = None,
    check_memory: bool = True,
) -> Callable[..., WeightedSamples]:
    """Build ``run(rng_key, *args, **kwargs) -> WeightedSamples`` with K joint draws.

    Args:
        model: a numpyro model.
        guide: a numpyro guide sampling every latent; ``None`` proposes from the prior.
        K: number of joint proposal draws.
        memory_budget: bytes allowed at the run's peak, as XLA allocates it (default: 80%
            of the memory available when the run is first called); checked before the
            run, naming the largest K that fits.
        check_memory: ``False`` skips that check (for a caller that checks the whole
            computation the run is part of).

    Model arguments are handled as by :func:`jaxis.mpis`: array leaves are traced, and
    those the model needs concrete (a size computed from the data) are kept concrete.

    Returns:
        ``run``; its :class:`WeightedSamples` hold ``samples`` (``site -> (K, *site
        shape)``, K joint draws ``z_k ~ q``) and ``log_weights = log p(x, z_k) - log q(z_k)
        - log K``, so ``ws.log_evidence()`` is ``log (1/K) sum_k p(x, z_k) / q(z_k)``.

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> ws = jaxis.global_is(model, K=1000)(jax.random.PRNGKey(0), y)
        >>> ws.samples["theta"].shape, ws.log_weights.shape
        ((1000, 2, 1), (1000,))
        >>> bool(1.0 <= ws.ess() <= 1000.0)
        True
    """
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be a positive integer (number of draws), got {K!r}.")
    if memory_budget is not None:
        resolve_budget(memory_budget)

    return cached_build(model, ("global_is", guide, K, memory_budget, check_memory),
                        lambda: _make(model, guide, K, memory_budget, check_memory))


def _make(model, guide, K: int, memory_budget, check_memory: bool):
    if not check_memory:
        return _build(model, guide, K, None)
    peak = lambda lowered: compiled_peak(lowered.compile()) + RUNTIME_ALLOWANCE
    relower = lambda k, key, a, kw: _build(model, guide, k, None).lower(key, *a, **kw)
    return _build(model, guide, K, budget_guard("Global IS", K, memory_budget, peak, relower))


def _build(model, guide, K: int, guard) -> Callable[..., WeightedSamples]:
    proposal = model if guide is None else guide

    def run(rng_key, *args, **kwargs) -> WeightedSamples:
        structure = model_structure(model, guide, args, kwargs)

        def one(key):
            tr = handlers.trace(handlers.seed(proposal, key)).get_trace(*args, **kwargs)
            values = {n: tr[n]["value"] for n in structure.latents}
            log_q = sum(tr[n]["fn"].log_prob(values[n]).sum() for n in structure.latents)
            log_p, mtr = log_density(model, args, kwargs, values)
            dets = {n: s["value"] for n, s in mtr.items() if s["type"] == "deterministic"}
            return {**values, **dets}, log_p - log_q

        samples, log_w = jax.vmap(one)(jax.random.split(rng_key, K))
        return WeightedSamples(samples, log_w - math.log(K))

    return filter_jit(run, precheck=lambda a, kw: model_structure(model, guide, a, kw),
                      guard=guard, model=model)
