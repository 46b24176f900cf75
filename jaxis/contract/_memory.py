"""Memory guard: estimate the largest contraction step before anything is allocated.

The estimate of a step is the bytes of its operands, its contraction output and the
shifted copy of its largest operand (the plan's peak is the largest step, never the union
of all dims). It is compared with a budget, by default 80% of the memory available on the
default device when the run is traced (so it depends on what else is running), and a
``ValueError`` says how large K may be.
"""
from __future__ import annotations

import os
from typing import Optional

import jax

from ..graph._graph import FactorGraph
from ._plan import TermSpec, plan_contraction, step_sizes

DEFAULT_FRACTION = 0.8


def available_memory() -> int:
    """Bytes available on the default device (host RAM for CPU)."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def peak_bytes(graph: FactorGraph, terms: tuple[TermSpec, ...], itemsize: int) -> int:
    """Bytes of the largest contraction step for ``terms``."""
    steps = plan_contraction(graph, terms)
    return itemsize * max(step_sizes(graph, terms, steps), default=0)


def check_memory(
    graph: FactorGraph, terms: tuple[TermSpec, ...], itemsize: int, budget: Optional[int]
) -> int:
    """Raise if the largest step exceeds ``budget`` bytes; return the estimate in bytes."""
    need = peak_bytes(graph, terms, itemsize)
    if budget is None:
        budget = int(DEFAULT_FRACTION * available_memory())
    if need <= budget:
        return need
    lo, hi = 1, graph.K  # largest K that fits, by bisection (sizes grow with K)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if peak_bytes(graph._replace(K=mid), terms, itemsize) <= budget:
            lo = mid
        else:
            hi = mid - 1
    raise ValueError(
        f"MP IS with K={graph.K} needs about {need / 2**30:.2f} GiB in its largest contraction "
        f"step, over the budget of {budget / 2**30:.2f} GiB. Use K <= {lo}, or raise "
        "memory_budget= (bytes) if you know more memory is available."
    )
