"""``mpis``: numpyro model (+ guide) -> :class:`MPTrace`, the MP factor graph with its samples.

    run = jaxis.mpis(model, guide, K=10)
    mpt = run(rng_key, *model_args, **model_kwargs)

The pipeline: trace the structure abstractly (errors before any allocation), draw K
samples per latent (``trace``), read off the static factor graph and check the memory of
its largest contraction step (``graph``, ``contract``), and store the log factors in the
compact layout. ``run`` is jitted over the rng key and the array leaves of the model
arguments (other leaves are static), so a second call with the same shapes does not
recompile, and XLA fuses each log density with its plate sums.

Reference: Bowyer, Heap, Aitchison 2023, *Using autodiff to estimate posterior moments,
marginals and samples*, section 2 (the MP estimator, eqs. 17-23).
"""
from __future__ import annotations

import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers

from ._builders import cached_build
from ._filter_jit import filter_jit
from ._memory import RUNTIME_ALLOWANCE, budget_guard, compiled_peak, resolve_budget
from ._sharding import choose_plate, plate_sharding, shard_arguments, shard_trace
from ._chunking import chunk_fallback, lazy_factors
from .contract._chunked import ChunkSpec
from .graph._graph import FactorGraph, build_graph
from .graph._layout import compact_factor, to_compact
from .trace._axes import dim_order, distinct_sizes
from .trace._enumerate import MODES as ENUMERATE_MODES
from .trace._parallel_trace import parallel_trace
from .trace._score import mp_log_factors
from .trace._structure import ModelStructure, model_structure
from ._trace_result import MPTrace


def _check_K(K) -> int:
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be a positive integer (samples per latent), got {K!r}.")
    return K


def mpis(
    model: Callable,
    guide: Optional[Callable] = None,
    *,
    K: int,
    memory_budget: Optional[int] = None,
    check_memory: bool = True,
    params: Optional[dict] = None,
    enumerate: str = "auto",
    dedup_rows: bool = True,
    mesh: Optional[jax.sharding.Mesh] = None,
    shard_plate: Optional[str] = None,
    layout: str = "forward",
) -> Callable[..., MPTrace]:
    """Build ``run(rng_key, *args, **kwargs) -> MPTrace`` for massively parallel IS.

    Args:
        model: a numpyro model.
        guide: a numpyro guide sampling every latent of the model; ``None`` proposes from
            the prior. A model's ``scan`` latent is proposed by a ``scan`` of the guide
            over the same steps whose body samples a site of the same name (one step at
            a time; it may use the guide's carry and its latents and params sampled
            before the scan); a guide site sampling the whole series at once is rejected.
        K: samples per latent (per plate element).
        memory_budget: bytes allowed at the peak of the run and of its log-evidence
            contraction, as XLA allocates them (default: 80% of the memory available on
            the default device when the run is first called). Checked before anything
            runs. If it does not fit, the factors that index the samples of one global
            latent (in no plate; then two, ...) are left lazy and evaluated one sample of
            that latent at a time inside every query (:mod:`jaxis._chunking`; the trace's
            ``chunks`` says how many), when that run and its marginals fit; results equal
            the unchunked run's with the same key up to float rounding (posterior draws
            too), and each query then re-scores the heavy factors. If no chunking
            fits (or the model has a ``scan`` chain, or ``mesh`` is given), a
            ``ValueError`` names the largest K that fits unchunked.
        check_memory: ``False`` skips that check (for a caller that compiles and checks
            the whole computation the run is part of, as ``jaxis run`` does).
        params: values for ``numpyro.param`` sites of the model and guide (e.g. trained
            with ``numpyro.infer.SVI`` and ``jaxis.MPELBO``: ``svi.get_params(state)``);
            ``None`` uses each param site's initial value.
        enumerate: which discrete latents are summed exactly over their support instead
            of sampled (their "samples" are the S support values, ``K_i = S``):
            ``"auto"`` (default) enumerates sites marked ``infer={"enumerate":
            "parallel"}`` and every other finite-support latent with at most K values;
            ``"marked"`` only the marked ones. With a guide, a discrete latent the guide
            does not sample is enumerated (numpyro's convention).
        dedup_rows: within a plate that holds no latent, evaluate an observed site's
            log density once per element of its other plates when its parameters do not
            vary along that plate (replicates, repeated trials, i.i.d. data), summing the
            observed values' sufficient statistics instead (exact; Bernoulli, Binomial,
            Poisson, Normal, HalfNormal; see ``jaxis/trace/_row_stats.py``); other
            observed sites are summed over such plates where they are scored (under
            ``jax.checkpoint``: a cheaper gradient). ``False`` evaluates every row and
            sums in the contraction. The results are the same.
        mesh: a ``jax.sharding.Mesh``: one plate is split over all of its devices (sample
            dims replicated) with JAX's sharding: the model's array arguments along that
            plate, its log factors and samples, and the queries that contract them. By
            default the plate covering the most work among those whose size the device
            count divides; results equal the one-device run up to float rounding
            (``jaxis/_sharding.py``). The memory check is per device.
        shard_plate: the name of the plate to split (needs ``mesh``); a ``ValueError``
            names it when the device count does not divide its size.
        layout: ``"forward"`` (default) or ``"reverse"``: the order of the latents' axes
            where the model's arithmetic runs, chosen for the forward pass or for a
            reverse pass through the draws (reparameterised gradients; ``jaxis.MPELBO``
            uses it). The draws and every result are the same
            (:func:`~jaxis.trace._axes.dim_order`).

    Model arguments: array leaves (numpy or jax arrays, Python floats) are traced, so new
    data of the same shape reuse the compilation and ``run`` may be vmapped over datasets;
    other leaves (ints, strings, ``None``) are static. A leaf the model needs concrete
    (``num_classes = int(np.max(labels)) + 1``, a Python ``if`` on data) is found on the
    first call and kept concrete, as under numpyro's MCMC; the run then compiles once per
    distinct value of that leaf. Passed as a traced jax array (inside the caller's
    ``jax.jit`` or ``jax.vmap``) such a leaf raises a ``ValueError`` naming the argument:
    pass it as a numpy array, or compute the value outside the model and pass an int.

    Model code must broadcast over the sample axes: every latent gets K samples on its own
    leading axis, left of the plate dims. Code that is not broadcast-safe
    (``jnp.dot(x, beta)``, ``loc[z]``, ``w.reshape(2, 2)``) raises a ``ValueError`` naming
    the site and the rewrite (``(x * beta).sum(-1)``, ``Vindex(loc)[..., z]``), before
    anything is allocated, also when K equals a data size.

    Building twice with the same model function and options returns the same run (its
    compilations are reused), so ``mpis(model, K=10)`` may be called inside a loop.

    Returns:
        ``run``; its :class:`MPTrace` holds ``samples`` (``site -> (K, *site shape)`` per
        latent) and the factors from which :func:`jaxis.log_evidence` contracts ``log P_MP
        = log (1/K^n) sum_k p(x, z^k) / prod_i q(z_i^{k_i} | ...)`` over all K^n index
        combinations (Bowyer, Heap, Aitchison 2023, eq. 9).

    Example:
        >>> import jax, jax.numpy as jnp, numpyro, numpyro.distributions as dist, jaxis
        >>> def model(y):
        ...     mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        ...     with numpyro.plate("groups", 2):
        ...         theta = numpyro.sample("theta", dist.Normal(mu, 1.0))
        ...         numpyro.sample("y", dist.Normal(theta, 0.5), obs=y)
        >>> run = jaxis.mpis(model, K=10)
        >>> mpt = run(jax.random.PRNGKey(0), jnp.array([0.4, 1.2]))
        >>> mpt.samples["mu"].shape, mpt.samples["theta"].shape
        ((10,), (10, 2))
        >>> bool(jnp.isfinite(jaxis.log_evidence(mpt)))
        True
    """
    _check_K(K)
    if params is not None:
        if not isinstance(params, dict):
            raise ValueError(f"params must be a dict of param-site values (e.g. "
                             f"svi.get_params(state)), got {type(params).__name__}.")
        model = handlers.substitute(model, data=params)
        guide = None if guide is None else handlers.substitute(guide, data=params)
    if memory_budget is not None:
        resolve_budget(memory_budget)

    if enumerate not in ENUMERATE_MODES:
        raise ValueError(f"enumerate must be one of {ENUMERATE_MODES}, got {enumerate!r}.")
    if not isinstance(dedup_rows, bool):
        raise ValueError(f"dedup_rows must be True or False, got {dedup_rows!r}.")
    if layout not in ("forward", "reverse"):
        raise ValueError(f"layout must be 'forward' or 'reverse', got {layout!r}.")
    sharding = plate_sharding(mesh, shard_plate)
    options = (enumerate, memory_budget, check_memory, dedup_rows, sharding, layout)
    if params is not None:  # a fresh substituted model: nothing to share
        return _make(model, guide, K, *options)
    return cached_build(model, ("mpis", guide, K, *options),
                        lambda: _make(model, guide, K, *options))


def _make(model, guide, K: int, enumerate: str, memory_budget, check_memory: bool,
          dedup_rows: bool, sharding, layout: str):
    build = functools.partial(_build, model, guide, enumerate=enumerate,
                              dedup_rows=dedup_rows, layout=layout)
    if not check_memory:
        return build(K, guard=None, sharding=sharding)
    relower = lambda k, key, a, kw: build(k, guard=None, sharding=sharding).lower(
        key, *a, **kw)
    chunked: dict = {}

    def build_chunked(spec: ChunkSpec):
        if spec not in chunked:
            chunked[spec] = build(K, guard=None, chunks=spec)
        return chunked[spec]

    fallback = None if sharding is not None else chunk_fallback(build_chunked, mp_peak)
    guard = budget_guard("MP IS", K, memory_budget, mp_peak, relower, fallback)
    return build(K, guard=guard, sharding=sharding)


def mp_peak(lowered) -> int:
    """Peak bytes of an MP run and of the log-evidence contraction of its trace (for a
    chunked run: of its marginals, forward and backward pass, which re-score every chunk).

    The contraction runs while the run's outputs are alive:
    ``max(run, run arguments + run outputs + contraction temporaries and output)``.
    """
    from .queries._moments import _marginals_impl, _mp_log_evidence  # the query stage

    run = lowered.compile()
    out = lowered.out_info
    if not out.log_factors:  # nothing to contract
        return compiled_peak(run) + RUNTIME_ALLOWANCE
    if out.lazy is None:
        query = _mp_log_evidence.lower(out)
    else:  # the backward pass of marginals: it re-scores every chunk
        J0 = {lat.name: jax.ShapeDtypeStruct(out.graph.shape((lat.name,), lat.plates),
                                             out.dtype) for lat in out.graph.latents}
        query = _marginals_impl.lower(out, J0)
    after = (compiled_peak(run) - run.memory_analysis().temp_size_in_bytes
             + compiled_peak(query.compile(), with_arguments=False))
    return max(compiled_peak(run), after) + RUNTIME_ALLOWANCE


def structure_graph(model, guide, structure: ModelStructure, K: int, args: tuple,
                    kwargs: dict) -> FactorGraph:
    """The factor graph, read from an abstract run with a different sample count per latent.

    Nothing is allocated (``jax.eval_shape``); every sample axis is identified by its size,
    so model code that moves sample axes is rejected instead of misread.
    """
    arg_dims = [d for leaf in jax.tree_util.tree_leaves((args, kwargs)) for d in np.shape(leaf)]
    sizes = distinct_sizes(structure, arg_dims)
    found: dict = {}

    def shapes():
        pt = parallel_trace(jax.random.PRNGKey(0), model, guide, sizes=sizes,
                            structure=structure, args=args, kwargs=kwargs)
        found["parents"], found["chains"] = pt.parents, pt.chains
        return mp_log_factors(structure, pt.log_p, pt.log_q, 1), pt.deterministic

    factors, dets = jax.eval_shape(shapes)
    shapes_ = {n: tuple(v.shape) for n, v in {**factors, **dets}.items()}
    return build_graph(structure, K, shapes_, sizes, found["parents"], found["chains"])


def _in_place(value: jax.Array, det) -> jax.Array:
    """A deterministic whose trailing dims sit in the plate region: move them right of it."""
    if not det.inplace:
        return value
    shape = jnp.shape(value)
    e = det.event_ndim
    return jnp.reshape(value, shape[:len(shape) - e] + (1,) * e + shape[len(shape) - e:])


def _build(model, guide, K: int, *, enumerate: str, guard, dedup_rows: bool = False,
           sharding=None, chunks: Optional[ChunkSpec] = None, layout: str = "forward"
           ) -> Callable[..., MPTrace]:
    """The jitted run (with ``guard`` checking each new signature, or none), split over
    ``sharding``'s mesh (:mod:`jaxis._sharding`) if given, its heavy factors left to be
    evaluated in ``chunks`` (:mod:`jaxis._chunking`) if given."""

    def structure_of(args, kwargs):
        return model_structure(model, guide, args, kwargs, K, enumerate)

    def run(rng_key, *args, **kwargs) -> MPTrace:
        structure = structure_of(args, kwargs)
        graph = structure_graph(model, guide, structure, K, args, kwargs)
        order = dim_order(graph, reverse=layout == "reverse")
        if order != structure.dim_latents():  # the largest factor without size-1 sample axes
            structure = structure._replace(dim_order=order)
            graph = structure_graph(model, guide, structure, K, args, kwargs)
        plate = None if sharding is None else choose_plate(graph, sharding)
        if plate is not None:
            args, kwargs = shard_arguments((args, kwargs), graph, sharding, plate)
        pt = parallel_trace(rng_key, model, guide, sizes=structure.sizes(K),
                            structure=structure, args=args, kwargs=kwargs,
                            dedup_rows=dedup_rows)
        lazy = None if chunks is None else lazy_factors(
            model, structure, graph, chunks, pt.log_q, args, kwargs, dedup_rows)
        heavy = () if lazy is None else lazy.static.heavy
        factors = mp_log_factors(structure, pt.log_p, pt.log_q, K,
                                 [f.name for f in graph.factors if f.name not in heavy])
        log_factors = [None if f.name in heavy else
                       compact_factor(graph, f, factors[f.name], pt.presummed)
                       for f in graph.factors]
        dets = {d.name: to_compact(graph, _in_place(pt.deterministic[d.name], d), d.name,
                                   d.kvars, d.varying, event_ndim=d.event_ndim)
                for d in graph.deterministics}
        samples = {}
        for lat in graph.latents:
            shape = (lat.size,) + lat.batch_shape + lat.event_shape
            samples[lat.name] = jnp.reshape(pt.values[lat.name], shape)
        mpt = MPTrace(samples, log_factors, dets, pt.perms, graph, pt.score, lazy)
        return mpt if plate is None else shard_trace(mpt, sharding, plate)

    return filter_jit(run, precheck=structure_of, guard=guard, model=model)
