"""The factor graph over per-latent sample indices: a static, hashable description.

Every factor of the MP estimator is a log-space tensor over the sample indices ``k_j`` of
the latents it depends on and over the plates it lies in:

- latent site ``i``: ``log p(z_i^{k_i} | z_pa^{k_pa}) - log q_mix(z_i^{k_i}) - log K``
- observed site:     ``log p(x | z_pa^{k_pa})``

so that ``P_MP = sum_k prod_f exp(F_f)`` (Bowyer, Heap, Aitchison 2023, eqs. 18-23).

Arrays are kept in a *canonical compact layout*: sample axes of the factor's latents first
(latest latent first, i.e. in positional order), then its plates, outermost first. Any
subset of dims in this global order is itself in order, so aligning two factors is a reshape.
"""
from __future__ import annotations

from itertools import combinations
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from ..trace._structure import ModelStructure, PlateInfo


class LatentSpec(NamedTuple):
    """A latent site: its positional sample dim, plates and numpyro's one-draw shapes."""

    name: str
    dim: int
    plates: tuple[str, ...]
    batch_shape: tuple[int, ...]
    event_shape: tuple[int, ...]


class FactorSpec(NamedTuple):
    """A log factor's dims: the latents whose sample index it uses, and its plates.

    ``summed`` are plates that hold no latent: the factor is summed over them (a product
    over plate elements) as soon as it is computed, so XLA fuses that sum into the
    log-density evaluation and the unsummed factor is never materialised.
    """

    name: str
    kvars: tuple[str, ...]
    plates: tuple[str, ...]
    summed: tuple[str, ...] = ()


class FactorGraph(NamedTuple):
    """Static description of the MP factor graph (hashable; safe as jit static data)."""

    K: int
    plate_depth: int
    plates: tuple[PlateInfo, ...]
    latents: tuple[LatentSpec, ...]
    factors: tuple[FactorSpec, ...]
    deterministics: tuple[LatentSpec, ...] = ()  # dim unused (0); batch_shape = value shape

    def latent(self, name: str) -> LatentSpec:
        for lat in self.latents:
            if lat.name == name:
                return lat
        raise KeyError(
            f"{name!r} is not a latent site; latent sites are {[l.name for l in self.latents]}."
        )

    def plate(self, name: str) -> PlateInfo:
        return next(p for p in self.plates if p.name == name)

    def canonical(self, kvars, plates) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Order sample axes by positional dim (outermost first), plates likewise."""
        ks = tuple(sorted(set(kvars), key=lambda n: self.latent(n).dim))
        ps = tuple(sorted(set(plates), key=lambda n: self.plate(n).dim))
        return ks, ps

    def shape(self, kvars: Sequence[str], plates: Sequence[str]) -> tuple[int, ...]:
        return (self.K,) * len(kvars) + tuple(self.plate(p).size for p in plates)

    def positional_shape(self, kvars, plates, rank: int) -> tuple[int, ...]:
        """The positional (numpyro-enum) shape of a compact array, padded to ``rank``."""
        shape = [1] * rank
        for n in kvars:
            shape[self.latent(n).dim] = self.K
        for p in plates:
            shape[self.plate(p).dim] = self.plate(p).size
        return tuple(shape)


def _dims_of(
    name: str, shape: tuple[int, ...], own_plates, own_kvar, structure: ModelStructure, K: int
):
    """Read which sample axes and plates a positional log-factor array uses."""
    P = structure.plate_depth
    plates_by_dim = {p.dim: p for p in structure.plates}
    plates, kvars = set(own_plates), set([own_kvar] if own_kvar else [])
    for pos in range(1, len(shape) + 1):
        size = shape[-pos]
        if size == 1:
            continue
        if pos <= P:
            plate = plates_by_dim.get(-pos)
            if plate is None or plate.name not in own_plates:
                where = f"plate {plate.name!r}" if plate else f"dim {-pos}"
                raise ValueError(
                    f"Site {name!r} varies along {where} (size {size}) but is not inside that "
                    "plate: it depends on a latent inside the plate, or its model code reduces "
                    "over a plate dim (e.g. .sum(-1)), which shifts the sample axes. Keep the "
                    "site inside the plate, or give the reduced quantity its own latent."
                )
        else:
            kvars.add(structure.latents[pos - P - 1])
            if size != K:
                raise ValueError(f"Site {name!r}: sample axis {-pos} has size {size} != K={K}.")
    return kvars, plates


def build_graph(
    structure: ModelStructure, K: int, factor_shapes: dict[str, tuple[int, ...]]
) -> FactorGraph:
    """Build the static factor graph from the positional shapes of every log factor."""
    latent_specs = []
    for name in structure.latents:
        site = structure.site(name)
        latent_specs.append(
            LatentSpec(name, structure.latent_dim(name), site.plates, site.batch_shape,
                       site.event_shape)
        )
    graph = FactorGraph(K, structure.plate_depth, structure.plates, tuple(latent_specs), ())
    latent_plates = {p for lat in latent_specs for p in lat.plates}
    factors = []
    for site in structure.sites:
        if site.kind == "deterministic":
            continue
        own = site.name if site.kind == "latent" else None
        kvars, plates = _dims_of(site.name, factor_shapes[site.name], site.plates, own,
                                 structure, K)
        for k in kvars:
            outside = set(graph.latent(k).plates) - plates
            if outside:
                raise ValueError(
                    f"Site {site.name!r} depends on latent {k!r}, which lies in plate(s) "
                    f"{sorted(outside)} that {site.name!r} is not in. Each plate element of "
                    f"{k!r} has its own sample index, so {site.name!r} must be inside "
                    f"{sorted(outside)} too."
                )
        ks, ps = graph.canonical(kvars, plates)
        kept = tuple(p for p in ps if p in latent_plates)
        factors.append(FactorSpec(site.name, ks, kept, tuple(p for p in ps if p not in kept)))
    dets = tuple(LatentSpec(s.name, 0, s.plates, s.batch_shape, ()) for s in structure.sites
                 if s.kind == "deterministic")
    graph = graph._replace(factors=tuple(factors), deterministics=dets)
    check_nested(graph)
    return graph


def check_nested(graph: FactorGraph) -> None:
    """Reject plates whose sets of sites cross (neither nested nor disjoint)."""
    members = {p.name: {f.name for f in graph.factors if p.name in f.plates + f.summed}
               for p in graph.plates}
    for a, b in combinations(members, 2):
        sa, sb = members[a], members[b]
        if sa & sb and not (sa <= sb or sb <= sa):
            raise ValueError(
                f"Plates {a!r} and {b!r} are not nested: sites {sorted(sa - sb)} are only in "
                f"{a!r}, {sorted(sb - sa)} only in {b!r}, and {sorted(sa & sb)} in both. MP IS "
                "contracts tree-structured plates only; nest one plate inside the other."
            )


def to_compact(graph: FactorGraph, array: jax.Array, spec: FactorSpec) -> jax.Array:
    """Positional (numpyro-enum layout) log factor -> canonical compact layout.

    Sums over the factor's latent-free plates (``spec.summed``) on the way.
    """
    rank = max(jnp.ndim(array), graph.plate_depth + len(graph.latents))
    array = jnp.reshape(array, (1,) * (rank - jnp.ndim(array)) + jnp.shape(array))
    full = graph.positional_shape(spec.kvars, spec.plates + spec.summed, rank)
    array = jnp.broadcast_to(array, full)
    if spec.summed:
        array = jnp.sum(array, axis=tuple(graph.plate(p).dim for p in spec.summed))
    return array.reshape(graph.shape(spec.kvars, spec.plates))


def to_positional(graph: FactorGraph, array: jax.Array, kvars, plates, rank: int) -> jax.Array:
    """Canonical compact array (with optional trailing extra dims) -> positional layout."""
    n = len(kvars) + len(plates)
    extra = jnp.shape(array)[n:]
    return jnp.reshape(array, graph.positional_shape(kvars, plates, rank) + extra)
