"""Benchmark: MP IS on the paper's chimpanzee model, against the floor and bespoke JAX.

For each K (one subprocess per K, so whole-process peak memory is per K):

- floor:     evaluate the observation log-density factor once (K^5 x 420 Bernoulli
             log-probs with numpyro's ``log_prob``, summed over repeats).
- plain:     the same factor written as plain maths, ``y*l - max(l,0) - log1p(exp(-|l|))``,
             at rank 8: what the hardware can do (the plain-maths floor, issue 15).
- bespoke:   a hand-written JAX einsum of the same MP estimator for this one model.
- jaxis:     ``log_evidence(mpis(...)(key, ...))``, ``marginals(...)`` and 100 exact
             posterior draws (``sample_posterior``), each jitted with the run.

Warm times are medians over repeats; compile is the first call minus a warm call. The
reference figures of the paper's PyTorch library (``alan``) on the same 2-core CPU are
quoted from the issue. Run: ``python benchmarks/bench_mpis_chimpanzees.py [K ...] [--json F]``
(``--json``: the rows as a JSON list; ``benchmarks/readme_table.py`` prints the README table).
"""
from __future__ import annotations

import json
import math
import os
import sys

from _common import chimpanzee_data, chimpanzee_mp_tail, peak_rss_gb, per_process, time_call

ALAN = {10: {"elbo": 0.66, "moments": 1.03, "gb": 2.4}, 15: {"elbo": 6.1, "moments": 15.0, "gb": 9.8},
        30: {"elbo": None, "moments": None, "gb": 41.0}}


def _bespoke(K, cond, pl, y):
    """The MP estimator for this model, written by hand (same shifts as jaxis)."""
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist

    A, B, _ = cond.shape

    def f(key):
        ks = jax.random.split(key, 7)
        sb = dist.HalfCauchy(1.0).sample(ks[0], (K,))
        sa = dist.HalfCauchy(1.0).sample(ks[1], (K,))
        bpc, bp, a = (10.0 * jax.random.normal(k, (K,)) for k in ks[2:5])
        aa = jax.random.normal(ks[5], (K, A))
        ab = jax.random.normal(ks[6], (K, A, B))
        logk = math.log(K)
        # factors (globals: prior = proposal, so only -log K)
        f_aa = (dist.Normal(0.0, sa[None, :, None]).log_prob(aa[:, None, :])
                - dist.Normal(0.0, 1.0).log_prob(aa)[:, None, :] - logk)  # (aa, sa, A)
        f_ab = (dist.Normal(0.0, sb[None, :, None, None]).log_prob(ab[:, None])
                - dist.Normal(0.0, 1.0).log_prob(ab)[:, None] - logk)  # (ab, sb, A, B)
        logits = (ab[:, None, None, None, None, :, :, None]
                  + aa[None, :, None, None, None, :, None, None]
                  + a[None, None, :, None, None, None, None, None]
                  + (bp[None, None, None, :, None, None, None, None]
                     + bpc[None, None, None, None, :, None, None, None] * cond) * pl)
        obs = jnp.sum(dist.Bernoulli(logits=logits).log_prob(y), -1)  # (ab,aa,a,bp,bpc,A,B)
        t2 = chimpanzee_mp_tail(obs, f_ab, f_aa)  # (a,bp,bpc,sb,sa)
        return jax.scipy.special.logsumexp(t2) - 5 * logk

    return jax.jit(f)


def _floor(K, cond, pl, y, plain=False):
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist

    def log_p(l):
        if plain:
            return y * l - jnp.maximum(l, 0.0) - jnp.log1p(jnp.exp(-jnp.abs(l)))
        return dist.Bernoulli(logits=l).log_prob(y)

    A, B, _ = cond.shape

    def f(key):
        ks = jax.random.split(key, 5)
        ab = jax.random.normal(ks[0], (K, 1, 1, 1, 1, A, B, 1))
        aa = jax.random.normal(ks[1], (K, 1, 1, 1, A, 1, 1))
        a, bp, bpc = (jax.random.normal(k, s) for k, s in
                      zip(ks[2:], [(K, 1, 1, 1, 1, 1), (K, 1, 1, 1, 1), (K, 1, 1, 1)]))
        logits = ab + aa + a + (bp + bpc * cond) * pl
        return jnp.sum(log_p(logits), -1)

    return jax.jit(f)


def single(K: int, repeats: int) -> dict:
    import jax

    import jaxis
    from jaxis._mpis import mp_peak
    from jaxis.models import chimpanzees as cm

    cond, pl, y = chimpanzee_data()
    key = jax.random.PRNGKey(0)
    out = {"K": K}
    out["floor"], _ = time_call(_floor(K, cond, pl, y), key, repeats=repeats)
    out["plain"], _ = time_call(_floor(K, cond, pl, y, plain=True), key, repeats=repeats)
    out["bespoke"], out["bespoke_compile"] = time_call(_bespoke(K, cond, pl, y), key, repeats=repeats)
    run = jaxis.mpis(cm.model, cm.guide, K=K)
    elbo = jax.jit(lambda k: jaxis.log_evidence(run(k, cond, pl, y)))
    marg = jax.jit(lambda k: jaxis.marginals(run(k, cond, pl, y)))
    out["elbo"], out["elbo_compile"] = time_call(elbo, key, repeats=repeats)
    out["marginals"], out["marginals_compile"] = time_call(marg, key, repeats=repeats)
    draws = jax.jit(lambda k: jaxis.sample_posterior(jax.random.fold_in(k, 1),
                                                     run(k, cond, pl, y), 100))
    out["draws"], out["draws_compile"] = time_call(draws, key, repeats=repeats)
    out["est_peak_gb"] = mp_peak(run.lower(key, cond, pl, y)) / 2**30  # the memory guard
    out["rss_gb"] = peak_rss_gb()
    stats = jax.devices()[0].memory_stats()  # None on CPU
    out["device_peak_gb"] = stats["peak_bytes_in_use"] / 2**30 if stats else None
    return out


def main(Ks, json_path=""):
    rows = per_process(__file__, Ks, lambda K: 5 if K <= 15 else 1)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(rows, f, indent=1)
    print("\nChimpanzees (7 actors x 6 blocks x 10 repeats), float32, 2-core CPU; times in s")
    hdr = (f"{'K':>3} {'floor':>7} {'plain':>7} {'bespoke':>8} {'elbo':>7} {'elbo/fl':>8} "
           f"{'elbo/pl':>8} {'elbo/besp':>9} {'marg':>7} {'marg/fl':>8} {'marg/pl':>8} "
           f"{'draws':>7} {'draws/pl':>8} "
           f"{'compile':>8} {'peak GB':>8} {'est GB':>7} {'alan elbo':>9} {'alan GB':>8}")
    print(hdr)
    for r in rows:
        alan = ALAN.get(r["K"], {})
        ae = alan.get("elbo")
        print(f"{r['K']:>3} {r['floor']:>7.3f} {r['plain']:>7.3f} {r['bespoke']:>8.3f} "
              f"{r['elbo']:>7.3f} {r['elbo'] / r['floor']:>8.2f} {r['elbo'] / r['plain']:>8.2f} "
              f"{r['elbo'] / r['bespoke']:>9.2f} {r['marginals']:>7.3f} "
              f"{r['marginals'] / r['floor']:>8.2f} {r['marginals'] / r['plain']:>8.2f} "
              f"{r['draws']:>7.3f} {r['draws'] / r['plain']:>8.2f} "
              f"{r['elbo_compile']:>8.2f} {r['rss_gb']:>8.2f} {r['est_peak_gb']:>7.2f} "
              f"{(f'{ae:.2f}' if ae else ('fails' if alan else '-')):>9} "
              f"{(alan.get('gb') or 0):>8.1f}")


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if len(sys.argv) > 1 and sys.argv[1] == "--single":
        print(json.dumps(single(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        args = sys.argv[1:]
        path = args.pop(args.index("--json") + 1) if "--json" in args else ""
        args = [a for a in args if a != "--json"]
        main([int(k) for k in args] or [5, 10, 15, 20, 30], path)
