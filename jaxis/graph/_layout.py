"""Layouts of the factor graph's arrays: positional (numpyro-enum) <-> canonical compact.

The model's own arithmetic produces every log factor in numpyro's *positional* layout: one
axis per latent's sample dim (``LatentSpec.dim``, right-aligned with the plates), size 1
where the factor does not depend on that latent. The contraction keeps the *canonical
compact* layout (:mod:`jaxis.graph._graph`): only the factor's own sample axes, in
canonical order (``LatentSpec.order``), then its plates. Converting squeezes the size-1
axes (a reshape) and, where :func:`jaxis.trace._axes.dim_order` moved the dims away from
proposal order, transposes the sample axes.
"""
from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from ._graph import FactorGraph, FactorSpec


def check_layout(graph: FactorGraph, batch: tuple[int, ...], name: str, kvars, plates
                 ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(batch padded to the positional rank, the full positional shape)``.

    Raises if ``batch`` differs from the structure pass (model code whose shapes depend
    on K).
    """
    rank = max(len(batch), graph.plate_depth + len(graph.latents))
    full = graph.positional_shape(kvars, plates, rank)
    padded = (1,) * (rank - len(batch)) + tuple(batch)
    if any(s not in (1, f) for s, f in zip(padded, full)):
        raise ValueError(
            f"Site {name!r} has batch shape {tuple(batch)} with K={graph.K} samples per "
            f"latent, which does not fit its structure (sample axes {kvars}, plates "
            f"{tuple(plates)}): its model code is not broadcast-safe "
            "(shapes depend on the number of samples). Write it with broadcasting only."
        )
    return padded, full


def to_compact(
    graph: FactorGraph, array: jax.Array, name: str, kvars, plates, summed=(), event_ndim=0
) -> jax.Array:
    """Positional (numpyro-enum layout) array -> canonical compact layout.

    Sums over the latent-free plates ``summed`` on the way; keeps ``event_ndim`` trailing
    dims. Raises if the array's shape differs from the structure pass (model code whose
    shapes depend on K).
    """
    shape = jnp.shape(array)
    batch, event = shape[:len(shape) - event_ndim], shape[len(shape) - event_ndim:]
    padded, full = check_layout(graph, batch, name, kvars, tuple(plates) + tuple(summed))
    array = jnp.broadcast_to(jnp.reshape(array, padded + event), full + event)
    if summed:
        array = jnp.sum(array, axis=tuple(graph.plate(p).dim - len(event) for p in summed))
    return squeeze_positional(graph, array, kvars, plates, len(event))


def _dim_sorted(graph: FactorGraph, kvars) -> tuple[str, ...]:
    return tuple(sorted(kvars, key=lambda n: graph.latent(n).dim))


def squeeze_positional(graph: FactorGraph, array: jax.Array, kvars, plates,
                       extra_ndim: int = 0) -> jax.Array:
    """A positional array of full shape (``positional_shape(kvars, plates, rank)`` and
    ``extra_ndim`` trailing dims) -> canonical compact layout: a reshape, then a transpose
    of the sample axes where the positional dims are ordered differently."""
    extra = jnp.shape(array)[jnp.ndim(array) - extra_ndim:]
    by_dim = _dim_sorted(graph, kvars)
    array = jnp.reshape(array, graph.shape(by_dim, plates) + extra)
    if by_dim == tuple(kvars):
        return array
    perm = [by_dim.index(k) for k in kvars]
    return jnp.transpose(array, perm + list(range(len(perm), jnp.ndim(array))))


def compact_factor(graph: FactorGraph, spec: FactorSpec, array: jax.Array,
                   presummed: Mapping[str, tuple]) -> jax.Array:
    """A factor's positional log density -> compact layout, summed over its latent-free
    plates (except those ``presummed`` already summed where the site was scored: the
    unsummed shape ``presummed[name].batch_shape`` is checked instead)."""
    summed = spec.summed
    if spec.name in presummed:
        done = presummed[spec.name]
        check_layout(graph, done.batch_shape, spec.name, spec.kvars, spec.plates + spec.summed)
        summed = tuple(p for p in summed if p not in done.plates)
    return to_compact(graph, array, spec.name, spec.kvars, spec.plates, summed,
                      graph.prev_ndim(spec.name))
