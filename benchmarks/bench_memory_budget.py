"""Acceptance of issue 14, item 1: chimpanzees at K=40 within a 4 GB memory budget.

The unchunked K=40 run needs the K^5 x 42 observation factor (17 GB in float32, and its
K^5 x 420 logits before the sum over repeats), so ``mpis(..., memory_budget=4e9)`` keeps
the factors that index the chosen global latents lazy and evaluates them chunk by chunk
(``jaxis/_chunking.py``). This script

1. runs K (default 40) with ``memory_budget=int(4e9)``: the run (with the guard's choice of
   chunking, compiled), ``log_evidence``, ``marginals`` and 100 exact posterior draws,
   timed; the process's peak RSS (``VmHWM``) after them;
2. at K=20 (both fit) runs unchunked and chunked (a budget between the two peaks) with
   the same key, and prints the largest differences of log Z, marginals and moments and
   the share of identical posterior draws.

Run: ``JAXIS_DATA_DIR=... python benchmarks/bench_memory_budget.py [K] [--budget B]
[--compare-K 20] [--json F]``.
"""
from __future__ import annotations

import argparse
import json
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
    seconds = time.perf_counter() - t0
    print(f"  {label}: {seconds:.1f} s", flush=True)
    return out, seconds


def main(K: int, budget: float = 4e9, compare_K: int = 20) -> dict:
    import jax
    import jax.numpy as jnp

    import jaxis
    from jaxis.models import chimpanzees

    data = chimpanzee_data()
    key = jax.random.PRNGKey(0)
    fns = {"alpha": lambda v: v, "alpha_actor": lambda v: v}
    res = {"K": K, "memory_budget": budget, "compare_K": compare_K}

    print(f"K={K}, memory_budget={budget:.3g} (peak RSS before: {vm_hwm_gb():.2f} GB)", flush=True)
    run = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=K, memory_budget=int(budget))
    mpt, res["run_s"] = timed("run (guard, chunk choice, compile, draws)", run, key, *data)
    print(f"  chunks: {mpt.chunks} over {mpt.lazy.static.spec.latents if mpt.lazy else ()}")
    lz, res["log_evidence_s"] = timed("log_evidence (compile + run)", jaxis.log_evidence, mpt)
    w, res["marginals_s"] = timed("marginals (compile + run)", jaxis.marginals, mpt)
    d, res["draws_100_s"] = timed("100 exact posterior draws (compile + run)",
                                  jaxis.sample_posterior, jax.random.PRNGKey(1), mpt, 100)
    res.update(chunks=int(mpt.chunks), log_z=float(lz))
    print(f"  log Z = {float(lz):.3f}; marginals sum to 1: "
          f"{bool(all(jnp.allclose(v.sum(0), 1, atol=1e-4) for v in w.values()))}")
    res["rss_gb"] = vm_hwm_gb()
    print(f"  peak RSS (VmHWM) after K={K}: {res['rss_gb']:.2f} GB", flush=True)

    C = compare_K
    print(f"K={C}: unchunked vs chunked, same key", flush=True)
    whole = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=C)(key, *data)

    need = mp_peak(jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=C).lower(key, *data))
    chunked_run = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=C,
                             memory_budget=int(need * 0.6))
    part, _ = timed("chunked run", chunked_run, key, *data)
    print(f"  unchunked need {need / 1e9:.2f} GB; chunked budget {0.6 * need / 1e9:.2f} GB: "
          f"{part.chunks} chunks")
    a = jaxis.log_evidence(whole)
    b, _ = timed("chunked log_evidence", jaxis.log_evidence, part)
    res["compare_log_z_rel_diff"] = abs(float(a - b) / float(a))
    print(f"  log Z: {float(a):.6f} vs {float(b):.6f} "
          f"(rel diff {res['compare_log_z_rel_diff']:.2e})")
    wa = jaxis.marginals(whole)
    wb, _ = timed("chunked marginals", jaxis.marginals, part)
    res["compare_marginals_max_diff"] = max(float(jnp.max(jnp.abs(wa[n] - wb[n]))) for n in wa)
    print("  max |marginal diff|:", res["compare_marginals_max_diff"])
    ma, mb = jaxis.moments(whole, fns), jaxis.moments(part, fns)
    res["compare_moments_max_diff"] = max(float(jnp.max(jnp.abs(ma[n] - mb[n]))) for n in ma)
    print("  max |moment diff|:", res["compare_moments_max_diff"])
    ia, ib = (jaxis.sample_indices(jax.random.PRNGKey(1), t, 100) for t in (whole, part))
    res["compare_draws_equal"] = float(jnp.mean(jnp.stack(
        [jnp.mean(ia[n] == ib[n]) for n in ia])))
    print("  share of identical draws (same key):", res["compare_draws_equal"])
    res["rss_gb_end"] = vm_hwm_gb()
    print(f"  peak RSS (VmHWM) at the end: {res['rss_gb_end']:.2f} GB")
    stats = jax.devices()[0].memory_stats()  # None on CPU
    res["device_peak_gb"] = stats["peak_bytes_in_use"] / 2**30 if stats else None
    return res


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("K", type=int, nargs="?", default=40)
    p.add_argument("--budget", type=float, default=4e9, help="memory_budget in bytes")
    p.add_argument("--compare-K", type=int, default=20,
                   help="K of the unchunked-against-chunked comparison")
    p.add_argument("--json", default="", help="write the results to this JSON file")
    a = p.parse_args()
    result = main(a.K, a.budget, a.compare_K)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
