"""Shared helpers for the benchmarks: data, timing, per-K subprocesses."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def chimpanzee_data(split: str = "train"):
    """(condition, prosoc_left, obs) float32 arrays of the paper's chimpanzee data."""
    from jaxis.datasets import load_chimpanzees

    d = load_chimpanzees()
    t = d.train if split == "train" else d.all()
    return tuple(np.asarray(t[k], np.float32) for k in ("condition", "prosoc_left", "obs"))


def time_call(f, *args, repeats: int):
    """(median warm seconds, compile seconds) of a jitted function."""
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(f(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - t0)
    warm = sorted(times)[len(times) // 2]
    return warm, max(first - warm, 0.0)


def per_process(script: str, Ks, repeats_for):
    """Run ``script --single K repeats`` in a fresh process per K; collect JSON rows."""
    rows = []
    for K in Ks:
        proc = subprocess.run([sys.executable, script, "--single", str(K), str(repeats_for(K))],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"K={K} failed:\n{proc.stderr[-2000:]}")
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
