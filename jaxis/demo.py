"""The built-in demo behind ``jaxis run`` (no config): MP IS against global IS.

A conjugate Gaussian hierarchy (8 groups x 5 observations, synthetic data) has an exact
evidence and posterior, so the table shows how far each estimate is from the truth:
MP IS reasons over K^9 combinations of its K samples per latent, global IS over K.
"""
from __future__ import annotations

import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _mpis
from .models import gaussian_hierarchy as gh
from .queries import log_evidence, marginals, moments
from .trace._global_is import global_is


def _mp_once(K: int, y):
    run = _mpis.mpis(gh.model, K=K)

    def f(key):
        mpt = run(key, y)
        w = marginals(mpt, ["mu"])["mu"]
        return log_evidence(mpt), moments(mpt, {"mu": lambda v: v})["mu"], 1.0 / jnp.sum(w**2)

    return jax.jit(jax.vmap(f))


def _global_once(K: int, y):
    run = global_is(gh.model, K=K)

    def f(key):
        ws = run(key, y)
        return ws.log_evidence(), ws.moments({"mu": lambda v: v})["mu"], ws.ess()

    return jax.jit(jax.vmap(f))


def demo(Ks: Sequence[int] = (3, 10, 30), *, runs: int = 20, seed: int = 0) -> list[dict]:
    """Run the demo; print and return one row per (method, K)."""
    y = gh.synthetic(jax.random.PRNGKey(seed))
    exact_z = float(gh.exact_log_evidence(y))
    exact_mu, sd_mu = (float(v) for v in gh.exact_posterior_mu(y))
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), runs)
    rows = []
    for K in Ks:
        for method, build in (("MP IS", _mp_once), ("global IS", _global_once)):
            f = build(K, y)
            jax.block_until_ready(f(keys))  # compile
            t0 = time.perf_counter()
            lz, mu, ess = jax.block_until_ready(f(keys))
            dt = (time.perf_counter() - t0) / runs
            lz, mu, ess = (np.asarray(v) for v in (lz, mu, ess))
            rows.append(dict(method=method, K=K, log_z=lz.mean(),
                             log_z_se=lz.std(ddof=1) / np.sqrt(runs), mu=mu.mean(),
                             mu_rmse=np.sqrt(np.mean((mu - exact_mu) ** 2)), ess=ess.mean(),
                             ms=1e3 * dt))
    print(f"Conjugate Gaussian hierarchy, 8 groups x 5 obs, {runs} runs per row")
    print(f"exact log Z = {exact_z:.3f}   exact E[mu|y] = {exact_mu:.3f} (sd {sd_mu:.3f})")
    print(f"{'method':<10} {'K':>4} {'log Z':>16} {'E[mu]':>8} {'RMSE mu':>8} "
          f"{'ESS(mu)':>8} {'ms/run':>8}")
    for r in rows:
        print(f"{r['method']:<10} {r['K']:>4} {r['log_z']:>9.3f} ± {r['log_z_se']:<5.3f}"
              f" {r['mu']:>8.3f} {r['mu_rmse']:>8.3f} {r['ess']:>8.1f} {r['ms']:>8.2f}")
    return rows
