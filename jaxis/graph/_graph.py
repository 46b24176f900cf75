"""The factor graph over per-latent sample indices: a static, hashable description.

Every factor of the MP estimator is a log-space tensor over the sample indices ``k_j`` of
the latents it depends on and over the plates it lies in:

- latent site ``i``: ``log p(z_i^{k_i} | z_pa^{k_pa}) - log q_mix(z_i^{k_i}) - log K``
- observed site:     ``log p(x | z_pa^{k_pa})``

so that ``P_MP = sum_k prod_f exp(F_f)`` (Bowyer, Heap, Aitchison 2023, eqs. 18-23).

Arrays are kept in a *canonical compact layout*: sample axes of the factor's latents first
(latest latent in proposal order first), then its plates, outermost first. Any subset of
dims in this global order is itself in order, so aligning two factors is a reshape. The
positional sample dims may be ordered differently (:func:`jaxis.trace._axes.dim_order`
moves the largest factor's latents next to the plates); the conversions
(:mod:`jaxis.graph._layout`) transpose the sample axes, so the compact layout, and with it
the contraction, does not depend on that choice.
"""
from __future__ import annotations

import warnings
from itertools import combinations
from typing import Mapping, NamedTuple, Sequence

from ..trace._axes import read_axes
from ..trace._scan_structure import ChainSpec
from ..trace._structure import ModelStructure, PlateInfo
from ._chains import check_chains, check_scan_use


class LatentSpec(NamedTuple):
    """A latent site: its positional sample dim, plates and numpyro's one-draw shapes.

    ``proposal_parents``: the latents its proposal was drawn given (paired tuples, see
    :mod:`jaxis.trace._mp_sample`); empty for a factorised proposal. ``blocks``: its batch
    dims outside every plate (negative), one joint block with one sample index.
    ``size``: its number of samples, K, or the support size of an enumerated latent.
    ``order``: its canonical rank, ``-(P + 1 + i)`` for the ``i``-th latent in proposal
    order (its positional ``dim`` when no dims are reordered).
    """

    name: str
    dim: int
    plates: tuple[str, ...]
    batch_shape: tuple[int, ...]
    event_shape: tuple[int, ...]
    proposal_parents: tuple[str, ...] = ()
    blocks: tuple[int, ...] = ()
    size: int = 1
    order: int = 0

    @property
    def plated_shape(self) -> tuple[int, ...]:
        """``batch_shape`` without the block dims: one sample index per element."""
        n = len(self.batch_shape)
        return tuple(s for i, s in enumerate(self.batch_shape) if i - n not in self.blocks)


class DeterministicSpec(NamedTuple):
    """A deterministic site, stored compactly: ``(K,) * len(kvars) + plate sizes + event``.

    ``plates`` are the plates it is declared in, ``varying`` those its value varies along,
    ``batch_shape`` numpyro's one-draw value shape and ``event_ndim`` its trailing non-plate
    dims. ``inplace``: those dims sit in the plate region of the positional layout (a value
    computed from block sites, whose dims stay in place), not right of it.
    """

    name: str
    kvars: tuple[str, ...]
    plates: tuple[str, ...]
    varying: tuple[str, ...]
    batch_shape: tuple[int, ...]
    event_ndim: int
    inplace: bool = False


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
    deterministics: tuple[DeterministicSpec, ...] = ()
    chains: tuple[ChainSpec, ...] = ()  # Markov chains of scans (jaxis.contract._chain)

    def prev_ndim(self, factor: str) -> int:
        """1 for a chain factor (one trailing axis: the previous step's index), else 0."""
        return int(any(factor in c.factors for c in self.chains))

    def latent(self, name: str) -> LatentSpec:
        for lat in self.latents:
            if lat.name == name:
                return lat
        raise ValueError(
            f"{name!r} is not a latent site; latent sites are {[l.name for l in self.latents]}."
        )

    def plate(self, name: str) -> PlateInfo:
        return next(p for p in self.plates if p.name == name)

    def canonical(self, kvars, plates) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Order sample axes by canonical rank (latest latent first), plates by positional
        dim (outermost first)."""
        ks = tuple(sorted(set(kvars), key=lambda n: self.latent(n).order))
        ps = tuple(sorted(set(plates), key=lambda n: self.plate(n).dim))
        return ks, ps

    def size(self, name: str) -> int:
        """Samples of a latent: K, or the support size of an enumerated one."""
        return self.latent(name).size

    def shape(self, kvars: Sequence[str], plates: Sequence[str]) -> tuple[int, ...]:
        return tuple(self.size(k) for k in kvars) + tuple(self.plate(p).size for p in plates)

    def positional_shape(self, kvars, plates, rank: int) -> tuple[int, ...]:
        """The positional (numpyro-enum) shape of a compact array, padded to ``rank``."""
        shape = [1] * rank
        for n in kvars:
            shape[self.latent(n).dim] = self.size(n)
        for p in plates:
            shape[self.plate(p).dim] = self.plate(p).size
        return tuple(shape)


def build_graph(
    structure: ModelStructure,
    K: int,
    shapes: Mapping[str, tuple[int, ...]],
    sizes: Mapping[str, int],
    parents: Mapping[str, tuple[str, ...]],
    chains: Sequence[ChainSpec] = (),
) -> FactorGraph:
    """Build the static factor graph from the structure pass.

    Args:
        shapes: positional shape of every log factor (latent and observed sites) and of
            every deterministic value, traced with ``sizes`` samples per latent.
        sizes: pairwise different sample counts (:func:`~jaxis.trace._axes.distinct_sizes`),
            so that every sample axis is identified by its size.
        parents: each latent's proposal parents.
        chains: the Markov chains of scans; their factors' shapes have a trailing axis.
    """
    latent_specs = []
    for name in structure.latents:
        site = structure.site(name)
        latent_specs.append(
            LatentSpec(name, structure.latent_dim(name), site.plates, site.batch_shape,
                       site.event_shape, tuple(parents.get(name, ())), site.blocks,
                       site.enum_size or K,
                       -(structure.plate_depth + 1 + structure.latents.index(name)))
        )
    graph = FactorGraph(K, structure.plate_depth, structure.plates, tuple(latent_specs), (),
                        chains=tuple(chains))
    latent_plates = {p for lat in latent_specs for p in lat.plates}
    factors, dets = [], []
    for site in structure.sites:
        if site.kind == "deterministic":
            det = _deterministic_spec(graph, site, shapes[site.name], structure, sizes)
            if det is not None:
                dets.append(det)
            continue
        shape = shapes[site.name]
        kvars, plates = read_axes(site.name, shape[:len(shape) - graph.prev_ndim(site.name)],
                                  site.plates, structure, sizes)
        plates |= set(site.plates)  # numpyro counts a site once per element of its plates
        if site.kind == "latent":
            kvars.add(site.name)
        for k in kvars:
            outside = set(graph.latent(k).plates) - plates
            if outside:
                check_scan_use(site.name, k, outside, structure)
                raise ValueError(
                    f"Site {site.name!r} depends on latent {k!r}, which lies in plate(s) "
                    f"{sorted(outside)} that {site.name!r} is not in. Each plate element of "
                    f"{k!r} has its own sample index, so {site.name!r} must be inside "
                    f"{sorted(outside)} too."
                )
        ks, ps = graph.canonical(kvars, plates)
        kept = tuple(p for p in ps if p in latent_plates)
        factors.append(FactorSpec(site.name, ks, kept, tuple(p for p in ps if p not in kept)))
    graph = graph._replace(factors=tuple(factors), deterministics=tuple(dets))
    check_chains(graph)
    check_nested(graph)
    return graph


def _deterministic_spec(graph, site, shape, structure, sizes):
    """Read a deterministic site's sample axes; ``None`` (with a warning) if it mixes them.

    Its trailing non-plate dims are read as appended right of the positional layout, or
    else (a value of block sites) in place, inside the plate region.
    """
    depth = max([-graph.plate(p).dim for p in site.plates] + [0])
    event = max(0, len(site.batch_shape) - depth)
    own = {graph.plate(p).dim for p in site.plates}
    trailing = next((e for e in range(len(site.batch_shape)) if -(e + 1) in own),
                    len(site.batch_shape))  # trailing dims in none of its plates
    readings = [(event, tuple(shape[:len(shape) - event]), False)]
    if 0 < trailing <= graph.plate_depth:
        readings.append((trailing, tuple(shape[:len(shape) - trailing]) + (1,) * trailing, True))
    for i, (event, batch, in_place) in enumerate(readings):
        try:
            kvars, plates = read_axes(site.name, batch, site.plates, structure, sizes)
        except ValueError as e:
            if i + 1 < len(readings):
                continue
            warnings.warn(
                f"Deterministic site {site.name!r} is left out of the MP trace and its "
                f"posterior draws: its value mixes samples of several plate elements or "
                f"latents ({e}) so it has no value per sample index. Compute it from the "
                "draws of jaxis.sample_posterior, or with jaxis.predictive.", stacklevel=4,
            )
            return None
        ks, ps = graph.canonical(kvars, plates)
        return DeterministicSpec(site.name, ks, site.plates, ps, site.batch_shape, event,
                                 in_place)


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
