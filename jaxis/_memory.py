"""Memory guard: XLA's own buffer assignment of a jitted run, checked before it runs.

A compiled XLA computation allocates its arguments, its outputs and one block of
temporaries sized by XLA's buffer assignment (``CompiledMemoryStats``), so its peak
allocation is bounded by

    peak = argument + output + temp + generated code + RUNTIME_ALLOWANCE

where ``RUNTIME_ALLOWANCE`` covers the runtime's own small allocations. Everything the
run builds is counted: log densities before their plate sums, proposal mixtures, the
factors it returns. The guard compiles the run ahead of time (the compilation is shared
with the call that follows, so nothing is compiled twice), compares the peak with a
budget (default: 80% of the memory available when the run is first called) and, if it
does not fit, searches for the largest K that does.

Under ``vmap`` the guard sees one call: the batched computation needs about the batch
size times as much.
"""
from __future__ import annotations

import math
import os
from typing import Callable, Optional

import jax

DEFAULT_FRACTION = 0.8
RUNTIME_ALLOWANCE = 32 * 2**20


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


def resolve_budget(budget: Optional[int]) -> int:
    """``budget`` bytes, or the default fraction of the memory available now."""
    if budget is None:
        return int(DEFAULT_FRACTION * available_memory())
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise ValueError(f"memory_budget must be a positive number of bytes, got {budget!r}.")
    return budget


def compiled_peak(compiled, *, with_arguments: bool = True) -> int:
    """Peak bytes of one call of a compiled computation (see the module docstring)."""
    m = compiled.memory_analysis()
    if m is None:  # a backend without buffer statistics
        return 0
    total = m.output_size_in_bytes + m.temp_size_in_bytes + m.generated_code_size_in_bytes
    if with_arguments:
        total += m.argument_size_in_bytes
    return int(total)


def largest_fitting(need: Callable[[int], int], K: int, need_K: int, budget: int) -> int:
    """The largest ``k < K`` with ``need(k) <= budget`` (0 if none); ``need`` grows with k.

    Each probe compiles, so probes are chosen by fitting ``need(k) - need(1) = a k^d``
    through the two probes nearest the budget (memory grows like a power of K above a
    fixed part), falling back to a geometric bisection of the bracket.
    """
    known = {1: need(1), K: need_K}
    base = known[1]
    if base > budget:
        return 0
    lo, hi = 1, K  # need(lo) <= budget < need(hi)
    target = math.log(max(budget - base, 1))
    while hi - lo > 1:
        pts = sorted(((k, math.log(v - base)) for k, v in known.items() if v > base),
                     key=lambda p: abs(p[1] - target))[:2]
        guess = math.sqrt(lo * hi)
        if len(pts) == 2 and pts[0][1] != pts[1][1]:
            (k1, l1), (k2, l2) = pts
            d = (l2 - l1) / math.log(k2 / k1)
            if d > 0:
                guess = k1 * math.exp((target - l1) / d)
        mid = min(max(int(guess), lo + 1), hi - 1)
        known[mid] = need(mid)
        if known[mid] <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def budget_guard(what: str, K: int, memory_budget: Optional[int],
                 peak: Callable, relower: Callable, fallback: Optional[Callable] = None
                 ) -> Callable:
    """A ``filter_jit`` guard: raise if ``peak(lowered)`` exceeds the budget.

    ``relower(k, rng_key, args, kwargs)`` lowers the same run with ``k`` samples, to find
    the largest K that fits. ``fallback(lowered, rng_key, args, kwargs, budget)``, if
    given, is asked first for a computation that fits instead (returned to ``filter_jit``,
    which then calls it for this signature), or ``None``.
    """
    def guard(lowered, rng_key, args, kwargs):
        budget = resolve_budget(memory_budget)
        need = peak(lowered)
        if need > budget:
            instead = None if fallback is None else fallback(lowered, rng_key, args, kwargs,
                                                             budget)
            if instead is not None:
                return instead
            fits = largest_fitting(lambda k: peak(relower(k, rng_key, args, kwargs)),
                                   K, need, budget)
            raise ValueError(over_budget_message(what, K, need, budget, fits))

    return guard


def over_budget_message(what: str, K: int, need: int, budget: int, fits: int) -> str:
    use = f"Use K <= {fits}" if fits else "No K fits: reduce the data or the model"
    return (
        f"{what} with K={K} needs about {need / 2**30:.2f} GiB at its peak (XLA's buffer "
        f"assignment), over the memory budget of {budget / 2**30:.2f} GiB. {use}, or raise "
        "memory_budget= (bytes) if you know more memory is available."
    )
