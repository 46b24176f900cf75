"""jaxis.trace._axes.dim_order: the largest factor is evaluated without size-1 sample axes."""
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import jaxis
from jaxis.models import chimpanzees

from .. import oracles


def _chimp_data():
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    return tuple(jax.random.bernoulli(k, 0.5, (7, 6, 10)).astype(jnp.float32) for k in keys)


@pytest.mark.parametrize("guide", [chimpanzees.guide, None], ids=["guide", "prior"])
def test_largest_factor_is_evaluated_at_low_rank_in_one_pass(guide, float32):
    # The two scales are sampled first, so numpyro's dim allocation would put them between
    # the observation factor's sample axes and its plates: a rank-10 factor with two size-1
    # axes, which XLA's CPU backend evaluates several times slower than at rank 8.
    K = 3
    data = _chimp_data()
    mpt = jaxis.mpis(chimpanzees.model, guide, K=K)(jax.random.PRNGKey(0), *data)
    obs = next(f for f in mpt.graph.factors if f.name == "obs")
    P = mpt.graph.plate_depth
    inner = sorted(-mpt.graph.latent(n).dim for n in obs.kvars)
    assert inner == list(range(P + 1, P + 1 + len(obs.kvars)))
    run = jaxis.mpis(chimpanzees.model, guide, K=K)
    text = jax.jit(lambda key, *d: jaxis.log_evidence(run(key, *d))).lower(
        jax.random.PRNGKey(0), *data).compile().as_text()
    n = K ** 5 * 420
    shapes = {tuple(int(d) for d in m.split(",")) for m in re.findall(r"f32\[([\d,]+)\]", text)}
    full = [s for s in shapes if math.prod(s) == n]
    assert full, "the test no longer finds the K^5 x 420 factor in the HLO"
    assert all(1 not in s for s in full), full
    # ... and it is summed over the repeats inside the fusion that computes it: the entry
    # computation holds no K^5 x 420 buffer (a ``where`` on it, as numpyro's support check
    # and the NaN-data guard were written, split it into a materialised pass)
    entry = next(c for c in re.split(r"\n(?=\S)", text) if c.startswith("ENTRY"))
    outputs = [tuple(int(d) for d in m.split(",")) for m in
               re.findall(r"^\s*%\S+ = f32\[([\d,]+)\]", entry, re.M)]
    assert not [o for o in outputs if math.prod(o) == n], "the factor is materialised"


def test_parents_outside_their_children_keep_the_estimator_exact():
    # Reordering puts a proposal parent (the prior's ``scale``) left of its child's axis;
    # the paired draws and the proposal mixture must be unchanged: compare with brute-force
    # enumeration over all K^n index tuples, which scores each tuple with numpyro's own
    # densities and the mixture proposal over the paired parent tuples.
    def model(y):
        scale = numpyro.sample("scale", dist.HalfNormal(1.0))
        loc = numpyro.sample("loc", dist.Normal(0.0, 1.0))
        with numpyro.plate("n", 3, dim=-2):
            z = numpyro.sample("z", dist.Normal(loc, scale))
            with numpyro.plate("r", 4, dim=-1):  # the largest factor: (loc, z) x 12
                numpyro.sample("y", dist.Normal(z + loc, 0.5), obs=y)

    y = jax.random.normal(jax.random.PRNGKey(5), (3, 4))
    mpt = jaxis.mpis(model, K=3)(jax.random.PRNGKey(2), y)
    assert mpt.graph.latent("scale").dim < mpt.graph.latent("z").dim  # scale moved out
    batch = {"scale": (), "loc": (), "z": (3, 1)}
    en = oracles.enumerate_mp(model, model, mpt.samples, batch, (y,), perms=mpt.perms)
    np.testing.assert_allclose(jaxis.log_evidence(mpt), en.log_z, rtol=1e-10)
    np.testing.assert_allclose(jaxis.marginals(mpt)["z"], oracles.marginal(en, "z", 3, (3, 1)),
                               atol=1e-10)


def test_compact_layout_does_not_depend_on_the_positional_dims(monkeypatch):
    # The dim reorder moves sample dims only: the factor specs (canonical compact order),
    # the compact log factors and every query are those of a run that keeps numpyro's own
    # dim allocation (same key, same draws) -- so the contraction does not change with it.
    data = _chimp_data()
    run = lambda model: jaxis.mpis(model, chimpanzees.guide, K=3)(jax.random.PRNGKey(0), *data)
    moved = run(chimpanzees.model)
    monkeypatch.setattr("jaxis._mpis.dim_order", lambda graph, reverse=False: tuple(
        lat.name for lat in sorted(graph.latents, key=lambda lat: -lat.dim)))
    kept = run(lambda *a: chimpanzees.model(*a))  # a new function: not the cached run
    dims = lambda mpt: {lat.name: lat.dim for lat in mpt.graph.latents}
    assert dims(moved) != dims(kept)  # the reorder did move dims
    assert moved.graph.factors == kept.graph.factors
    for a, b in zip(moved.log_factors, kept.log_factors):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jaxis.log_evidence(moved), jaxis.log_evidence(kept), rtol=1e-12)
    for site, m in jaxis.marginals(moved).items():
        np.testing.assert_allclose(m, jaxis.marginals(kept)[site], atol=1e-12)
    fns = {"alpha_actor": lambda v: v, "sigma_block": lambda v: v ** 2}
    for name, m in jaxis.moments(moved, fns).items():
        np.testing.assert_allclose(m, jaxis.moments(kept, fns)[name], rtol=1e-10)
    draws = jaxis.sample_posterior(jax.random.PRNGKey(3), moved, num_samples=5)
    again = jaxis.sample_posterior(jax.random.PRNGKey(3), kept, num_samples=5)
    for site in draws:
        np.testing.assert_allclose(draws[site], again[site], rtol=1e-12)


def test_reverse_layout_moves_dims_only_and_keeps_the_gradient_through_the_draws():
    # layout="reverse" (MPELBO's) puts the plated latents of the largest factor innermost:
    # the same key gives the same log factors, log Z, and gradient of log Z in the guide's
    # parameters through the reparameterised draws (MP VI's gradient).
    from numpyro import handlers
    from numpyro.infer.autoguide import AutoNormal

    data = _chimp_data()
    guide = AutoNormal(chimpanzees.model, init_scale=0.5)
    tr = handlers.trace(handlers.seed(guide, 0)).get_trace(*data)
    params = {n: s["value"] for n, s in tr.items() if s["type"] == "param"}

    def run(p, layout):
        g = handlers.substitute(guide, data=p)
        return jaxis.mpis(chimpanzees.model, g, K=3, layout=layout, check_memory=False)(
            jax.random.PRNGKey(0), *data)

    fwd, rev = run(params, "forward"), run(params, "reverse")
    dims = lambda mpt: [lat.name for lat in sorted(mpt.graph.latents, key=lambda l: -l.dim)]
    assert dims(rev)[:2] == ["alpha_block", "alpha_actor"] != dims(fwd)[:2]
    assert fwd.graph.factors == rev.graph.factors
    for a, b in zip(fwd.log_factors, rev.log_factors):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    grads = [jax.grad(lambda p, l=l: jaxis.log_evidence(run(p, l)))(params)
             for l in ("forward", "reverse")]
    for name in params:
        np.testing.assert_allclose(grads[0][name], grads[1][name], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="layout"):
        jaxis.mpis(chimpanzees.model, K=3, layout="backward")
