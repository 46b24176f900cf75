"""Benchmark: MP VI and MP RWS SVI steps on the paper's chimpanzee model (K=10).

Timing: the per-iteration time of ``SVI.update`` with ``jaxis.MPELBO(K=10)`` (MP VI) and
``jaxis.MPRWS(K=10)`` (MP RWS) against one ``log_evidence(mpis(...))`` evaluation at K=10
with the same proposal, in the same process (the issue's target: a step within 3x of it;
reverse mode costs about 2-3 forward passes), and the same MP VI objective written by hand
in JAX (:func:`mp_vi_by_hand`: its forward and ``value_and_grad``). Warm medians; compile
time apart.

Acceptance (``--runs N``): the issue's chimpanzee check, K=10, 100 iterations, MP VI at
lr 0.3 and MP RWS at lr 0.1, N seeds each; per run the final bound ``log P-hat`` (K=10,
learned proposal) and the predictive log-likelihood of the held-out repeats from 100 exact
MP posterior draws -- the runner's own estimators (``jaxis.experiments._metrics``) -- with
the mean and standard error over runs beside the paper's figures.

The proposal is ``AutoNormal(model, init_scale=1.0)`` (a Normal per latent in
unconstrained space, mean and scale learned: the paper's "mean and variance of a
Gaussian"), initialised at the prior median.

One-shot (``--oneshot-K 30``): MP IS at K=30 with the MP-RWS proposal against the prior
proposal, within ``--memory-budget`` (chunked when it does not fit: ``jaxis/_chunking.py``).

Run: ``JAXIS_DATA_DIR=/work/shared/data/mpis python benchmarks/bench_learning.py [--runs N]
[--oneshot-K 30 --oneshot-runs 3]``
"""
from __future__ import annotations

import argparse
import time

from _common import chimpanzee_mp_tail, time_call

PAPER = {"MP VI": (-263.8, -44.2), "MP RWS": (-346.3, -54.6)}  # (ELBO, predictive LL)


def setup():
    import jax.numpy as jnp
    from numpyro import handlers
    from numpyro.infer.autoguide import AutoNormal
    from numpyro.infer.initialization import init_to_median

    from jaxis.datasets import load_chimpanzees
    from jaxis.models import chimpanzees

    d = load_chimpanzees()
    as_f32 = lambda t: {k: jnp.asarray(v, jnp.float32) for k, v in t.items()}
    model = chimpanzees.model
    guide = AutoNormal(model, init_loc_fn=init_to_median, init_scale=1.0)
    train = as_f32(d.train)
    handlers.seed(guide, rng_seed=0)(**train)  # set up its prototype outside any jit
    return model, guide, train, as_f32(d.all())


def mp_vi_by_hand(K: int, train: dict):
    """``(log P_MP, value_and_grad step)``: the MP VI objective for this one model, written
    by hand in JAX (a Normal per latent in unconstrained space, like ``AutoNormal``;
    reparameterised draws; the same log-space einsums with the same shifts as jaxis), so
    jaxis's SVI step is compared with what a user's own code would cost."""
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist

    cond, pl, y = (train[k] for k in ("condition", "prosoc_left", "obs"))
    A, B, _ = cond.shape
    shapes = {"sb": (), "sa": (), "bpc": (), "bp": (), "a": (), "aa": (A,), "ab": (A, B)}

    def log_p_mp(params, key):
        draws = {}
        for k, (name, shape) in zip(jax.random.split(key, 7), shapes.items()):
            loc, log_scale = params[name]
            u = loc + jnp.exp(log_scale) * jax.random.normal(k, (K,) + shape)
            draws[name] = (u, dist.Normal(loc, jnp.exp(log_scale)).log_prob(u))
        (usb, qsb), (usa, qsa) = draws["sb"], draws["sa"]
        sb, sa = jnp.exp(usb), jnp.exp(usa)
        (bpc, qbpc), (bp, qbp), (a, qa) = draws["bpc"], draws["bp"], draws["a"]
        (aa, qaa), (ab, qab) = draws["aa"], draws["ab"]
        logk, n10 = jnp.log(K), dist.Normal(0.0, 10.0)
        g = [dist.HalfCauchy(1.0).log_prob(sb) + usb - qsb, dist.HalfCauchy(1.0).log_prob(sa)
             + usa - qsa, n10.log_prob(a) - qa, n10.log_prob(bp) - qbp, n10.log_prob(bpc) - qbpc]
        f_aa = dist.Normal(0.0, sa[None, :, None]).log_prob(aa[:, None]) - qaa[:, None] - logk
        f_ab = dist.Normal(0.0, sb[None, :, None, None]).log_prob(ab[:, None]) - qab[:, None] - logk
        l = (a[:, None, None, None, None, None, None, None]  # (a, bp, bpc, aa, ab, A, B, R)
             + (bp[None, :, None, None, None, None, None, None]
                + bpc[None, None, :, None, None, None, None, None] * cond) * pl
             + aa[None, None, None, :, None, :, None, None]
             + ab[None, None, None, None, :, :, :, None])
        obs = jnp.sum(y * l - jnp.maximum(l, 0.0) - jnp.log1p(jnp.exp(-jnp.abs(l))), -1)
        t2 = chimpanzee_mp_tail(jnp.transpose(obs, (4, 3, 0, 1, 2, 5, 6)), f_ab, f_aa)
        t2 = (t2 + g[2][:, None, None, None, None] + g[3][None, :, None, None, None]
              + g[4][None, None, :, None, None] + g[0][None, None, None, :, None]
              + g[1][None, None, None, None, :])
        return jax.scipy.special.logsumexp(t2) - 5 * logk

    params = {n: (jnp.zeros(s), jnp.zeros(s)) for n, s in shapes.items()}
    return params, jax.jit(log_p_mp), jax.jit(jax.value_and_grad(log_p_mp))


def timing(model, guide, train, K: int, repeats: int):
    import jax
    import optax
    from numpyro.infer import SVI

    import jaxis

    svi = {name: SVI(model, guide, optax.adam(0.1), loss=loss)
           for name, loss in (("MP VI", jaxis.MPELBO(K=K)), ("MP RWS", jaxis.MPRWS(K=K)))}
    states = {name: s.init(jax.random.PRNGKey(0), **train) for name, s in svi.items()}
    params = svi["MP VI"].get_params(states["MP VI"])
    run = jaxis.mpis(model, guide, K=K, params=params)
    ev = jax.jit(lambda key: jaxis.log_evidence(run(key, **train)))
    base, base_c = time_call(ev, jax.random.PRNGKey(1), repeats=repeats)
    print(f"log_evidence K={K}: {base * 1e3:.1f} ms (compile {base_c:.1f} s)")
    for name, s in svi.items():
        step = jax.jit(lambda st, s=s: s.update(st, **train)[0])
        warm, comp = time_call(step, states[name], repeats=repeats)
        print(f"{name} SVI step K={K}: {warm * 1e3:.1f} ms (compile {comp:.1f} s), "
              f"{warm / base:.2f}x log_evidence")
    hand_params, hand_ev, hand_step = mp_vi_by_hand(K, train)
    h_ev, _ = time_call(hand_ev, hand_params, jax.random.PRNGKey(1), repeats=repeats)
    h_step, _ = time_call(hand_step, hand_params, jax.random.PRNGKey(1), repeats=repeats)
    print(f"by hand, K={K}: log P_MP {h_ev * 1e3:.1f} ms ({h_ev / base:.2f}x jaxis "
          f"log_evidence), MP VI value_and_grad {h_step * 1e3:.1f} ms ({h_step / h_ev:.2f}x "
          f"its own forward, {h_step / base:.2f}x jaxis log_evidence)")


def acceptance(model, guide, train, all_, K: int, runs: int, methods, steps: int = 100):
    import jax
    import numpy as np
    import optax
    from numpyro.infer import SVI

    import jaxis

    def one_run(loss, lr):
        svi = SVI(model, guide, optax.adam(lr), loss=loss)

        @jax.jit
        def run(key):
            k_init, k_eval, k_pred = jax.random.split(key, 3)
            state = svi.init(k_init, **train)
            state, _ = jax.lax.scan(lambda st, _: (svi.update(st, **train)[0], None), state,
                                    None, length=steps)
            mpt = jaxis.mpis(model, guide, K=K, params=svi.get_params(state),
                             check_memory=False)(k_eval, **train)
            pll = jaxis.predictive_log_likelihood(k_pred, mpt, model, train, all_, 100)
            return jaxis.log_evidence(mpt), pll

        return run

    for name, loss, lr in (("MP VI", jaxis.MPELBO(K=K), 0.3), ("MP RWS", jaxis.MPRWS(K=K), 0.1)):
        if name.replace(" ", "_") not in methods:
            continue
        run, rows, t0 = one_run(loss, lr), [], time.perf_counter()
        for seed in range(runs):
            rows.append([float(x) for x in run(jax.random.PRNGKey(100 + seed))])
        x = np.array(rows)
        mean, se = x.mean(0), x.std(0, ddof=1) / np.sqrt(len(x))
        print(f"{name} lr {lr}, K={K}, {steps} its, n={len(x)} runs "
              f"({(time.perf_counter() - t0) / len(x):.1f} s/run incl. compile): "
              f"ELBO {mean[0]:.1f} ± {se[0]:.1f} (paper {PAPER[name][0]}), "
              f"predictive LL {mean[1]:.1f} ± {se[1]:.1f} (paper {PAPER[name][1]}); "
              f"non-finite runs: {int((~np.isfinite(x)).any(1).sum())}")


def oneshot(model, guide, train, K: int, runs: int, budget: int, steps: int = 100):
    """One-shot MP IS at ``K`` (memory-bounded: chunked when it does not fit ``budget``)
    with the MP-RWS proposal (K=10, lr 0.1, ``steps`` iterations) against the prior
    proposal at the same K, ``runs`` seeds each: log P-hat, mean and standard error."""
    import jax
    import numpy as np
    import optax
    from numpyro.infer import SVI

    import jaxis

    svi = SVI(model, guide, optax.adam(0.1), loss=jaxis.MPRWS(K=10))

    @jax.jit
    def train_params(key):
        state = svi.init(key, **train)
        state, _ = jax.lax.scan(lambda st, _: (svi.update(st, **train)[0], None), state,
                                None, length=steps)
        return svi.get_params(state)

    rows = {"MP RWS proposal": [], "prior proposal": []}
    for seed in range(runs):
        k_train, k_eval = jax.random.split(jax.random.PRNGKey(200 + seed))
        t0 = time.perf_counter()
        params = train_params(k_train)
        learned = jaxis.mpis(model, guide, K=K, params=params, memory_budget=budget)
        mpt = learned(k_eval, **train)
        rows["MP RWS proposal"].append(float(jaxis.log_evidence(mpt)))
        prior = jaxis.mpis(model, None, K=K, memory_budget=budget)(k_eval, **train)
        rows["prior proposal"].append(float(jaxis.log_evidence(prior)))
        print(f"  seed {seed}: learned {rows['MP RWS proposal'][-1]:.2f} ({mpt.chunks} chunks), "
              f"prior {rows['prior proposal'][-1]:.2f} ({prior.chunks} chunks), "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    for name, xs in rows.items():
        x = np.array(xs)
        print(f"one-shot MP IS K={K}, {name}: log P-hat {x.mean():.2f} ± "
              f"{x.std(ddof=1) / np.sqrt(len(x)):.2f} (n={len(x)})")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--K", type=int, default=10)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--runs", type=int, default=0, help="acceptance runs per method (0: none)")
    p.add_argument("--methods", nargs="+", default=["MP_VI", "MP_RWS"],
                   help="acceptance methods: MP_VI, MP_RWS")
    p.add_argument("--no-timing", action="store_true", help="only the acceptance runs")
    p.add_argument("--oneshot-K", type=int, default=0,
                   help="one-shot MP IS at this K, MP-RWS against prior proposal (0: none)")
    p.add_argument("--oneshot-runs", type=int, default=3)
    p.add_argument("--memory-budget", type=float, default=4e9, help="bytes, for --oneshot-K")
    a = p.parse_args()
    model, guide, train, all_ = setup()
    if not a.no_timing:
        timing(model, guide, train, a.K, a.repeats)
    if a.runs:
        acceptance(model, guide, train, all_, a.K, a.runs, a.methods)
    if a.oneshot_K:
        oneshot(model, guide, train, a.oneshot_K, a.oneshot_runs, int(a.memory_budget))


if __name__ == "__main__":
    main()
