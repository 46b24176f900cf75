"""The lean log-density kernels equal numpyro's ``log_prob``: values, dtypes and gradients.

One table drives the property test: every registered distribution, random parameters
(extreme logits included, ``|l|`` up to 200), float32 and float64, on shapes whose
broadcast has size-1 axes (so the compact layout is exercised). The oracle is numpyro's
own ``fn.log_prob``.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxis.trace._kernels import KERNELS, log_density
from tests.strategies import PROPERTY

PARAM, VALUE, C = (3, 1, 4), (2, 1, 1, 4), 5  # broadcast (2, 3, 1, 4)


def _draw(rng, name):
    """(distribution constructor of jnp params, params, value, value is continuous)."""
    u = lambda shape=PARAM: rng.uniform(size=shape)  # noqa: E731
    extreme = rng.uniform(size=PARAM) < 0.5  # |l| up to 200 in about half the entries
    logits = rng.uniform(-200, 200, PARAM) * extreme + rng.normal(size=PARAM)
    probs = np.where(u() < 0.1, np.round(u()), u())  # some exact 0 and 1
    bits = (u(VALUE) < 0.5).astype(float)
    n, k = rng.integers(5, 11, PARAM).astype(float), rng.integers(0, 6, VALUE).astype(float)
    if name == "BernoulliLogits":
        return lambda l: dist.Bernoulli(logits=l), (logits,), bits, False
    if name == "BernoulliProbs":
        return lambda p: dist.Bernoulli(probs=p), (probs,), bits, False
    if name == "BinomialLogits":
        return lambda l, n: dist.Binomial(n, logits=l), (logits, n), k, False
    if name == "BinomialProbs":
        return lambda p, n: dist.Binomial(n, probs=p), (probs, n), k, False
    cat = rng.integers(0, C, VALUE)
    if name == "CategoricalLogits":
        return (lambda l: dist.Categorical(logits=l), (rng.uniform(-200, 200, PARAM + (C,)),),
                cat, False)
    if name == "CategoricalProbs":
        p = u(PARAM + (C,)) * (u(PARAM + (C,)) > 0.2)
        p[..., 0] += 0.1
        return lambda p: dist.Categorical(probs=p), (p / p.sum(-1, keepdims=True),), cat, False
    x = rng.normal(size=VALUE) * 10.0 ** rng.integers(-2, 3)
    scale = np.exp(rng.uniform(-4, 4, PARAM))
    if name == "Normal":
        return lambda m, s: dist.Normal(m, s), (rng.normal(size=PARAM) * 100, scale), x, True
    if name == "HalfNormal":
        return lambda s: dist.HalfNormal(s), (scale,), np.abs(x), True
    if name == "Poisson":
        rate = np.exp(rng.uniform(-5, 5, PARAM)) * (u() > 0.1)  # some exact zeros
        return lambda r: dist.Poisson(r), (rate,), rng.integers(0, 20, VALUE).astype(float), False
    raise KeyError(name)


NAMES = sorted(k.__name__ for k in KERNELS)


@functools.lru_cache(maxsize=None)
def _compare(name, x64):
    """jitted ``(params, value) -> (numpyro's, kernel's)`` log densities and gradients."""
    make, params, _, continuous = _draw(np.random.default_rng(0), name)
    n = len(params)

    def both(params, value):
        def total(f, *a):
            lp = f(make(*a[:n]), *(a[n:] or (value,)))
            return jnp.sum(jnp.where(jnp.isfinite(lp), lp, 0.0)), lp

        args = (*params, *((value,) if continuous else ()))
        argnums = tuple(range(len(args)))
        out = []
        for f in (lambda d, v: d.log_prob(v), log_density):
            g, lp = jax.grad(lambda *a: total(f, *a), argnums, has_aux=True)(*args)
            out.append((lp, g))
        return out

    return jax.jit(both)


def _check(name, seed, x64):
    with jax.enable_x64(x64):
        make, params, value, _ = _draw(np.random.default_rng(seed), name)
        params, value = tuple(jnp.asarray(p) for p in params), jnp.asarray(value)
        assert type(make(*params)).__name__ == name
        (want, g_want), (got, g_got) = _compare(name, x64)(params, value)
        assert got.dtype == want.dtype and got.shape == want.shape
        tol = 1e-10 if x64 else 2e-5
        # float rounding is relative to the terms that cancel (value * parameter), not the sum
        terms = 1.0 + np.abs(want) + np.abs(value * (params[0] if params[0].ndim == len(PARAM)
                                                      else 0.0))
        got, want = np.asarray(got), np.asarray(want)
        same = (got == want) | (np.isnan(got) & np.isnan(want))  # equal infinities too
        assert np.all(same | (np.abs(got - want) <= tol * terms)), (got, want)
        for a, b in zip(g_got, g_want):
            scale = 1.0 + np.nanmax(np.abs(np.asarray(b)))
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("x64", [True, False])
@pytest.mark.parametrize("name", NAMES)
@settings(PROPERTY, max_examples=15)
@given(seed=st.integers(0, 2**32 - 1))
def test_kernel_equals_numpyro(name, x64, seed):
    """Values, dtype and gradients (parameters, and values when continuous) agree."""
    _check(name, seed, x64)


def test_nan_parameter_stays_nan():
    """A NaN parameter gives NaN (numpyro's Bernoulli(logits) would return a number)."""
    nan, off = jnp.array([jnp.nan, 0.5]), dict(validate_args=False)
    for fn, v in [(dist.Bernoulli(logits=nan, **off), 1.0), (dist.Bernoulli(probs=nan, **off), 1.0),
                  (dist.Normal(nan, 1.0, **off), 0.0), (dist.Poisson(nan, **off), 2.0),
                  (dist.Binomial(4, logits=nan, **off), 1.0)]:
        lp = log_density(fn, v)
        assert jnp.isnan(lp[0]) and jnp.isfinite(lp[1]), type(fn).__name__


def test_validate_args_out_of_support_is_minus_inf():
    """With ``validate_args`` an out-of-support value is ``-inf``, as in numpyro."""
    fn = dist.Bernoulli(logits=jnp.zeros(3), validate_args=True)
    with pytest.warns(UserWarning, match="Out-of-support"):
        lp = log_density(fn, jnp.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(jnp.isneginf(lp), [False, True, False])


def test_validate_args_gradient_is_numpyros():
    """``d log p / d logits`` with ``validate_args``: numpyro's where the value is in the
    support, 0 where it is not (numpyro's ``where``), for logits up to +-200."""
    y = jnp.array([0.0, 0.5, 1.0, 1.0, 0.0])
    logits = jnp.array([-200.0, 3.0, 200.0, -90.0, 0.7])

    def total(l, ours):
        fn = dist.Bernoulli(logits=l, validate_args=True)
        return jnp.sum(jnp.where(jnp.isfinite(lp := (log_density(fn, y) if ours else
                                                     fn.log_prob(y))), lp, 0.0))

    with pytest.warns(UserWarning, match="Out-of-support"):
        got = jax.grad(total)(logits, True)
        want = jax.grad(total)(logits, False)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
    assert got[1] == 0.0


def test_wrappers_and_subclasses():
    """Independent sums, expand broadcasts, mask zeroes; a subclass keeps its own log_prob."""

    class Tilted(dist.Normal):
        def log_prob(self, value):
            return super().log_prob(value) + 1.0

    @jax.jit
    def pairs(loc, x):
        fns = [dist.Normal(loc, 2.0).to_event(1), dist.Normal(0.5, 2.0).expand([2, 3]),
               dist.Normal(loc, 2.0).mask(jnp.array([True, False, True])),
               dist.Normal(loc, 2.0).mask(True).to_event(2), Tilted(loc, 1.0)]
        return [(log_density(fn, x), fn.log_prob(x)) for fn in fns]

    for got, want in pairs(jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), jnp.ones((4, 1, 3))):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_jit_vmap_grad():
    """``log_density`` works under jit, vmap and grad (a factor with size-1 axes)."""
    y = jnp.array([0.0, 1.0, 1.0])

    def both(l):
        logits = l[:, None, None] + jnp.zeros((1, 1, 3))
        return (jnp.sum(log_density(dist.Bernoulli(logits=logits), y)),
                jnp.sum(dist.Bernoulli(logits=logits).log_prob(y)))

    ls = jnp.linspace(-90.0, 90.0, 8).reshape(2, 4)
    (got, want), (g_got, g_want) = jax.jit(jax.vmap(lambda l: (both(l), jax.jacrev(both)(l))))(ls)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(g_got, g_want, rtol=1e-12)
