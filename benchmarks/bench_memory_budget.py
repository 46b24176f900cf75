"""Acceptance of issue 14, item 1: chimpanzees at K=40 within a 4 GB memory budget.

The unchunked K=40 run needs the K^5 x 42 observation factor (17 GB in float32, and its
K^5 x 420 logits before the sum over repeats), so ``mpis(..., memory_budget=4e9)`` keeps
the factors that index the chosen global latents lazy and evaluates them chunk by chunk
(``jaxis/_chunking.py``). This script

1. runs K (default 40) with ``memory_budget=int(4e9)``: the run (with the guard's choice of
   chunking, compiled), ``log_evidence`` and ``marginals``, timed; the process's peak RSS
   (``VmHWM``) after them;
2. at K=20 (both fit) runs unchunked and chunked (a budget between the two peaks) with
   the same key, and prints the largest differences of log Z, marginals and moments.

Run: ``JAXIS_DATA_DIR=... python benchmarks/bench_memory_budget.py [K]``.
"""
from __future__ import annotations

import sys
import time

from _common import chimpanzee_data

from jaxis._mpis import mp_peak


def vm_hwm_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def timed(label, f, *args):
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(f(*args))
    print(f"  {label}: {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def main(K: int) -> None:
    import jax
    import jax.numpy as jnp

    import jaxis
    from jaxis.models import chimpanzees

    data = chimpanzee_data()
    key = jax.random.PRNGKey(0)
    fns = {"alpha": lambda v: v, "alpha_actor": lambda v: v}

    print(f"K={K}, memory_budget=4e9 (peak RSS before: {vm_hwm_gb():.2f} GB)", flush=True)
    run = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=K, memory_budget=int(4e9))
    mpt = timed("run (guard, chunk choice, compile, draws)", run, key, *data)
    print(f"  chunks: {mpt.chunks} over {mpt.lazy.static.spec.latents if mpt.lazy else ()}")
    lz = timed("log_evidence (compile + run)", jaxis.log_evidence, mpt)
    w = timed("marginals (compile + run)", jaxis.marginals, mpt)
    print(f"  log Z = {float(lz):.3f}; marginals sum to 1: "
          f"{bool(all(jnp.allclose(v.sum(0), 1, atol=1e-4) for v in w.values()))}")
    print(f"  peak RSS (VmHWM) after K={K}: {vm_hwm_gb():.2f} GB", flush=True)

    print("K=20: unchunked vs chunked, same key", flush=True)
    whole = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=20)(key, *data)

    need = mp_peak(jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=20).lower(key, *data))
    chunked_run = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=20,
                             memory_budget=int(need * 0.6))
    part = timed("chunked run", chunked_run, key, *data)
    print(f"  unchunked need {need / 1e9:.2f} GB; chunked budget {0.6 * need / 1e9:.2f} GB: "
          f"{part.chunks} chunks")
    a, b = jaxis.log_evidence(whole), timed("chunked log_evidence", jaxis.log_evidence, part)
    print(f"  log Z: {float(a):.6f} vs {float(b):.6f} (rel diff {abs(float(a - b) / float(a)):.2e})")
    wa, wb = jaxis.marginals(whole), timed("chunked marginals", jaxis.marginals, part)
    print("  max |marginal diff|:", max(float(jnp.max(jnp.abs(wa[n] - wb[n]))) for n in wa))
    ma, mb = jaxis.moments(whole, fns), jaxis.moments(part, fns)
    print("  max |moment diff|:", max(float(jnp.max(jnp.abs(ma[n] - mb[n]))) for n in ma))
    print(f"  peak RSS (VmHWM) at the end: {vm_hwm_gb():.2f} GB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
