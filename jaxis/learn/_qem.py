r"""QEM: massively parallel moment-matching EM for a mean-field proposal.

Each latent ``z_i`` gets a proposal ``q_i`` from an exponential family with sufficient
statistics ``T_i`` (chosen from the prior's support, :mod:`jaxis.learn._qem_families`),
one parameter per plate element. Step ``t`` draws K samples per latent from
``q_{t-1}``, reads the MP posterior moments ``E_MP[T_i(z_i)]`` off the source-term
derivatives of ``log P_MP`` (``jaxis.moments``: one backward pass) and sets

    m_t = (1 - lr) m_{t-1} + lr E_MP[T(z)],     q_t = the member of the family with E_q[T] = m_t

(moment matching: the M step of EM for an exponential family). ``m_0`` matches the
prior's marginal moments (``num_prior_samples`` draws), so ``q_0`` is the prior,
moment-matched. The fixed point, as ``K`` grows, has the posterior marginal moments of
every ``T_i``: the mean-field proposal with the exact marginal means and variances of the
posterior (not the VI optimum, which underestimates them).

Discrete latents: the guide samples them (Bernoulli / Categorical with learned per-element
probabilities). With ``enumerate_discrete=True`` the guide leaves them out and
``jaxis.mpis`` sums them exactly (a discrete latent a guide does not sample is enumerated):
QEM then learns the continuous latents only. A sampled category of posterior probability
``p`` is drawn about ``K p`` times per step; at ``K p < 1`` its estimate is mostly 0 and
occasionally large, and the running probability settles below ``p`` (the map from ``q`` to
the expected estimate is concave): use ``K`` well above ``1 / p`` for rare categories, or
``enumerate_discrete=True`` for small supports.

Reference: Heap, Aitchison et al. 2024, *Massively parallel expectation maximization for
approximate posteriors* (QEM); the MP moments: Bowyer, Heap, Aitchison 2023, eq. 28.

Example (see :func:`qem` for a runnable one)::

    state, info = jaxis.qem(model, K=10, num_steps=100, lr=0.3)(key, *args)
    mpt = jaxis.mpis(model, jaxis.qem_guide(model), K=30, params=state.params)(key, *args)
"""
from __future__ import annotations

import contextlib
import itertools
import math
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpyro
from numpyro import handlers

from .._filter_jit import filter_jit
from .._mpis import _check_K, mpis
from .._sharding import plate_sharding
from ._qem_families import Family, family_of

__all__ = ["QEMGuide", "QEMInfo", "QEMState", "build_qem_step", "qem", "qem_guide", "qem_init"]


class SiteSpec(NamedTuple):
    """A latent's proposal: family, numpyro batch and event shapes, plates (name, size, dim)."""

    name: str
    family: Family
    batch_shape: tuple
    event_shape: tuple
    plates: tuple


class QEMState(NamedTuple):
    """``moments``: site -> running moments ``m_t`` (one array per statistic of ``T``);
    ``params``: the guide's ``numpyro.param`` values (``mpis(..., params=state.params)``);
    ``step``: the number of steps taken."""

    moments: dict
    params: dict
    step: jax.Array


class QEMInfo(NamedTuple):
    """``log_evidence``: ``log P_MP`` of the step's MP run, with the proposal ``q_{t-1}``."""

    log_evidence: jax.Array


class QEMGuide:
    """The mean-field numpyro guide QEM learns: one family per latent of ``model``.

    Each latent ``s`` is sampled inside the model's plates from its family with parameters
    ``numpyro.param(f"{s}_{name}")`` of shape ``batch_shape (+ event)``; their initial
    values are placeholders (standard members of the family): pass ``params=state.params``.
    """

    def __init__(self, model: Callable, enumerate_discrete: bool = False):
        self.model = model
        self.enumerate_discrete = bool(enumerate_discrete)

    def _key(self):
        return (self.model, self.enumerate_discrete)

    def __eq__(self, other):
        return isinstance(other, QEMGuide) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"qem_guide({getattr(self.model, '__name__', self.model)})"

    def sites(self, *args, **kwargs) -> tuple[SiteSpec, ...]:
        """The latents' proposal specs, read from an abstract run of the model."""
        found = {}

        def run():
            with handlers.block():
                found["tr"] = handlers.trace(handlers.seed(self.model, 0)).get_trace(
                    *args, **kwargs)
            return 0

        jax.eval_shape(run)
        specs = []
        for name, msg in found["tr"].items():
            if msg["type"] != "sample" or msg["is_observed"]:
                continue
            fn = msg["fn"]
            family = family_of(name, fn)
            if self.enumerate_discrete and family.name in ("Bernoulli", "Categorical"):
                continue
            frames = sorted(msg["cond_indep_stack"], key=lambda f: f.dim)
            specs.append(SiteSpec(name, family, tuple(fn.batch_shape), tuple(fn.event_shape),
                                  tuple((f.name, f.size, f.dim) for f in frames)))
        return tuple(specs)

    def __call__(self, *args, **kwargs):
        for s in self.sites(*args, **kwargs):
            with contextlib.ExitStack() as plates:
                for name, size, dim in s.plates:
                    plates.enter_context(numpyro.plate(name, size, dim=dim))
                params = {k: numpyro.param(f"{s.name}_{k}", init(s.batch_shape, s.event_shape),
                                           constraint=c)
                          for k, (c, init) in s.family.params.items()}
                numpyro.sample(s.name, s.family.dist(params))


def qem_guide(model: Callable, enumerate_discrete: bool = False) -> QEMGuide:
    """The mean-field guide QEM learns for ``model`` (use it with ``state.params``).

    Families by the prior's support: real -> Normal, positive -> LogNormal (Gamma for a
    Gamma or Exponential prior), unit interval -> Beta, simplex -> Dirichlet, boolean ->
    Bernoulli, ``{0..S-1}`` -> Categorical, real vector -> MultivariateNormal; any other
    latent raises a ``ValueError`` naming it when the guide is first traced.
    ``enumerate_discrete``: leave Bernoulli / Categorical latents to ``mpis``'s enumeration.

    Example (``state`` from :func:`qem`)::

        mpt = jaxis.mpis(model, jaxis.qem_guide(model), K=30, params=state.params)(key, y)
    """
    return QEMGuide(model, enumerate_discrete)


def _match(specs, moments: dict, previous: dict) -> dict:
    """Guide parameters from moments (``previous``: warm starts for iterative matching)."""
    out = {}
    for s in specs:
        prev = {k: previous[f"{s.name}_{k}"] for k in s.family.params}
        out.update({f"{s.name}_{k}": v for k, v in s.family.match(moments[s.name], prev).items()})
    return out


def qem_init(rng_key: jax.Array, guide: QEMGuide, num_prior_samples: int,
             *args, **kwargs) -> QEMState:
    """``m_0``: the prior's marginal moments of each ``T_i``, from ``num_prior_samples``
    draws of the model (plated latents: per element); parameters matched to them."""
    specs = guide.sites(*args, **kwargs)

    def stats(key):
        tr = handlers.trace(handlers.seed(guide.model, key)).get_trace(*args, **kwargs)
        return {s.name: s.family.stats(tr[s.name]["value"]) for s in specs}

    keys = jax.random.split(rng_key, num_prior_samples)
    moments = jax.tree_util.tree_map(lambda x: x.mean(0), jax.vmap(stats)(keys))
    start = {f"{s.name}_{k}": init(s.batch_shape, s.event_shape)
             for s in specs for k, (_, init) in s.family.params.items()}
    return QEMState(moments, _match(specs, moments, start), jnp.zeros((), jnp.int32))


def _flat_stats(spec: SiteSpec, like: tuple) -> Callable:
    """``T`` of one sample as one vector (one moment source per latent, not per statistic);
    ``like``: the moments, whose trailing dims past the batch shape are each statistic's."""
    nb = len(spec.batch_shape)

    def fn(v):
        stats = spec.family.stats(v)
        return jnp.concatenate([t.reshape(t.shape[:t.ndim - m.ndim + nb] + (-1,))
                                for t, m in zip(stats, like)], -1)

    return fn


def _unflat(spec: SiteSpec, flat: jax.Array, like: tuple) -> tuple:
    """The statistics of :func:`_flat_stats`, split and reshaped as ``like``."""
    sizes = [math.prod(m.shape[len(spec.batch_shape):]) for m in like]
    parts = jnp.split(flat, list(itertools.accumulate(sizes))[:-1], axis=-1)
    return tuple(p.reshape(m.shape) for p, m in zip(parts, like))


def build_qem_step(model: Callable, guide: QEMGuide, K: int, lr: float,
                   mesh: Optional[jax.sharding.Mesh] = None) -> Callable:
    """``step(rng_key, state, *args, **kwargs) -> (state, QEMInfo)``: one QEM update.

    Jittable and vmappable (not jitted for you); ``mesh`` splits a plate of each MP run
    over its devices (``mpis``'s ``mesh=``). A step whose MP run gives
    ``log P_MP = -inf`` (data impossible under every sample) has NaN moments, and the
    state becomes NaN: nothing is silently repaired.
    """
    from ..queries._moments import log_evidence, moments  # queries build on the trace

    def step(rng_key, state: QEMState, *args, **kwargs):
        specs = guide.sites(*args, **kwargs)
        mpt = mpis(model, guide, K=K, params=state.params, check_memory=False, mesh=mesh)(
            rng_key, *args, **kwargs)
        est = moments(mpt, {s.name: (s.name, _flat_stats(s, state.moments[s.name]))
                            for s in specs})
        new = {s.name: tuple((1 - lr) * m + lr * e
                             for m, e in zip(state.moments[s.name], _unflat(s, est[s.name],
                                                                           state.moments[s.name])))
               for s in specs}
        params = _match(specs, new, state.params)
        return QEMState(new, params, state.step + 1), QEMInfo(log_evidence(mpt))

    return step


def _resolve_guide(model: Callable, guide, enumerate_discrete: bool) -> QEMGuide:
    if guide is None:
        return QEMGuide(model, enumerate_discrete)
    if isinstance(guide, QEMGuide) and guide.model is model:
        return guide
    raise ValueError(
        f"qem: guide={guide!r} is not a QEM guide of this model. QEM updates a proposal by "
        "moment matching, which needs the guide's families and parameter sites: pass "
        "guide=None (QEM builds a mean-field guide from the model's priors; use it later as "
        "jaxis.qem_guide(model)) or jaxis.qem_guide(model). To train a general guide use "
        "numpyro SVI with jaxis.MPELBO."
    )


def qem(model: Callable, guide: Optional[QEMGuide] = None, *, K: int, num_steps: int,
        lr: float, num_prior_samples: int = 1000, enumerate_discrete: bool = False,
        mesh: Optional[jax.sharding.Mesh] = None) -> Callable:
    """Build ``run(rng_key, *args, **kwargs) -> (QEMState, QEMInfo)``: QEM for ``num_steps``.

    Args:
        model: a numpyro model.
        guide: ``None`` or ``jaxis.qem_guide(model)`` (the mean-field guide QEM learns).
        K: samples per latent in each step's MP run.
        num_steps: number of updates (a ``lax.scan``).
        lr: the moving-average weight ``lr`` in ``(0, 1]``.
        num_prior_samples: prior draws that set ``m_0`` (the prior's moments).
        enumerate_discrete: leave discrete latents to exact enumeration.
        mesh: a ``jax.sharding.Mesh``: each step's MP run splits a plate over its devices
            (``mpis``'s ``mesh=``).

    Returns ``run``, jitted over the key and array arguments (vmappable over keys);
    ``info.log_evidence`` has shape ``(num_steps,)``: ``log P_MP`` at each step.

    Example:
        >>> import jax, jax.numpy as jnp, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model  # mu -> theta[g] -> obs[g, n]
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> key = jax.random.PRNGKey(0)
        >>> state, info = jaxis.qem(model, K=5, num_steps=10, lr=0.3)(key, y)
        >>> info.log_evidence.shape, sorted(state.params)[:2]
        ((10,), ['mu_loc', 'mu_scale'])
        >>> mpt = jaxis.mpis(model, jaxis.qem_guide(model), K=30, params=state.params)(key, y)
        >>> bool(jnp.isfinite(jaxis.log_evidence(mpt)))
        True
    """
    _check_K(K)
    for arg, value in (("num_steps", num_steps), ("num_prior_samples", num_prior_samples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"qem: {arg} must be a positive integer, got {value!r}.")
    if not isinstance(lr, (int, float)) or not 0 < lr <= 1:
        raise ValueError(f"qem: lr must be a number in (0, 1] (the moving-average weight of "
                         f"each step's moments), got {lr!r}.")
    plate_sharding(mesh, None)  # a ValueError naming mesh= if it is not a Mesh
    guide = _resolve_guide(model, guide, enumerate_discrete)
    step = build_qem_step(model, guide, K, float(lr), mesh)

    def run(rng_key, *args, **kwargs):
        k_init, k_steps = jax.random.split(rng_key)
        state = qem_init(k_init, guide, num_prior_samples, *args, **kwargs)
        return jax.lax.scan(lambda s, key: step(key, s, *args, **kwargs), state,
                            jax.random.split(k_steps, num_steps))

    return filter_jit(run, model=model)
