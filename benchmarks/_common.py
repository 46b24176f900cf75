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


def per_process(script: str, Ks, repeats_for, extra=()):
    """Run ``script *extra --single K repeats`` in a fresh process per K; collect JSON rows."""
    rows = []
    for K in Ks:
        proc = subprocess.run([sys.executable, script, *extra, "--single", str(K),
                               str(repeats_for(K))], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"K={K} failed:\n{proc.stderr[-2000:]}")
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def chimpanzee_mp_tail(obs, f_ab, f_aa):
    """The hand-written MP contraction of the chimpanzee factors below the globals.

    ``obs``: the observation factor summed over repeats, axes (alpha_block, alpha_actor,
    alpha, beta_p, beta_pc, actor, block); ``f_ab`` (alpha_block, sigma_block, actor,
    block); ``f_aa`` (alpha_actor, sigma_actor, actor). Each step is a log-space einsum
    shifted by the maximum over the summed axis (held constant, as in jaxis). Returns the
    log of the sum over the plated latents, axes (alpha, beta_p, beta_pc, sigma_block,
    sigma_actor).
    """
    import jax
    import jax.numpy as jnp

    def lse_einsum(eq, x, f):
        mx = jax.lax.stop_gradient(jnp.max(x, axis=0, keepdims=True))
        mf = jax.lax.stop_gradient(jnp.max(f, axis=0, keepdims=True))
        return jnp.log(jnp.einsum(eq, jnp.exp(x - mx), jnp.exp(f - mf))), mx[0], mf[0]

    l1, m1, m2 = lse_einsum("iabcdAB,isAB->abcdsAB", obs, f_ab)
    t1 = jnp.sum(l1 + m1[..., None, :, :] + m2[None, None, None, None], -1)  # aa a bp bpc sb A
    l2, m1, m2 = lse_einsum("iabcsA,itA->abcstA", t1, f_aa)
    return jnp.sum(l2 + m1[..., None, :] + m2[None, None, None, None], -1)


def peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
