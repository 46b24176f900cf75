"""Benchmark: exact posterior draws and predictive log-likelihood on chimpanzees.

For K in (10, 20), one process each: warm time and peak memory of one ``log_evidence``,
100 and 1,000 posterior draws (``sample_posterior``, including the MP run), and the
predictive log-likelihood with 100 draws (repeats 10 train / 2 test), with ratios to
``log_evidence`` measured in the same run. Paper implementation: 100 draws at K=10 cost
5x an ELBO on this CPU; its predictive log-likelihood at K=20 cost ~45x an ELBO (A100).
Run: ``python benchmarks/bench_sampling_chimpanzees.py [K ...]``.
"""
from __future__ import annotations

import json
import os
import sys

from _common import chimpanzee_data, peak_rss_gb, per_process, time_call


def single(K: int, repeats: int) -> dict:
    import jax

    import jaxis
    from jaxis.models import chimpanzees as cm

    train, full = chimpanzee_data("train"), chimpanzee_data("all")
    run = jaxis.mpis(cm.model, cm.guide, K=K)
    key = jax.random.PRNGKey(0)
    fs = {
        "elbo": jax.jit(lambda k: jaxis.log_evidence(run(k, *train))),
        "draws100": jax.jit(lambda k: jaxis.sample_posterior(k, run(k, *train), 100)),
        "draws1000": jax.jit(lambda k: jaxis.sample_posterior(k, run(k, *train), 1000)),
        "pred_ll": jax.jit(lambda k: jaxis.predictive_log_likelihood(
            k, run(k, *train), cm.model, train, full, 100)),
    }
    out = {"K": K}
    for name, f in fs.items():
        out[name], _ = time_call(f, key, repeats=repeats)
    out["rss_gb"] = peak_rss_gb()
    return out


def main(Ks):
    rows = per_process(__file__, Ks, lambda K: 5 if K <= 10 else 2)
    print("\nChimpanzees: exact draws and predictive log-likelihood (s; ratio to log_evidence)")
    print(f"{'K':>3} {'elbo':>7} {'100 draws':>10} {'ratio':>6} {'1000 draws':>11} {'ratio':>6} "
          f"{'pred LL':>8} {'ratio':>6} {'peak GB':>8}")
    for r in rows:
        e = r["elbo"]
        print(f"{r['K']:>3} {e:>7.3f} {r['draws100']:>10.3f} {r['draws100'] / e:>6.2f} "
              f"{r['draws1000']:>11.3f} {r['draws1000'] / e:>6.2f} {r['pred_ll']:>8.3f} "
              f"{r['pred_ll'] / e:>6.2f} {r['rss_gb']:>8.2f}")


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if len(sys.argv) > 1 and sys.argv[1] == "--single":
        print(json.dumps(single(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        main([int(k) for k in sys.argv[1:]] or [10, 20])
