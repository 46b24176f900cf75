"""Benchmark: repeated data rows summed from sufficient statistics (``mpis(dedup_rows=...)``).

For each model, ``log_evidence`` of one jitted MP run with ``dedup_rows=True`` and
``False`` (same key, same samples): interleaved warm calls, median seconds, and the
relative difference of the two values (exact up to float rounding). Occupancy's
detections are Bernoulli with parameters constant over the 5 replicates, so its
observation factor is evaluated once per (year, bird, site) instead of 5 times; the
chimpanzee rows vary with the covariates, so nothing changes there.
Run: ``JAXIS_DATA_DIR=... python benchmarks/bench_dedup_rows.py [K]``.
"""
from __future__ import annotations

import os
import sys
import time

from _common import chimpanzee_data


def _occupancy():
    import numpy as np

    from jaxis.datasets import load_occupancy
    from jaxis.models import occupancy

    t = load_occupancy().train
    return occupancy, tuple(np.asarray(t[k], np.float32) for k in ("weather", "quality", "obs"))


def _chimpanzees():
    from jaxis.models import chimpanzees

    return chimpanzees, chimpanzee_data()


def compare(name, spec, args, K, repeats=5):
    import jax
    import numpy as np

    import jaxis

    key, fs, values = jax.random.PRNGKey(0), {}, {}
    for dedup in (True, False):
        run = jaxis.mpis(spec.model, spec.guide, K=K, dedup_rows=dedup)
        fs[dedup] = jax.jit(lambda k, run=run: jaxis.log_evidence(run(k, *args)))
        values[dedup] = float(fs[dedup](key))
    times = {True: [], False: []}
    for _ in range(repeats):
        for dedup in (True, False):
            t0 = time.perf_counter()
            jax.block_until_ready(fs[dedup](key))
            times[dedup].append(time.perf_counter() - t0)
    on, off = (float(np.median(times[d])) for d in (True, False))
    rel = abs(values[True] - values[False]) / abs(values[False])
    print(f"{name:>12} K={K:>2}  dedup {on:7.3f} s  plain {off:7.3f} s  plain/dedup "
          f"{off / on:5.2f}  log_evidence {values[True]:.6g} (rel. diff {rel:.1e})")


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    K = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    for name, load in (("occupancy", _occupancy), ("chimpanzees", _chimpanzees)):
        compare(name, *load(), K)
