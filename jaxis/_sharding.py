"""Sharding an MP run over a device mesh: one plate dim split across the devices.

With ``jaxis.mpis(model, guide, K=K, mesh=mesh)`` one plate ``p`` of the model is split
over every device of ``mesh`` (all its axes together, taken as ``Auto`` axes, whatever
``jax.make_mesh`` made them); sample (K) dims are replicated.
Inside the jitted run, each array that carries ``p`` is constrained to
``NamedSharding(mesh, P(..., mesh.axis_names, ...))`` on that dim: the model's array
arguments of that size (data and covariates), the log factors, the samples and the
deterministics. XLA's SPMD partitioner (GSPMD) propagates the layout through the log
densities and the contraction, which then needs no change: a plate is a product over its
elements, so in log space

    log P_MP = sum_{d in devices} sum_{n in shard d} log P_n(k_outer)

and the plate reduction becomes a sum of per-device partial sums (an all-reduce); the
queries (``log_evidence``, ``marginals``, ``moments``, ``sample_posterior``) are jitted
functions of the sharded trace and are partitioned the same way. Random draws do not
depend on the layout (JAX's partitionable threefry), so results equal the one-device run
up to the summation order of floats.

Which plate: ``shard_plate=`` names one, else the plate whose arrays hold the most
elements (summed over the factors it indexes, summed plates included: the log-density
evaluation is split too), among those whose size the device count divides; ties go to the
larger plate. The time axis of a ``scan`` (a sequential Markov chain) is never sharded. A
plate the device count does not divide is rejected (XLA would replicate it rather than
pad it): the ``ValueError`` names the argument and the plates that would fit.

Reference: Xu et al. 2021, *GSPMD: General and scalable parallelization for ML computation
graphs*; JAX, *Distributed arrays and automatic parallelization*.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from .graph._graph import FactorGraph


class PlateSharding(NamedTuple):
    """A mesh and, optionally, the name of the plate to split over all of its devices."""

    mesh: Mesh
    plate: Optional[str] = None

    @property
    def devices(self) -> int:
        return int(self.mesh.size)

    def constrain(self, x: jax.Array, axis: int) -> jax.Array:
        """``x`` constrained to be split along ``axis`` (other axes replicated)."""
        spec = [None] * np.ndim(x)
        spec[axis] = tuple(self.mesh.axis_names)
        return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, PartitionSpec(*spec)))


def plate_sharding(mesh: Optional[Mesh], shard_plate: Optional[str]) -> Optional[PlateSharding]:
    """Check ``mpis``'s ``mesh=`` and ``shard_plate=`` options; ``None`` without a mesh."""
    if shard_plate is not None and not isinstance(shard_plate, str):
        raise ValueError(f"shard_plate must be a plate name (a str) or None, got {shard_plate!r}.")
    if mesh is None:
        if shard_plate is not None:
            raise ValueError(f"shard_plate={shard_plate!r} needs mesh= (a jax.sharding.Mesh of "
                             "the devices to split the plate over).")
        return None
    if not isinstance(mesh, Mesh):
        raise ValueError(f"mesh must be a jax.sharding.Mesh (e.g. jax.make_mesh(("
                         f"jax.device_count(),), ('data',))) or None, got "
                         f"{type(mesh).__name__}.")
    auto = (AxisType.Auto,) * len(mesh.axis_names)  # GSPMD places everything else
    return PlateSharding(Mesh(mesh.devices, mesh.axis_names, axis_types=auto), shard_plate)


def _time_plates(graph: FactorGraph) -> set:
    return {c.plate for c in graph.chains}


def _covered(graph: FactorGraph, plate: str) -> int:
    """Elements of the arrays indexed by ``plate``: the work a split of it divides."""
    total = 0
    for f in graph.factors:
        dims = f.plates + f.summed
        if plate in dims:
            total += math.prod(graph.shape(f.kvars, dims))
    return total


def choose_plate(graph: FactorGraph, sharding: PlateSharding) -> Optional[str]:
    """The plate to split (see the module docstring); ``None``: nothing to split.

    Raises a ``ValueError`` naming ``shard_plate`` or ``mesh`` when they do not fit.
    """
    n = sharding.devices
    sizes = {p.name: p.size for p in graph.plates}
    listed = ", ".join(f"{k}={v}" for k, v in sizes.items()) or "none"
    time = _time_plates(graph)
    if sharding.plate is not None:
        name = sharding.plate
        if name not in sizes:
            raise ValueError(f"shard_plate={name!r} is not a plate of the model; its plates "
                             f"are: {listed}.")
        if name in time:
            raise ValueError(f"shard_plate={name!r} is the time axis of a scan (a sequential "
                             "Markov chain), which cannot be split; name another plate.")
        if sizes[name] % n:
            raise ValueError(
                f"shard_plate={name!r} has {sizes[name]} elements, which the mesh's {n} "
                f"devices do not divide (plates: {listed}); name a plate whose size is a "
                f"multiple of {n}, or pass a mesh of a divisor of {sizes[name]} devices.")
        return name
    fits = [p for p in sizes if p not in time and sizes[p] % n == 0]
    if not fits:
        if n == 1:
            return None
        raise ValueError(
            f"mesh= has {n} devices, but no plate of the model has a multiple of {n} "
            f"elements (plates: {listed}). Pass a mesh of fewer devices whose number divides "
            "a plate size, e.g. jax.make_mesh((m,), ('data',), devices=jax.devices()[:m]).")
    return max(fits, key=lambda p: (_covered(graph, p), sizes[p]))


def _data_axis(shape: tuple, dim: int, size: int) -> Optional[int]:
    """The axis of a model argument along the plate: numpyro's broadcasting position
    (``dim`` from the right) if it has the plate's size, else the only axis that has."""
    if len(shape) >= -dim and shape[dim] == size:
        return len(shape) + dim
    axes = [i for i, s in enumerate(shape) if s == size]
    return axes[0] if len(axes) == 1 else None


def shard_arguments(tree, graph: FactorGraph, sharding: PlateSharding, plate: str):
    """The model arguments with every traced array along ``plate`` split over the mesh.

    Only traced leaves: a leaf the model needs concrete stays a concrete value.
    """
    info = graph.plate(plate)

    def place(leaf):
        if not isinstance(leaf, jax.core.Tracer):
            return leaf
        axis = _data_axis(np.shape(leaf), info.dim, info.size)
        return leaf if axis is None else sharding.constrain(leaf, axis)

    return jax.tree_util.tree_map(place, tree)


def shard_trace(mpt, sharding: PlateSharding, plate: str):
    """The :class:`~jaxis.MPTrace` with its arrays along ``plate`` split over the mesh.

    Log factors and deterministics are compact (sample axes, then plates, canonical);
    samples are ``(K_i, *batch_shape, *event_shape)`` with plate dims counted from the
    right of the batch shape.
    """
    graph = mpt.graph
    dim = graph.plate(plate).dim
    factors = tuple(
        sharding.constrain(x, len(f.kvars) + f.plates.index(plate)) if plate in f.plates else x
        for f, x in zip(graph.factors, mpt.log_factors))
    dets = {d.name: (sharding.constrain(mpt.deterministic[d.name],
                                        len(d.kvars) + d.varying.index(plate))
                     if plate in d.varying else mpt.deterministic[d.name])
            for d in graph.deterministics}
    samples = {lat.name: (sharding.constrain(mpt.samples[lat.name],
                                             1 + len(lat.batch_shape) + dim)
                          if plate in lat.plates else mpt.samples[lat.name])
               for lat in graph.latents}
    return mpt.replace(log_factors=factors, deterministic=dets, samples=samples)
