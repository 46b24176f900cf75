"""Plan a plated tensor-variable-elimination of log factors, once, from static shapes.

Plates form a tree. The deepest plate set ("leaf") is processed first: its factors are
contracted, summing out the sample indices of the latents that live exactly in that plate
set, and the result is reduced over the plates that separate the leaf from its parent (a
product over plate elements, i.e. a sum of logs). The result becomes a factor of the parent.
The plan is a tuple of :class:`Step`; it depends only on static data and is cached.

Reference: Obermeyer et al. 2019, *Tensor variable elimination for plated factor graphs*,
Algorithm 1.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

from ..graph._graph import FactorGraph

TermSpec = tuple[tuple[str, ...], tuple[str, ...]]  # (kvars, plates), canonical order


class Step(NamedTuple):
    """Contract ``inputs`` summing ``sum_vars`` (zero or one latent); then sum logs over the
    ``reduce`` plates.

    The output (term id ``len(terms) + step index``) has dims ``(out_kvars, out_plates)``.
    """

    inputs: tuple[int, ...]
    sum_vars: tuple[str, ...]
    kvars: tuple[str, ...]  # kvars of the contraction output (= out_kvars)
    plates: tuple[str, ...]  # plates of the contraction output (before reduction)
    reduce: tuple[str, ...]

    @property
    def out_plates(self) -> tuple[str, ...]:
        return tuple(p for p in self.plates if p not in self.reduce)


@functools.lru_cache(maxsize=256)
def plan_contraction(graph: FactorGraph, terms: tuple[TermSpec, ...]) -> tuple[Step, ...]:
    """Elimination schedule for ``terms`` (the graph's factors plus any source terms).

    Within a plate set, latents are eliminated one at a time (greedily, smallest result
    first), each by one einsum over the terms that hold it; a last step adds the remaining
    terms and reduces the plates. One variable per step is what lets the sampler walk the
    schedule backwards.
    """
    chained = {c.latent for c in graph.chains}  # reduced before (jaxis.contract._chain)
    latent_ord = {lat.name: frozenset(lat.plates) for lat in graph.latents
                  if lat.name not in chained}
    term_dims = {i: (frozenset(k), frozenset(p)) for i, (k, p) in enumerate(terms)}
    by_ord: dict[frozenset, list[int]] = {}
    for i, (_, plates) in term_dims.items():
        by_ord.setdefault(plates, []).append(i)
    vars_by_ord: dict[frozenset, set] = {}
    for name, ordinal in latent_ord.items():
        vars_by_ord.setdefault(ordinal, set()).add(name)

    pending = set(by_ord) | set(vars_by_ord)
    steps: list[Step] = []

    def add(inputs, sum_vars, kvars, leaf, reduce) -> int:
        ks, ps = graph.canonical(kvars, leaf)
        _, red = graph.canonical((), reduce)
        steps.append(Step(tuple(inputs), tuple(sum_vars), ks, ps, red))
        return len(terms) + len(steps) - 1

    while pending:
        leaf = max(pending, key=lambda o: (len(o), sorted(o)))
        pending.discard(leaf)
        here = list(by_ord.pop(leaf, ()))
        remaining = set(vars_by_ord.pop(leaf, set()))
        while remaining:
            def cost(v):
                ks = frozenset().union(*(term_dims[i][0] for i in here if v in term_dims[i][0]))
                return (len(ks), graph.latent(v).order)
            v = min(remaining, key=cost)
            remaining.discard(v)
            ins = [i for i in here if v in term_dims[i][0]]
            kvars = frozenset().union(*(term_dims[i][0] for i in ins)) - {v}
            new_id = add(ins, (v,), kvars, leaf, ())
            term_dims[new_id] = (kvars, leaf)
            here = [i for i in here if i not in ins] + [new_id]
        kvars = frozenset().union(*(term_dims[i][0] for i in here))
        if leaf:
            need = frozenset().union(*(latent_ord[k] for k in kvars))
            candidates = [o for o in pending | {frozenset()} if o < leaf and need <= o]
            if not candidates:
                raise ValueError(
                    f"Plates {sorted(leaf)} cannot be reduced: their factors depend on latents "
                    f"in plates {sorted(need)} that do not nest inside them."
                )
            parent = max(candidates, key=lambda o: (len(o), sorted(o)))
        else:
            parent = frozenset()
        new_id = add(here, (), kvars, leaf, leaf - parent)
        if leaf:
            term_dims[new_id] = (kvars, parent)
            by_ord.setdefault(parent, []).append(new_id)
            pending.add(parent)
    return tuple(steps)
