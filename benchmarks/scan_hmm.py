"""Benchmark: a ``scan`` HMM (T=1000 steps, K=30 samples per step) under MP IS.

The model is numpyro's ``hmm`` example in miniature: 3 hidden states with a Categorical
transition, Normal emissions, written with ``numpyro.contrib.control_flow.scan`` and run
unchanged through ``jaxis.mpis(model, K=30)`` (each step's state gets 30 samples; the
chain is reduced by a log-space matrix-chain product). Rows:

- jaxis run:       drawing the samples and computing the T x K x K chain factors.
- log evidence:    ``jaxis.log_evidence`` of the run.
- marginals:       ``jaxis.marginals`` (K x T weights), one backward pass.
- funsor enum:     numpyro's ``hmm_enum`` way, ``log_density`` of the model with the
                   states enumerated (``numpyro.contrib.funsor``) -- exact, 3 states; skipped
                   with a note when ``funsor`` is not installed.

Times are medians of warm calls; compile is the first call minus a warm call. Memory:
XLA's peak (arguments, outputs and temporaries) of the compiled log evidence and
marginals, against the naive K^T table of all sample combinations.
Run: ``python benchmarks/scan_hmm.py [T] [K]``.
"""
from __future__ import annotations

import math
import sys

from _common import time_call

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.contrib.control_flow import scan

import jaxis

TRANS = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]], np.float32)
LOCS = np.array([-1.5, 0.0, 1.5], np.float32)


def model(y):
    def step(z_prev, y_t):
        z = numpyro.sample("z", dist.Categorical(jnp.asarray(TRANS)[z_prev]))
        numpyro.sample("y", dist.Normal(jnp.asarray(LOCS)[z], 0.7), obs=y_t)
        return z, None
    scan(step, 0, y)


def simulate(T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z, ys = 0, []
    for _ in range(T):
        z = rng.choice(3, p=TRANS[z])
        ys.append(LOCS[z] + 0.7 * rng.normal())
    return np.asarray(ys, np.float32)


def _peak_bytes(f, *args) -> int:
    stats = jax.jit(f).lower(*args).compile().memory_analysis()
    return (stats.argument_size_in_bytes + stats.output_size_in_bytes
            + stats.temp_size_in_bytes)


def _funsor_row(y):
    try:
        import funsor  # noqa: F401
    except ImportError:
        return None
    from numpyro.contrib.funsor import config_enumerate, enum
    from numpyro.infer.util import log_density

    def enum_model(y):
        def step(z_prev, y_t):
            z = numpyro.sample("z", dist.Categorical(jnp.asarray(TRANS)[z_prev]))
            numpyro.sample("y", dist.Normal(jnp.asarray(LOCS)[z], 0.7), obs=y_t)
            return z, None
        scan(step, 0, y)

    f = jax.jit(lambda y: log_density(enum(config_enumerate(enum_model)), (y,), {}, {})[0])
    return time_call(f, y, repeats=5), float(f(y))


def main(T: int = 1000, K: int = 30) -> None:
    y = jnp.asarray(simulate(T))
    run = jaxis.mpis(model, K=K)
    key = jax.random.PRNGKey(0)
    run_time, run_compile = time_call(run, key, y, repeats=5)
    mpt = run(key, y)
    ev = jax.jit(jaxis.log_evidence)
    marg = jax.jit(lambda m: jaxis.marginals(m)["z"])
    ev_time, ev_compile = time_call(ev, mpt, repeats=5)
    mg_time, mg_compile = time_call(marg, mpt, repeats=5)
    factors = sum(f.size * f.dtype.itemsize for f in mpt.log_factors)
    rows = [("jaxis run (samples + factors)", run_time, run_compile, None),
            ("jaxis log evidence", ev_time, ev_compile, _peak_bytes(jaxis.log_evidence, mpt)),
            ("jaxis marginals (K x T)", mg_time, mg_compile, _peak_bytes(marg, mpt))]
    print(f"scan HMM, 3 states, T={T}, K={K}, {jax.devices()[0].platform}, "
          f"float32; log evidence {float(ev(mpt)):.2f}")
    print(f"{'':32s} {'warm s':>9s} {'compile s':>10s} {'peak MB':>9s}")
    for name, warm, comp, peak in rows:
        mb = f"{peak / 2**20:9.1f}" if peak is not None else f"{'':9s}"
        print(f"{name:32s} {warm:9.4f} {comp:10.2f} {mb}")
    funsor_row = _funsor_row(y)
    if funsor_row is None:
        print(f"{'funsor enum log density':32s} skipped: funsor is not installed "
              "(pip install funsor; not a jaxis dependency)")
    else:
        (warm, comp), value = funsor_row
        print(f"{'funsor enum log density':32s} {warm:9.4f} {comp:10.2f}           "
              f"(exact log p(y) = {value:.2f})")
    naive = T * math.log10(K) + math.log10(4)
    print(f"chain factors: {factors / 2**20:.1f} MB (O(T K^2)); the naive table of all K^T "
          f"index combinations: 10^{naive:.0f} bytes")


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:3]])
