"""Evidence, posterior moments and marginal weights as derivatives of ``log_z``.

- evidence: ``log P_MP`` (Bowyer et al. 2023, eq. 18); its expectation is ``<= log p(x)``.
- moments: add the source ``J * m(z)`` to the factors; ``d log P_MP(J) / dJ |_0`` is the MP
  moment estimate ``sum_k P_z(k) m(z^k)`` per plate element (eq. 28).
- marginals: a source ``J_{k_i}`` per latent; ``d log P_MP / dJ |_0 = P_z(k_i)`` (eq. 35).

All requested moments (or all marginals) come from one backward pass. If every term of the
estimate is zero (``log P_MP = -inf``: the data are impossible under every combination of
the samples) there is no posterior, and every posterior query returns NaN.
"""
from __future__ import annotations

import functools
from typing import Callable, Mapping, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from .._mpis import MPTrace
from ..contract._log_z import Source
from ..graph._graph import FactorGraph
from ..graph._layout import squeeze_positional
from ..weighted._weighted_samples import MomentSpec, WeightedSamples, parse_moment_spec



def posterior_grad(f: Callable, J0):
    """``d f / d J`` at ``J0`` (posterior expectations); NaN where ``f(J0) = -inf``."""
    value, grads = jax.value_and_grad(f)(J0)
    undefined = jnp.isneginf(value)
    return jax.tree_util.tree_map(lambda g: jnp.where(undefined, jnp.nan, g), grads)


Result = Union[MPTrace, WeightedSamples]


def log_evidence(result: Result) -> jax.Array:
    """``log`` of the evidence estimate ``log Z-hat`` of an ``MPTrace`` or ``WeightedSamples``.

    - ``MPTrace``: the MP marginal-likelihood estimate ``log P_MP`` (the MP ELBO when
      averaged over runs). Its gradient includes the score-function term of sampled
      discrete (non-reparameterised) latents (``mpt.score``), so ``jax.grad`` of
      ``exp(log_evidence(mpt))`` is an unbiased estimate of ``dZ`` (as Pyro's TMC);
      enumerated latents need no such term (their sum is exact). Jitted.
    - ``WeightedSamples``: ``logsumexp_n log_weights[n]``, the same as
      ``ws.log_evidence()``.

    A scalar array in both cases; works under ``jax.jit`` / ``jax.grad`` (the dispatch is
    on the Python type, which a trace keeps).

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> mpt = jaxis.mpis(model, K=10)(jax.random.PRNGKey(0), y)
        >>> jaxis.log_evidence(mpt).shape                       # log P_MP, a scalar
        ()
        >>> ws = jaxis.global_is(model, K=100)(jax.random.PRNGKey(1), y)
        >>> bool(jaxis.log_evidence(ws) == ws.log_evidence())
        True
    """
    if isinstance(result, WeightedSamples):
        return result.log_evidence()
    return _mp_log_evidence(check_result(result, "log_evidence"))


def check_result(result, fn: str, weighted: bool = True) -> MPTrace:
    """``result`` if it is an ``MPTrace``; ``TypeError`` naming ``fn`` otherwise (callers
    handle ``WeightedSamples`` first; ``weighted``: whether ``fn`` accepts them)."""
    if not isinstance(result, MPTrace):
        also = " or a WeightedSamples" if weighted else " (for WeightedSamples use joint_ess)"
        raise TypeError(
            f"{fn}: expected an MPTrace (from jaxis.mpis(...)(key, *args)){also}, got "
            f"{type(result).__name__}."
        )
    return result


@jax.jit
def _mp_log_evidence(mpt: MPTrace) -> jax.Array:
    """``log P_MP + mpt.score`` (see :func:`log_evidence`)."""
    if not mpt.log_factors:  # static: the graph's factor list
        raise ValueError(
            "log_evidence: the model has no sample or factor sites, so there is nothing to "
            "estimate; check the model and the arguments passed to run(...)."
        )
    return mpt.log_z() + mpt.score


def _moment_spec(name: str, spec, graph: FactorGraph) -> tuple[tuple[str, ...], Callable]:
    sites, fn = parse_moment_spec(name, spec)
    latents = [l.name for l in graph.latents]
    for s in sites:
        if s not in latents:
            raise ValueError(
                f"moment {name!r} uses site {s!r}, which is not a latent site; latent sites "
                f"are {latents}. Pass (site, fn) to name the site explicitly."
            )
    return sites, fn


def _block_sizes(graph: FactorGraph, sites) -> dict[int, int]:
    """``dim -> size`` of the block dims of ``sites`` (batch dims outside their plates)."""
    out = {}
    for s in sites:
        lat = graph.latent(s)
        out.update({d: lat.batch_shape[d] for d in lat.blocks})
    return dict(sorted(out.items()))


def _moment_source(mpt: MPTrace, name: str, sites, fn):
    """Evaluate ``m`` on the positional samples; return (m compact, kvars, plates, out shape).

    Block dims of the sites are moved to the left of the output dims (a block shares one
    sample index, so the moment is per block element like an output dim).
    """
    graph = mpt.graph
    rank = max(-graph.latent(s).dim for s in sites)
    values = [mpt.positional(s) for s in sites]
    m = jnp.asarray(fn(*values))
    if m.ndim < rank:
        raise ValueError(
            f"moment {name!r}: the function returned shape {m.shape}; it must act on each "
            f"sample and plate element separately (batch rank {rank}), adding output dims on "
            "the right only."
        )
    batch, out = m.shape[:rank], m.shape[rank:]
    reduced = [s for s in sites if graph.size(s) > 1 and batch[graph.latent(s).dim] == 1]
    if reduced:
        raise ValueError(
            f"moment {name!r}: the function output does not vary along the sample axis of "
            f"{reduced} (batch shape {batch}): it reduced over the samples (e.g. v.mean(0)) "
            "or does not use that site. "
            "Give the function of one sample, elementwise; moments() averages it over the "
            "samples with the MP posterior weights."
        )
    kvars = list(sites)
    plates = {p for s in sites for p in graph.latent(s).plates}
    kvars, plates = graph.canonical(kvars, plates)
    full = graph.positional_shape(kvars, plates, rank)
    blocks = _block_sizes(graph, sites)
    if blocks:
        sized = tuple(blocks.get(i - rank, b) for i, b in enumerate(batch))
        m = jnp.broadcast_to(m, sized + out)
        axes = [rank + d for d in blocks]
        rest = [i for i in range(rank) if i not in axes]
        m = jnp.transpose(m, rest + axes + list(range(rank, m.ndim)))
        batch = tuple(1 if i in axes else b for i, b in enumerate(sized))
        out = tuple(blocks.values()) + out
    if jnp.broadcast_shapes(batch, full) != full:
        raise ValueError(
            f"moment {name!r}: the function output varies along dims outside its sites' "
            f"samples and plates (batch shape {batch}, allowed {full})."
        )
    m = jnp.broadcast_to(m.reshape(batch + out), full + out)
    m = squeeze_positional(graph, m, kvars, plates, len(out))
    return m.astype(jnp.result_type(float)), kvars, plates, out


def moments(mpt: MPTrace, fns: Mapping[str, MomentSpec]) -> dict[str, jax.Array]:
    """Posterior expectations ``E[m(z)]``, per plate element, in one backward pass.

    Args:
        mpt: an :class:`MPTrace`.
        fns: ``name -> fn`` (``fn`` of the site called ``name``), ``name -> (site, fn)`` or
            ``name -> ((site1, site2), fn)``. ``fn`` receives the samples in positional
            layout and must act elementwise over sample and plate dims.

    Positional layout: ``fn`` is called once, on all samples at once. A latent of numpyro
    shape ``batch_shape + event_shape`` arrives as ``(K, 1, ..., 1) + batch_shape +
    event_shape``: its K samples on its own axis, left of the plate dims (one axis per
    latent, like numpyro's enumeration dims). Write ``fn`` for one sample and reduce only
    over event dims on the right (``lambda v: v.sum(-1)`` for a ``.to_event(1)`` vector);
    ``jnp.mean(v)`` or ``v.mean(0)`` would average over the samples and is rejected.

    Returns:
        ``name -> array`` of shape ``batch_shape + output shape`` of the moment.

    The estimator is ``E[m(z)] ≈ sum_k P_z(k_i) m(z_i^{k_i})``, read off ``jax.grad`` of
    ``log_z`` with respect to a source term ``J`` multiplying ``m`` into site ``i``'s factor
    (Bowyer, Heap, Aitchison 2023, eq. 14); one backward pass serves all ``fns``.

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> mpt = jaxis.mpis(model, K=10)(jax.random.PRNGKey(0), y)
        >>> m = jaxis.moments(mpt, {"mu": lambda v: v, "mu2": ("mu", lambda v: v**2),
        ...                         "theta": lambda v: v})
        >>> m["mu"].shape, m["theta"].shape                     # theta: one per group
        ((), (2, 1))
        >>> bool(m["mu2"] >= m["mu"] ** 2)                      # E[mu^2] >= E[mu]^2
        True
    """
    graph = mpt.graph
    parts, batches, blocks = {}, {}, {}
    for name, spec in fns.items():
        sites, fn = _moment_spec(name, spec, graph)
        parts[name] = _moment_source(mpt, name, sites, fn)
        blocks[name] = _block_sizes(graph, sites)
        batches[name] = jnp.broadcast_shapes(*(graph.latent(s).batch_shape for s in sites))

    dims = tuple((n, kv, ps, out) for n, (_, kv, ps, out) in parts.items())
    ms = {n: m for n, (m, _, _, _) in parts.items()}
    grads = _moments_impl(mpt, ms, dims)
    return {n: _blocks_back(graph, grads[n], ps, blocks[n]).reshape(
                batches[n] + out[len(blocks[n]):]) for n, (_, _, ps, out) in parts.items()}


@functools.partial(jax.jit, static_argnames="dims")
def _moments_impl(mpt: MPTrace, ms: dict, dims: tuple) -> dict:
    """``d log Z(J) / d J`` at ``J = 0`` with a source ``J_n * m_n`` per moment (jitted:
    the user's functions run eagerly above, on the samples only)."""
    graph = mpt.graph

    def f(J):
        sources = [Source(jnp.sum(_expand(J[n], len(kv)) * ms[n],
                                  axis=tuple(range(ms[n].ndim - len(out), ms[n].ndim))), kv, ps)
                   for n, kv, ps, out in dims]
        return mpt.log_z(sources)

    J0 = {n: jnp.zeros(graph.shape((), ps) + out, ms[n].dtype) for n, _, ps, out in dims}
    return posterior_grad(f, J0)


def _blocks_back(graph: FactorGraph, g: jax.Array, plates, blocks: dict[int, int]):
    """``(plate sizes, block sizes, out)`` -> positional batch with the block dims in place."""
    if not blocks:
        return g
    rank = max([-d for d in blocks] + [-graph.plate(p).dim for p in plates])
    g = g.reshape(graph.positional_shape((), plates, rank) + g.shape[len(plates):])
    pos = [rank + d for d in blocks]
    perm = [rank + pos.index(i) if i in pos else i for i in range(rank)]
    return jnp.transpose(g, perm + pos + list(range(rank + len(pos), g.ndim)))


def _expand(J: jax.Array, n_kvars: int) -> jax.Array:
    return J.reshape((1,) * n_kvars + J.shape)


def marginals(mpt: MPTrace, sites: Optional[Sequence[str]] = None) -> dict[str, jax.Array]:
    """Marginal importance weights ``P_z(k_i)``: ``site -> (K, *batch_shape)``, summing to 1.

    A latent with block dims (batch dims outside its plates) has one weight per sample of
    the whole block: ``(K, *batch_shape without the block dims)``.

    One backward pass of ``log_z`` with a source ``J_{k_i}`` per requested latent.
    ``sites``: latent names (a single name is one site).

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> mpt = jaxis.mpis(model, K=10)(jax.random.PRNGKey(0), y)
        >>> w = jaxis.marginals(mpt)
        >>> w["mu"].shape, w["theta"].shape                     # (K,), (K, *batch_shape)
        ((10,), (10, 2, 1))
        >>> bool(jnp.allclose(w["theta"].sum(0), 1.0))
        True
    """
    sites = (sites,) if isinstance(sites, str) else sites
    graph = mpt.graph
    names = [l.name for l in graph.latents] if sites is None else list(sites)
    for n in names:
        graph.latent(n)
    return _marginals(mpt, tuple(names))


@jax.jit
def _marginals_impl(mpt: MPTrace, J0: dict) -> dict:
    graph = mpt.graph
    sources = lambda J: [Source(J[n], (n,), graph.latent(n).plates) for n in J]
    return posterior_grad(lambda J: mpt.log_z(sources(J)), J0)


def _marginals(mpt: MPTrace, names: tuple[str, ...]) -> dict[str, jax.Array]:
    graph = mpt.graph
    dtype = mpt.dtype
    J0 = {n: jnp.zeros(graph.shape((n,), graph.latent(n).plates), dtype) for n in names}
    grads = _marginals_impl(mpt, J0)
    return {n: grads[n].reshape((graph.size(n),) + graph.latent(n).plated_shape)
            for n in names}
