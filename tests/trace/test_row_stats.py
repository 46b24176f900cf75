"""Repeated data rows summed from sufficient statistics equal the row-by-row sum.

Oracles: numpyro's own ``log_prob`` summed over the rows (per kernel, values and
gradients), and jaxis itself with ``dedup_rows=False`` (the plain path, row by row) for
whole runs of a model built with repeated rows and of one where no row repeats. Which
sites take the summed form is read from an abstract trace (chimpanzees: none, their rows
vary with the covariates; occupancy: the replicates).
"""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers

import jaxis
from jaxis.models import chimpanzees, occupancy
from jaxis.trace._parallel_trace import parallel_trace
from jaxis.trace._row_stats import STATS, repeated_dims, summed_log_density
from jaxis.trace._structure import model_structure

ROWS, PARAM = (3, 5), (3, 1)  # 5 rows per plate element; parameters constant along them


def _case(name, rng):
    """(constructor of params, params, values): extreme logits and scales included."""
    logits = rng.uniform(-100, 100, PARAM) * (rng.uniform(size=PARAM) < 0.5) + rng.normal(
        size=PARAM)
    probs = rng.uniform(0.01, 0.99, PARAM)
    bits = (rng.uniform(size=ROWS) < 0.5).astype(float)
    n, k = np.full(PARAM, 9.0), rng.integers(0, 10, ROWS).astype(float)
    x = rng.normal(size=ROWS) * 10.0 ** rng.integers(-2, 3)
    scale = np.exp(rng.uniform(-3, 3, PARAM))
    return {
        "BernoulliLogits": (lambda l: dist.Bernoulli(logits=l), (logits,), bits),
        "BernoulliProbs": (lambda p: dist.Bernoulli(probs=p), (probs,), bits),
        "BinomialLogits": (lambda l, n: dist.Binomial(n, logits=l), (logits, n), k),
        "BinomialProbs": (lambda p, n: dist.Binomial(n, probs=p), (probs, n), k),
        "Poisson": (lambda r: dist.Poisson(r), (np.exp(rng.uniform(-4, 4, PARAM)),), k),
        "Normal": (lambda m, s: dist.Normal(m, s), (rng.normal(size=PARAM) * 30, scale), x),
        "HalfNormal": (lambda s: dist.HalfNormal(s), (scale,), np.abs(x)),
    }[name]


@pytest.mark.parametrize("name", sorted(k.__name__ for k in STATS))
def test_summed_form_equals_numpyro_row_sum_values_and_gradients(name):
    rng = np.random.default_rng(sorted(k.__name__ for k in STATS).index(name))
    make, params, value = _case(name, rng)
    value = jnp.asarray(value)

    def ours(*p):
        fn = make(*p).expand(ROWS)
        assert repeated_dims(fn, (-2, -1)) == (-1,)
        return summed_log_density(fn, value, (-1,))[:, 0]

    def oracle(*p):
        return jnp.sum(make(*p).expand(ROWS).log_prob(value), -1)

    got, want = jax.jit(ours)(*params), oracle(*params)
    terms = jnp.sum(jnp.abs(make(*params).expand(ROWS).log_prob(value)), -1)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * float(jnp.max(terms) + 1))
    cont = [i for i, p in enumerate(params) if not (name.startswith("Binomial") and i == 1)]
    g_ours = jax.grad(lambda *p: jnp.sum(ours(*p)), argnums=cont)(*params)
    g_want = jax.grad(lambda *p: jnp.sum(oracle(*p)), argnums=cont)(*params)
    for a, b in zip(g_ours, g_want):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-7 * float(jnp.max(jnp.abs(b)) + 1))


def _repeated(y):
    """Every observation site's parameters are constant along the latent-free plate n."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    with numpyro.plate("g", 3, dim=-2):
        th = numpyro.sample("th", dist.Normal(mu, 1.0))
        with numpyro.plate("n", y.shape[-1], dim=-1):
            numpyro.sample("y", dist.Normal(th, s), obs=y)
            numpyro.sample("b", dist.Bernoulli(logits=th), obs=(y > 0).astype(y.dtype))
            numpyro.sample("c", dist.Binomial(7, logits=th), obs=jnp.round(jnp.abs(y) * 2))


def _distinct(x, y):
    """No two rows share parameters: a covariate per row."""
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[-1]):
        numpyro.sample("y", dist.Bernoulli(logits=b * x), obs=y)


def _presummed(model, *args, from_stats=True):
    """site -> plates summed from statistics (or row by row), read from an abstract run
    (nothing runs)."""
    structure = model_structure(model, None, args, {}, 4, "auto")
    found = {}

    def trace():
        pt = parallel_trace(jax.random.PRNGKey(0), model, None, sizes=structure.sizes(4),
                            structure=structure, args=args, kwargs={}, dedup_rows=True)
        found.update({name: done.plates for name, done in pt.presummed.items()
                      if done.from_stats == from_stats})
        return pt.log_p

    jax.eval_shape(trace)
    return found


def _same_run(model, guide, args, K=4, rtol=1e-6):
    key = jax.random.PRNGKey(3)
    on = jaxis.mpis(model, guide, K=K, check_memory=False)(key, *args)
    off = jaxis.mpis(model, guide, K=K, dedup_rows=False, check_memory=False)(key, *args)
    for a, b in zip(on.log_factors, off.log_factors):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * float(jnp.max(jnp.abs(b))))
    np.testing.assert_allclose(jaxis.log_evidence(on), jaxis.log_evidence(off), rtol=rtol)
    for site, m in jaxis.marginals(on).items():
        np.testing.assert_allclose(m, jaxis.marginals(off)[site], rtol=rtol, atol=1e-12)


def test_repeated_rows_model_presums_and_matches_plain_path():
    y = jax.random.normal(jax.random.PRNGKey(1), (3, 6))
    assert _presummed(_repeated, y) == {"y": ("n",), "b": ("n",), "c": ("n",)}
    _same_run(_repeated, None, (y,))


def _iid(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[-1]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def test_under_jit_vmap_and_grad_with_traced_data():
    ys = jax.random.normal(jax.random.PRNGKey(2), (2, 6))
    assert _presummed(_iid, ys[0]) == {"y": ("n",)}

    def evidence(dedup):
        run = jaxis.mpis(_iid, K=3, dedup_rows=dedup, check_memory=False)
        return lambda y: jaxis.log_evidence(run(jax.random.PRNGKey(0), y))

    np.testing.assert_allclose(jax.jit(jax.vmap(evidence(True)))(ys),
                               jax.vmap(evidence(False))(ys), rtol=1e-6)
    want = jax.grad(evidence(False))(ys[0])
    np.testing.assert_allclose(jax.jit(jax.grad(evidence(True)))(ys[0]), want, rtol=1e-6,
                               atol=1e-6 * float(jnp.max(jnp.abs(want))))


def test_distinct_rows_model_is_unchanged():
    x, y = jnp.linspace(-1, 1, 7), (jnp.arange(7) % 2).astype(float)
    assert _presummed(_distinct, x, y) == {}
    _same_run(_distinct, None, (x, y))


def test_chimpanzee_rows_vary_with_covariates_so_the_plain_path_runs():
    rng = np.random.default_rng(0)
    cond, pl, y = (rng.integers(0, 2, (3, 2, 4)).astype(float) for _ in range(3))
    assert _presummed(chimpanzees.model, cond, pl, y) == {}


def test_occupancy_replicates_are_presummed():
    rng = np.random.default_rng(1)
    weather, quality = rng.normal(size=(2, 2, 3)), rng.normal(size=(2, 2, 3))
    obs = rng.integers(0, 2, (2, 2, 3, 4)).astype(float)
    assert _presummed(occupancy.model, weather, quality, obs) == {"obs": ("replicates",)}


def test_scaled_site_and_out_of_support_data_keep_numpyro_semantics():
    y = jax.random.normal(jax.random.PRNGKey(1), (3, 6))

    def scaled(y):
        with handlers.scale(scale=0.5):
            _repeated(y)

    assert _presummed(scaled, y) == {}  # numpyro's scale: the plain path

    bad = jnp.zeros(7).at[2].set(2.0)  # a Bernoulli value outside {0, 1}

    def model(y):
        b = numpyro.sample("b", dist.Normal(0.0, 1.0))
        with numpyro.plate("n", 7):
            numpyro.sample("y", dist.Bernoulli(logits=b, validate_args=True), obs=y)

    assert _presummed(model, bad) == {"y": ("n",)}
    for dedup in (True, False):
        mpt = jaxis.mpis(model, K=4, dedup_rows=dedup, check_memory=False)(
            jax.random.PRNGKey(0), bad)
        assert jaxis.log_evidence(mpt) == -jnp.inf


def test_nan_data_under_jit_give_nan_on_both_paths():
    y = jax.random.normal(jax.random.PRNGKey(1), (3, 6)).at[1, 2].set(jnp.nan)
    for dedup in (True, False):
        run = jaxis.mpis(_repeated, K=4, dedup_rows=dedup, check_memory=False)
        assert jnp.isnan(jax.jit(lambda y: jaxis.log_evidence(run(jax.random.PRNGKey(0), y)))(y))


def test_bad_flag_is_rejected():
    with pytest.raises(ValueError, match="dedup_rows"):
        jaxis.mpis(_repeated, K=4, dedup_rows="yes")


@pytest.mark.parametrize("case", ["distinct", "chimpanzees"])
def test_rows_summed_where_scored_keep_values_and_mp_vi_gradients(case):
    """Rows that vary (no statistics form) are summed where the site is scored, under
    ``jax.checkpoint``; log Z and its gradient in the guide's parameters (reparameterised
    draws: MP VI's gradient) equal the plain path, which sums in the contraction."""
    from numpyro.infer.autoguide import AutoNormal

    rng = np.random.default_rng(4)
    if case == "distinct":
        model, args = _distinct, (jnp.linspace(-1, 1, 7), (jnp.arange(7) % 2).astype(float))
    else:
        model, args = chimpanzees.model, tuple(
            jnp.asarray(rng.integers(0, 2, (3, 2, 4)), float) for _ in range(3))
    guide = AutoNormal(model, init_scale=0.5)
    tr = handlers.trace(handlers.seed(guide, 0)).get_trace(*args)
    params = {n: s["value"] + 0.1 for n, s in tr.items() if s["type"] == "param"}
    sites = {n for n, s in handlers.trace(handlers.seed(model, 0)).get_trace(*args).items()
             if s["type"] == "sample" and s["is_observed"]}
    assert _presummed(model, *args) == {}  # no statistics form: the row-by-row sum
    assert set(_presummed(model, *args, from_stats=False)) == sites

    def log_z(p, dedup):
        run = jaxis.mpis(model, handlers.substitute(guide, data=p), K=3, dedup_rows=dedup,
                         check_memory=False)
        return jaxis.log_evidence(run(jax.random.PRNGKey(5), *args))

    (got, g_got), (want, g_want) = (jax.jit(jax.value_and_grad(lambda p: log_z(p, d)))(params)
                                    for d in (True, False))
    assert sites and np.isfinite(want)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    for name in params:
        scale = float(jnp.max(jnp.abs(g_want[name]))) + 1e-12
        np.testing.assert_allclose(g_got[name], g_want[name], rtol=1e-5, atol=1e-6 * scale)
