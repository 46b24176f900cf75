"""Checks of the Markov chains of scans in the factor graph (see ``jaxis.trace._scan``).

A chain's factors live on its time plate and are reduced by a matrix-chain product over
the body latent's per-step indices (:mod:`jaxis.contract._chain`); what that product
needs of the graph is checked here, with messages that name the site and the fix.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..trace._structure import ModelStructure
    from ._graph import FactorGraph


def check_scan_use(site: str, latent: str, outside: set, structure: "ModelStructure") -> None:
    """``site`` depends on ``latent`` outside plates ``outside``: a scan's latent used
    outside its body (through scan's outputs) gets its own message."""
    scan = next((s for s in structure.scans if s.plate in outside), None)
    if scan is not None:
        raise ValueError(
            f"Site {site!r} uses the samples of scan latent {latent!r} outside the scan "
            "body (through the scan's carry or stacked outputs). Only sites inside the body "
            f"may depend on {latent!r}: move {site!r} into the body, where it sees one time "
            "step at a time."
        )


def check_chains(graph: "FactorGraph") -> None:
    """A chain's initial latent may enter its factors only as the previous step's state."""
    for chain in graph.chains:
        if chain.init is None:
            continue
        users = [f.name for f in graph.factors
                 if f.name in chain.factors and chain.init in f.kvars]
        if users:
            raise ValueError(
                f"The initial carry of the scan over {chain.plate!r} depends on latent "
                f"{chain.init!r}, and the body site(s) {users} use {chain.init!r} directly "
                f"too; jaxis supports an initial state that the body sees through the carry "
                f"only. Sample a separate initial state, or pass {chain.init!r} in the carry."
            )
