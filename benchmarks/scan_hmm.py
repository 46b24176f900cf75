"""Benchmark: a ``scan`` HMM (T=1000 steps) under MP IS, sampled and enumerated states.

Two models, both numpyro's ``hmm`` example in miniature (Categorical transitions, Normal
emissions, written with ``numpyro.contrib.control_flow.scan``) and run unchanged:

- sampled states: 3 states, ``jaxis.mpis(model, K=30, enumerate="marked")`` (each step's
  state gets 30 samples; the chain is reduced by a log-space matrix-chain product);
- enumerated states (numpyro's ``hmm_enum``): 30 states marked
  ``infer={"enumerate": "parallel"}``; every step takes its 30 support values, so the
  chain product is the forward algorithm and the log evidence is exact.

Rows per model:

- jaxis run:        drawing the samples and computing the T x K x K chain factors.
- log evidence:     ``jaxis.log_evidence`` of the run.
- marginals:        ``jaxis.marginals`` (K x T weights), one backward pass.
- posterior draws:  ``jaxis.sample_posterior`` of 1000 joint draws (forward filtering,
                    backward sampling).
- funsor enum:      numpyro's ``hmm_enum`` way, ``log_density`` of the model with the
                    states enumerated (``numpyro.contrib.funsor``) -- exact; skipped with a
                    note when ``funsor`` is not installed.

Times are medians of warm calls; compile is the first call minus a warm call. Memory:
XLA's peak (arguments, outputs and temporaries) of the compiled log evidence and
marginals, against the naive K^T table of all sample combinations.
Run: ``python benchmarks/scan_hmm.py [T] [K] [S]``.
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
from numpyro.ops.indexing import Vindex

import jaxis

TRANS = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]], np.float32)
LOCS = np.array([-1.5, 0.0, 1.5], np.float32)
SCALE = 0.7
DRAWS = 1000


def hmm_params(S: int) -> tuple[np.ndarray, np.ndarray]:
    """An S-state sticky chain (0.9 to stay) with emission means spread over [-3, 3]."""
    trans = np.full((S, S), 0.1 / (S - 1), np.float32)
    np.fill_diagonal(trans, 0.9)
    return trans, np.linspace(-3.0, 3.0, S).astype(np.float32)


def make_model(trans: np.ndarray, locs: np.ndarray, infer: dict):
    def model(y):
        def step(z_prev, y_t):
            z = numpyro.sample("z", dist.Categorical(Vindex(jnp.asarray(trans))[..., z_prev, :]),
                               infer=dict(infer))  # numpyro mutates it
            numpyro.sample("y", dist.Normal(Vindex(jnp.asarray(locs))[..., z], SCALE), obs=y_t)
            return z, None
        scan(step, 0, y)
    return model


def simulate(trans: np.ndarray, locs: np.ndarray, T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z, ys = 0, []
    for _ in range(T):
        z = rng.choice(len(locs), p=trans[z] / trans[z].sum())
        ys.append(locs[z] + SCALE * rng.normal())
    return np.asarray(ys, np.float32)


def _peak_bytes(f, *args) -> int:
    stats = jax.jit(f).lower(*args).compile().memory_analysis()
    return (stats.argument_size_in_bytes + stats.output_size_in_bytes
            + stats.temp_size_in_bytes)


def _funsor_row(trans, locs, y):
    try:
        import funsor  # noqa: F401
    except ImportError:
        return None
    # funsor's log_density marginalises the enumerated states (numpyro.infer.util's
    # log_density would only sum the log densities of the enumerated tensor)
    from numpyro.contrib.funsor import config_enumerate, enum, log_density

    enum_model = make_model(trans, locs, {})
    enumerated = enum(config_enumerate(enum_model), first_available_dim=-1)
    f = jax.jit(lambda y: log_density(enumerated, (y,), {}, {})[0])
    return time_call(f, y, repeats=5), float(f(y))


def section(title: str, trans, locs, T: int, K: int, enumerate: str) -> None:
    """Time and size one model's rows (see the module doc) and print them."""
    y = jnp.asarray(simulate(trans, locs, T))
    infer = {"enumerate": "parallel"} if enumerate == "marked-enum" else {}
    run = jaxis.mpis(make_model(trans, locs, infer), K=K, enumerate="marked")
    key = jax.random.PRNGKey(0)
    run_time, run_compile = time_call(run, key, y, repeats=5)
    mpt = run(key, y)
    ev = jax.jit(jaxis.log_evidence)
    marg = jax.jit(lambda m: jaxis.marginals(m)["z"])
    draw = jax.jit(lambda k, m: jaxis.sample_posterior(k, m, DRAWS)["z"])
    ev_time, ev_compile = time_call(ev, mpt, repeats=5)
    mg_time, mg_compile = time_call(marg, mpt, repeats=5)
    dr_time, dr_compile = time_call(draw, key, mpt, repeats=3)
    factors = sum(f.size * f.dtype.itemsize for f in mpt.log_factors)
    n = mpt.samples["z"].shape[0]
    rows = [("jaxis run (samples + factors)", run_time, run_compile, None),
            ("jaxis log evidence", ev_time, ev_compile, _peak_bytes(jaxis.log_evidence, mpt)),
            (f"jaxis marginals ({n} x T)", mg_time, mg_compile, _peak_bytes(marg, mpt)),
            (f"jaxis {DRAWS} posterior draws", dr_time, dr_compile,
             _peak_bytes(lambda m: jaxis.sample_posterior(key, m, DRAWS)["z"], mpt))]
    print(f"\n{title}, T={T}, {n} values per step, {jax.devices()[0].platform}, "
          f"float32; log evidence {float(ev(mpt)):.2f}")
    print(f"{'':32s} {'warm s':>9s} {'compile s':>10s} {'peak MB':>9s}")
    for name, warm, comp, peak in rows:
        mb = f"{peak / 2**20:9.1f}" if peak is not None else f"{'':9s}"
        print(f"{name:32s} {warm:9.4f} {comp:10.2f} {mb}")
    funsor_row = _funsor_row(trans, locs, y)
    if funsor_row is None:
        print(f"{'funsor enum log density':32s} skipped: funsor is not installed "
              "(pip install funsor; not a jaxis dependency)")
    else:
        (warm, comp), value = funsor_row
        print(f"{'funsor enum log density':32s} {warm:9.4f} {comp:10.2f}           "
              f"(exact log p(y) = {value:.2f})")
    naive = T * math.log10(n) + math.log10(4)
    print(f"chain factors: {factors / 2**20:.1f} MB (O(T K^2)); the naive table of all K^T "
          f"index combinations: 10^{naive:.0f} bytes")


def main(T: int = 1000, K: int = 30, S: int = 30) -> None:
    section("scan HMM, 3 states sampled (K per step)", TRANS, LOCS, T, K, "marked")
    trans, locs = hmm_params(S)
    section(f"scan HMM, {S} states enumerated (hmm_enum)", trans, locs, T, K, "marked-enum")


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:4]])
