"""Benchmark: MP IS on the paper's bus breakdown and occupancy models, per K.

For each model and K (one subprocess each, so peak memory is per K), warm median seconds
and compile seconds of, each jitted with the run itself:

- run:        ``mpis(model, guide, K)(key, **data)``: every latent's K samples and every
              log factor (the floor of this analysis: the factors evaluated once);
- evidence:   ``log_evidence`` of the run;
- marginals:  ``marginals`` of the run;
- draws:      100 exact posterior draws (``sample_posterior``);

then the process's peak RSS (``VmHWM``) and the memory guard's estimate of the run's peak.
Ratios are to the run in the same process (issue 15 asks for this analysis beside the
chimpanzee one, ``bench_mpis_chimpanzees.py``).

Run: ``JAXIS_DATA_DIR=... python benchmarks/bench_models.py [--models bus_breakdown,occupancy]
[--K 3,5,10] [--json F]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from _common import peak_rss_gb, per_process, time_call

MODELS = ("bus_breakdown", "occupancy")


def single(name: str, K: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    import jaxis
    from jaxis._mpis import mp_peak
    from jaxis.datasets import load_dataset
    from jaxis.models import get_model

    spec = get_model(name)
    data = {k: jnp.asarray(v) for k, v in load_dataset(name).train.items()}
    run = jaxis.mpis(spec.model, spec.guide, K=K)
    key, draw_key = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
    calls = {
        "run": jax.jit(lambda k: run(k, **data).log_factors),
        "evidence": jax.jit(lambda k: jaxis.log_evidence(run(k, **data))),
        "marginals": jax.jit(lambda k: jaxis.marginals(run(k, **data))),
        "draws": jax.jit(lambda k: jaxis.sample_posterior(draw_key, run(k, **data), 100)),
    }
    out = {"model": name, "K": K}
    for label, f in calls.items():
        out[label], out[label + "_compile"] = time_call(f, key, repeats=repeats)
    out["log_z"] = float(calls["evidence"](key))
    out["est_peak_gb"] = mp_peak(run.lower(key, **data)) / 2**30  # the memory guard's
    out["rss_gb"] = peak_rss_gb()
    return out


def main(models, Ks, json_path: str = "") -> list:
    rows = []
    for name in models:
        rows += per_process(__file__, Ks, lambda K: 5, extra=("--model", name))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(rows, f, indent=1)
    print("\nfloat32, this CPU; warm median ms (x the run in the same process); compile s")
    print(f"{'model':>14} {'K':>3} {'run':>7} {'evidence':>15} {'marginals':>15} "
          f"{'100 draws':>15} {'compile ev':>10} {'peak GB':>8} {'est GB':>7}")
    for r in rows:
        cell = lambda k: f"{1e3 * r[k]:.1f} ({r[k] / r['run']:.1f}x)"
        print(f"{r['model']:>14} {r['K']:>3} {1e3 * r['run']:>7.1f} {cell('evidence'):>15} "
              f"{cell('marginals'):>15} {cell('draws'):>15} {r['evidence_compile']:>10.1f} "
              f"{r['rss_gb']:>8.2f} {r['est_peak_gb']:>7.2f}")
    return rows


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=MODELS, help="(internal) the model of --single")
    p.add_argument("--single", nargs=2, type=int, metavar=("K", "REPEATS"),
                   help="(internal) one K in this process; prints one JSON row")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--K", default="3,5,10", help="comma-separated K values")
    p.add_argument("--json", default="", help="write the rows to this JSON file")
    a = p.parse_args()
    if a.single:
        print(json.dumps(single(a.model, *a.single)))
    else:
        main(a.models.split(","), [int(k) for k in a.K.split(",")], a.json)
