"""Rejection ABC and SMC-ABC on sbibm tasks: posterior-mean error and wall time.

For gaussian_linear and two_moons (observation 1) at 10,000 and 100,000 simulations:
rejection ABC keeping the 100 closest draws (sbibm's REJ-ABC setting) and SMC-ABC with
sbibm's population heuristic (100 particles up to 10,000 simulations, 1000 above),
epsilon quantile 0.2 and the kernel 2 x weighted covariance. The error is the
standardised RMS of the posterior mean against 100,000 exact reference draws,
sqrt(mean_d ((m_d - m_ref_d) / sd_ref_d)^2). Wall times: first call (compile + run) and
a second call with a new key (run only). Run by hand: ``python benchmarks/bench_sbi_abc.py``.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from jaxis.sbi import rejection_abc, smc_abc, tasks


def mean_error(ws, reference):
    w = ws.normalized_weights()
    mean = jnp.tensordot(w, ws.samples["theta"], axes=(0, 0))
    ref_mean, ref_sd = reference.mean(0), reference.std(0)
    return float(jnp.sqrt(jnp.mean(((mean - ref_mean) / ref_sd) ** 2)))


def timed(run):
    t0 = time.perf_counter()
    jax.block_until_ready(run(jax.random.PRNGKey(1)))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    ws = jax.block_until_ready(run(jax.random.PRNGKey(2)))
    return ws, first, time.perf_counter() - t0


def main():
    print(f"{'task':16s} {'method':10s} {'sims':>7s} {'err':>6s} {'ESS':>6s} {'eps':>8s} "
          f"{'first s':>8s} {'warm s':>7s}")
    for name in ("gaussian_linear", "two_moons"):
        task = tasks.get(name)
        x_obs = task.observation(1)
        reference = task.reference_posterior(jax.random.PRNGKey(0), 1, 100_000)
        for n in (10_000, 100_000):
            methods = {
                "rejection": lambda k: rejection_abc(k, task.model, x_obs, n, quantile=100 / n),
                "smc": lambda k: smc_abc(k, task.model, x_obs, n),
            }
            for method, run in methods.items():
                ws, first, warm = timed(run)
                print(f"{name:16s} {method:10s} {n:7d} {mean_error(ws, reference):6.3f} "
                      f"{float(ws.ess()):6.0f} {float(ws.epsilon):8.4f} {first:8.2f} {warm:7.2f}")


if __name__ == "__main__":
    main()
