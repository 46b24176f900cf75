r"""Benchmark: time to accuracy of MP IS against numpyro's NUTS on the chimpanzee model.

Accuracy is the *standardised* error of the posterior means: over all latent elements
``i`` (sigma_block, sigma_actor, beta_pc, beta_p, alpha, alpha_actor[7],
alpha_block[7, 6]: 54 numbers)

    error = sqrt( mean_i ((m_i - mu_i) / s_i)^2 )

where ``m_i`` is the method's estimate of the posterior mean, and ``mu_i``, ``s_i`` are the
reference posterior mean and standard deviation. An error of 0.1 means the estimates are
off by a tenth of a posterior sd (root mean square over the elements); a single chain of
n independent draws would have error about ``1/sqrt(n)``.

- Reference: a long NUTS run (default 4 chains x 4000 draws after 1000 warmup) on the
  same model with the non-centred parameterisation of ``alpha_actor`` and ``alpha_block``
  (``LocScaleReparam(0)``: the same posterior, without the funnel the centred form has
  near ``sigma_block = 0``). Its R-hat and effective sample sizes are reported, and its
  own Monte Carlo noise in the metric, ``sqrt(mean_i 1/ESS_i)``. Cached in
  ``benchmarks/results/`` keyed by a hash of the data; recomputed when the cache holds
  fewer than ``--reference-samples N`` draws per chain, or with ``--recompute-reference``.
- MP IS: ``jaxis.moments(jaxis.mpis(model, guide, K)(key, *data), {site: identity})``
  (the paper's factorised proposal), jitted, one estimate per seed. Time: the first call
  (compile included) and the median of the other seeds' calls (warm).
- NUTS: numpyro's NUTS on the model as written (centred, what a user runs first), one
  chain, ``num_warmup = num_samples = n`` for increasing n. The errors, and the warm time
  (median over seeds, warmup + sampling), come from one chain per seed of a NUTS loop
  jitted once (:func:`compiled_nuts`, numpyro's functional ``hmc`` API with ``NUTS``'s
  defaults). The user's time is ``MCMC(NUTS(model)).run``: its first run (compile + warmup
  + sampling: what a user waits) and a second run of the same object, which compiles the
  sampling loop again (about 3 s here, whatever n). Divergent transitions are counted.

Times are CPU seconds of the process (``time.process_time``: all threads summed, so XLA's
multithreaded work counts once per core busy; time spent waiting for a CPU, or stopped,
does not count: the stable figure on a shared machine) and wall seconds beside them.

The table gives, for each K, the smallest NUTS budget whose mean error (over seeds) is no
larger than MP IS's mean error at that K, and the ratio of the times.

Run: ``JAXIS_DATA_DIR=... python benchmarks/bench_nuts_chimpanzees.py [--quick] [--json F]``
(``--K 5 10 15 --seeds 10 --budgets 10 25 50 100 200 500 1000 2000`` by default; the
budgets run in increasing order and stop at the first one that matches every K, unless
``--all-budgets``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

from _common import chimpanzee_data
from readme_table import nuts_table

import numpy as np

LATENTS = ("sigma_block", "sigma_actor", "beta_pc", "beta_p", "alpha", "alpha_actor",
           "alpha_block")
RESULTS = Path(__file__).resolve().parent / "results"


def data_hash(data) -> str:
    h = hashlib.sha256()
    for a in data:
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(a.shape).encode())
    return h.hexdigest()[:16]


def flat(means: dict) -> np.ndarray:
    """The 54 latent elements in a fixed order (site order of ``LATENTS``, then C order)."""
    return np.concatenate([np.asarray(means[n], np.float64).reshape(-1) for n in LATENTS])


def standardised(estimate: np.ndarray, ref: dict) -> np.ndarray:
    """(estimate - reference mean) / reference sd, per latent element."""
    return (estimate - np.asarray(ref["mean"])) / np.asarray(ref["sd"])


def compute_reference(data, chains: int, samples: int, warmup: int, seed: int) -> dict:
    import jax
    from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
    from numpyro.handlers import reparam
    from numpyro.infer import MCMC, NUTS
    from numpyro.infer.reparam import LocScaleReparam

    from jaxis.models import chimpanzees

    noncentred = reparam(chimpanzees.model, config={"alpha_actor": LocScaleReparam(0),
                                                    "alpha_block": LocScaleReparam(0)})
    mcmc = MCMC(NUTS(noncentred), num_warmup=warmup, num_samples=samples, num_chains=chains,
                chain_method="sequential", progress_bar=False)
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), *data, extra_fields=("diverging",))
    seconds = time.perf_counter() - t0
    s = mcmc.get_samples(group_by_chain=True)
    draws = np.concatenate([np.asarray(s[n], np.float64).reshape(chains, samples, -1)
                            for n in LATENTS], axis=-1)  # (chains, samples, 54)
    rhat = np.asarray(split_gelman_rubin(draws))
    ess = np.asarray(effective_sample_size(draws))
    flat_draws = draws.reshape(-1, draws.shape[-1])
    return {"mean": flat_draws.mean(0).tolist(), "sd": flat_draws.std(0, ddof=1).tolist(),
            "rhat_max": float(rhat.max()), "ess_min": float(ess.min()),
            "ess_median": float(np.median(ess)),
            "noise_floor": float(np.sqrt(np.mean(1.0 / ess))),
            "divergences": int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum()),
            "chains": chains, "samples": samples, "warmup": warmup, "seed": seed,
            "seconds": seconds, "parameterisation": "non-centred (LocScaleReparam(0))"}


def reference(data, args) -> dict:
    default = RESULTS / f"chimpanzees_nuts_reference_{data_hash(data)}.json"
    path = Path(args.reference_cache or default)
    if path.exists() and not args.recompute_reference:
        ref = json.loads(path.read_text())
        if ref["samples"] >= args.reference_samples:
            print(f"reference: cached {path}", flush=True)
            return ref
    print(f"reference: NUTS, 4 chains x {args.reference_samples} after "
          f"{args.reference_warmup} warmup ...", flush=True)
    ref = compute_reference(data, 4, args.reference_samples, args.reference_warmup, seed=12345)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref))
    return ref


def _timed(f, *args):
    """(result, wall seconds, CPU seconds of this process: all threads, not paused time)."""
    import jax

    t0, c0 = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(f(*args))
    return out, time.perf_counter() - t0, time.process_time() - c0


def _times(walls, cpus) -> dict:
    """The first call (compile included) and the median of the others (warm)."""
    med = lambda x: float(np.median(x[1:])) if len(x) > 1 else float("nan")
    return {"cold_seconds": walls[0], "cold_cpu_seconds": cpus[0], "seconds": med(walls),
            "cpu_seconds": med(cpus), "all_seconds": walls, "all_cpu_seconds": cpus}


def bench_mpis(data, ref, K: int, seeds: int) -> dict:
    """One jitted moments estimate per seed; the first call compiles, the others are warm."""
    import jax

    import jaxis
    from jaxis.models import chimpanzees

    run = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=K)
    fns = {n: (lambda v: v) for n in LATENTS}
    est = jax.jit(lambda key: jaxis.moments(run(key, *data), fns))
    zs, walls, cpus = [], [], []
    for k in jax.random.split(jax.random.PRNGKey(1000 + K), seeds):
        m, wall, cpu = _timed(est, k)
        zs.append(standardised(flat(jax.device_get(m)), ref))
        walls.append(wall)
        cpus.append(cpu)
    return {"method": "mpis", "K": K, **_times(walls, cpus), **summary(zs)}


def compiled_nuts(data, n: int):
    """``key -> (posterior means, divergences)`` of one NUTS chain, jitted once.

    numpyro's functional API (``numpyro.infer.hmc.hmc(potential_fn, algo="NUTS")``) with
    the ``NUTS`` class's defaults (diagonal mass matrix and step size adapted over
    ``n`` warmup steps, target acceptance 0.8, tree depth 10), the start drawn as
    ``init_to_uniform`` does (Uniform(-2, 2) in unconstrained space), then ``n`` draws.
    ``MCMC.run`` compiles its sampling loop again on every call; this does not.
    """
    import jax
    import jax.numpy as jnp
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import initialize_model

    from jaxis.models import chimpanzees

    info = initialize_model(jax.random.PRNGKey(0), chimpanzees.model, model_args=data)
    init_kernel, sample_kernel = hmc(info.potential_fn, algo="NUTS")
    leaves, tree = jax.tree.flatten(info.param_info.z)

    def run(key):
        k_init, k_run = jax.random.split(key)
        ks = jax.random.split(k_init, len(leaves))
        z0 = jax.tree.unflatten(tree, [jax.random.uniform(k, jnp.shape(x), minval=-2.0,
                                                          maxval=2.0)
                                       for k, x in zip(ks, leaves)])
        state = init_kernel(z0, num_warmup=n, rng_key=k_run)

        def step(state, _):
            state = sample_kernel(state)
            return state, (state.z, state.diverging)

        _, (zs, div) = jax.lax.scan(step, state, None, length=2 * n)
        draws = jax.vmap(info.postprocess_fn)(jax.tree.map(lambda x: x[n:], zs))
        return {name: draws[name].mean(0) for name in LATENTS}, jnp.sum(div[n:])

    return jax.jit(run)


def bench_nuts(data, ref, n: int, seeds: int) -> dict:
    """Per budget n: ``MCMC.run`` twice (what a user waits: the first run of a fresh
    ``MCMC`` and a second run of it), and one compiled-once chain per seed (the errors)."""
    import jax
    from numpyro.infer import MCMC, NUTS

    from jaxis.models import chimpanzees

    mcmc = MCMC(NUTS(chimpanzees.model), num_warmup=n, num_samples=n, num_chains=1,
                progress_bar=False)

    def means(key):
        mcmc.run(key, *data)
        return {name: np.asarray(v).mean(0) for name, v in mcmc.get_samples().items()}

    user = [_timed(means, jax.random.PRNGKey(3000 + n + i)) for i in range(2)]
    run = compiled_nuts(data, n)
    zs, walls, cpus, divergences = [], [], [], 0
    for k in jax.random.split(jax.random.PRNGKey(2000 + n), seeds):
        (m, div), wall, cpu = _timed(run, k)
        zs.append(standardised(flat(jax.device_get(m)), ref))
        walls.append(wall)
        cpus.append(cpu)
        divergences += int(div)
    return {"method": "nuts", "n": n, **_times(walls, cpus),
            "mcmc_first_seconds": user[0][1], "mcmc_again_seconds": user[1][1],
            "mcmc_first_cpu_seconds": user[0][2], "mcmc_again_cpu_seconds": user[1][2],
            "mcmc_errors": [std_rmse(standardised(flat(u[0]), ref)) for u in user],
            "divergent_fraction": divergences / (seeds * n), **summary(zs)}


def std_rmse(z: np.ndarray) -> float:
    return float(np.sqrt(np.mean(z**2)))


def summary(zs) -> dict:
    """Per-seed errors (RMSE of the standardised errors) and their mean, se and median; the
    mean over seeds of the RMSE over the 5 globals and over the 49 actor/block intercepts."""
    z = np.asarray(zs)  # (seeds, 54)
    e = np.sqrt(np.mean(z**2, axis=1))
    se = float(e.std(ddof=1) / np.sqrt(len(e))) if len(e) > 1 else float("nan")
    return {"error_mean": float(e.mean()), "error_se": se, "error_median": float(np.median(e)),
            "error_globals": float(np.sqrt(np.mean(z[:, :5]**2, axis=1)).mean()),
            "error_locals": float(np.sqrt(np.mean(z[:, 5:]**2, axis=1)).mean()),
            "errors": e.tolist()}


def time_to_accuracy(mp_rows, nuts_rows) -> list:
    """Per K: the smallest NUTS budget whose mean error is <= MP IS's, with the time ratios
    (CPU seconds: warm, and first call / first ``MCMC.run``; wall seconds: warm)."""
    out = []
    for r in mp_rows:
        hit = next((q for q in sorted(nuts_rows, key=lambda q: q["n"])
                    if q["error_mean"] <= r["error_mean"]), None)
        row = {"K": r["K"], "mpis_error": r["error_mean"], "mpis_seconds": r["seconds"],
               "mpis_cpu_seconds": r["cpu_seconds"], "mpis_cold_cpu_seconds": r["cold_cpu_seconds"],
               "nuts_n": None}
        if hit is not None:
            row.update(nuts_n=hit["n"], nuts_error=hit["error_mean"],
                       nuts_seconds=hit["seconds"], nuts_cpu_seconds=hit["cpu_seconds"],
                       nuts_cold_cpu_seconds=hit["mcmc_first_cpu_seconds"],
                       ratio_warm=hit["seconds"] / r["seconds"],
                       ratio_cpu=hit["cpu_seconds"] / r["cpu_seconds"],
                       ratio_cold_cpu=hit["mcmc_first_cpu_seconds"] / r["cold_cpu_seconds"])
        out.append(row)
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--K", type=int, nargs="+", default=[5, 10, 15])
    p.add_argument("--seeds", type=int, default=10, help="estimates per K / runs per budget")
    p.add_argument("--budgets", type=int, nargs="+",
                   default=[10, 25, 50, 100, 200, 500, 1000, 2000],
                   help="NUTS num_samples (= num_warmup), run in increasing order until the "
                        "mean error is at most MP IS's at every K")
    p.add_argument("--all-budgets", action="store_true", help="run every budget")
    p.add_argument("--reference-samples", type=int, default=4000, help="per chain, 4 chains")
    p.add_argument("--reference-warmup", type=int, default=1000)
    p.add_argument("--reference-cache", default="", help="JSON path (default: results dir)")
    p.add_argument("--recompute-reference", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="K 5 10, 3 seeds, budgets 10..500, reference >= 1000 draws per chain")
    p.add_argument("--json", default="", help="write the results to this JSON file")
    args = p.parse_args(argv)
    if args.quick:
        args.K, args.seeds, args.budgets = [5, 10], 3, [10, 25, 50, 100, 200, 500]
        args.reference_samples = min(args.reference_samples, 1000)
    import jax

    data = chimpanzee_data("train")
    ref = reference(data, args)
    print(f"reference: R-hat max {ref['rhat_max']:.4f}, ESS min {ref['ess_min']:.0f} "
          f"(median {ref['ess_median']:.0f}), {ref['divergences']} divergences, metric noise "
          f"{ref['noise_floor']:.3f}; {ref['seconds']:.0f} s", flush=True)
    if ref["rhat_max"] >= 1.01:
        print("WARNING: reference R-hat >= 1.01; rerun with a larger --reference-samples")
    mp_rows = []
    for K in args.K:
        mp_rows.append(bench_mpis(data, ref, K, args.seeds))
        r = mp_rows[-1]
        print(f"MP IS K={K}: error {r['error_mean']:.3f} ± {r['error_se']:.3f} (median "
              f"{r['error_median']:.3f}; globals {r['error_globals']:.3f}, intercepts "
              f"{r['error_locals']:.3f}), warm {r['seconds']:.3f} s "
              f"({r['cpu_seconds']:.3f} CPU s), first call {r['cold_seconds']:.1f} s", flush=True)
    nuts_rows, target = [], min(r["error_mean"] for r in mp_rows)
    for n in sorted(args.budgets):
        nuts_rows.append(bench_nuts(data, ref, n, args.seeds))
        r = nuts_rows[-1]
        print(f"NUTS n={n}: error {r['error_mean']:.3f} ± {r['error_se']:.3f} (median "
              f"{r['error_median']:.3f}; globals {r['error_globals']:.3f}, intercepts "
              f"{r['error_locals']:.3f}), compiled once: warm {r['seconds']:.3f} s "
              f"({r['cpu_seconds']:.3f} CPU s); MCMC.run: first {r['mcmc_first_seconds']:.2f} s, "
              f"again {r['mcmc_again_seconds']:.2f} s (errors "
              f"{', '.join(f'{e:.2f}' for e in r['mcmc_errors'])}), "
              f"divergent {100 * r['divergent_fraction']:.1f}%", flush=True)
        if r["error_mean"] <= target and not args.all_budgets:
            break  # every K is matched; larger budgets only cost time
    table = time_to_accuracy(mp_rows, nuts_rows)
    result = {"device": str(jax.devices()[0]), "platform": jax.default_backend(),
              "jax": jax.__version__, "load_average": os.getloadavg(), "reference": ref,
              "mpis": mp_rows, "nuts": nuts_rows, "time_to_accuracy": table}
    print("\n" + "\n".join(nuts_table(result)))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main()
