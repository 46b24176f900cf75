"""Joint index marginals, conditionals and effective sample sizes.

- joint marginal of a latent and the latents its factor depends on:
  ``P_z(k_i, k_pa(i)) = d log P_MP(J) / dJ_{k_i, k_pa(i)} |_0`` per plate element
  (Bowyer, Heap, Aitchison 2023, eqs. 41-44, Algorithm 3).
- conditional ``P_z(k_i | k_pa(i))`` by normalising the joint over ``k_i`` (eq. 41).
- per-site ESS ``1 / sum_k w_k^2`` of the marginal weights, and the overall MP ESS
  ``1 / sum_k P_z(k)^2 = exp(2 log Z(F) - log Z(2F))``, one extra contraction
  (``ess`` and ``joint_ess`` also accept ``WeightedSamples``).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._mpis import MPTrace
from ..contract._log_z import Source
from ..weighted._weighted_samples import WeightedSamples
from ._moments import Result, check_result, marginals, posterior_grad


class JointMarginal(NamedTuple):
    """``probs`` has one axis per name in ``kvars`` (size K), then one per plate in ``plates``."""

    probs: jax.Array
    kvars: tuple[str, ...]
    plates: tuple[str, ...]


def joint_marginals(mpt: MPTrace, site: str) -> JointMarginal:
    """``P_z(k_site, k_parents)`` per plate element of ``site``, with axis names.

    The parents are the latents the site's own factor depends on (model parents, and
    proposal parents of a parent-mixture proposal).
    """
    graph = mpt.graph
    lat = graph.latent(site)
    spec = next(f for f in graph.factors if f.name == site)
    kvars = spec.kvars
    J0 = jnp.zeros(graph.shape(kvars, lat.plates), mpt.dtype)
    grad = posterior_grad(
        lambda J: mpt.log_z([Source(J, kvars, lat.plates)]), J0)
    return JointMarginal(grad, kvars, lat.plates)


def conditionals(mpt: MPTrace, site: str) -> JointMarginal:
    """``P_z(k_site | k_parents)``: the joint marginal normalised over the site's axis.

    NaN where the parents' index combination has posterior probability zero: the
    conditional given an impossible combination is undefined.
    """
    jm = joint_marginals(mpt, site)
    axis = jm.kvars.index(site)
    return jm._replace(probs=jm.probs / jnp.sum(jm.probs, axis=axis, keepdims=True))


def ess(result: Result) -> dict[str, jax.Array]:
    """Per-site ESS ``1 / sum_k w_k^2`` of each site's marginal weights: ``site -> array``.

    - ``MPTrace``: the marginal weights ``P_z(k_i)`` over the K samples of each latent, per
      plate element: ``site -> batch_shape``, each value in ``[1, K]``.
    - ``WeightedSamples``: every site shares the one weight vector of the N joint draws, so
      each site's ESS is the Kish ESS ``ws.ess()``: ``site -> ()``, in ``[1, N]``.

    NaN when there is no posterior (``log_evidence`` is ``-inf``). The method
    ``ws.ess()`` (a scalar) is :func:`joint_ess` of ``ws``; this function always returns
    the per-site dict, for both result types.

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> mpt = jaxis.mpis(model, K=10)(jax.random.PRNGKey(0), y)
        >>> e = jaxis.ess(mpt)["theta"]                         # one per group, in [1, K]
        >>> e.shape, bool(jnp.all((e >= 1.0) & (e <= 10.0)))
        ((2, 1), True)
        >>> ws = jaxis.global_is(model, K=100)(jax.random.PRNGKey(1), y)
        >>> bool(jaxis.ess(ws)["mu"] == ws.ess())
        True
    """
    if isinstance(result, WeightedSamples):
        value = result.ess()
        return {name: value for name in result.samples}
    mpt = check_result(result, "ess")
    return {n: 1.0 / jnp.sum(w**2, axis=0) for n, w in marginals(mpt).items()}


def mp_ess(mpt: MPTrace) -> jax.Array:
    """Overall MP ESS ``1 / sum_k P_z(k)^2 = exp(2 log Z(F) - log Z(2F))`` over all K^n
    index combinations (jitted on the trace's shapes)."""
    return _mp_ess(check_result(mpt, "mp_ess", weighted=False))


@jax.jit
def _mp_ess(mpt: MPTrace) -> jax.Array:
    lz = mpt.log_z()
    lz2 = mpt.log_z(power=2.0)
    return jnp.exp(2.0 * lz - lz2)


def joint_ess(result: Result) -> jax.Array:
    """One scalar ESS of the joint weights, for either result type.

    ``MPTrace``: the MP ESS :func:`mp_ess` ``1 / sum_k P_z(k)^2`` over all K^n index
    combinations; ``WeightedSamples``: the Kish ESS ``ws.ess()`` over its N draws. Use it
    in place of arviz's ESS for MP IS draws (see :func:`jaxis.to_arviz`).

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> mpt = jaxis.mpis(model, K=10)(jax.random.PRNGKey(0), y)
        >>> bool(jaxis.joint_ess(mpt) == jaxis.mp_ess(mpt))
        True
        >>> ws = jaxis.global_is(model, K=100)(jax.random.PRNGKey(1), y)
        >>> bool(jaxis.joint_ess(ws) == ws.ess())
        True
    """
    if isinstance(result, WeightedSamples):
        return result.ess()
    return mp_ess(check_result(result, "joint_ess"))
