"""Benchmark: recycled population log-likelihood, value and gradient, 70 sources x 4000 draws.

Population ``N(theta; mu, sigma)`` over one per-source parameter, per-source draws
recycled from a flat sampling prior (``log pi_0 = -log 20``). Compared, in one run:

- jaxis ``population_log_likelihood`` under ``jax.jit(jax.value_and_grad(...))``
  (float64 and float32), value and gradient w.r.t. ``(mu, sigma)`` plus the variance;
- a numpy implementation of the same formula, with the analytic gradient written out
  (log-sum-exp per source, self-normalised weights times the score), plus the variance;
- gwpopulation's ``HyperparameterLikelihood.ln_likelihood_and_variance`` (numpy backend,
  value and variance only; it has no gradient there), when it can be imported.

Run by hand: ``python benchmarks/bench_population.py [--extra-sys-path DIR]``; the
optional path is appended to ``sys.path`` (e.g. a ``pip install --target`` folder holding
gwpopulation) so it never shadows the environment's own packages. Prints a table of the
median time per call with ratios against the numpy baseline measured in the same run.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from _common import time_call

from jaxis.transforms import population_log_likelihood

SOURCES, DRAWS = 70, 4000
LOG_OLD = -np.log(20.0)


def make_data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.5, 1.0, SOURCES)
    err = rng.uniform(0.3, 1.5, SOURCES)
    obs = truth + err * rng.normal(size=SOURCES)
    return obs[:, None] + err[:, None] * rng.normal(size=(SOURCES, DRAWS))


def numpy_value_and_grad(theta: np.ndarray, mu: float, sigma: float):
    """Same estimator in numpy with the analytic gradient."""
    z = (theta - mu) / sigma
    lw = -0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi) - LOG_OLD
    top = lw.max(axis=1, keepdims=True)
    w = np.exp(lw - top)
    total = w.sum(axis=1, keepdims=True)
    per_source = top[:, 0] + np.log(total[:, 0]) - np.log(DRAWS)
    wbar = w / total
    d_mu = np.sum(wbar * z / sigma)
    d_sigma = np.sum(wbar * (z**2 - 1.0) / sigma)
    ratio = DRAWS * np.sum(wbar**2, axis=1)  # E[w^2] / E[w]^2
    variance = np.sum((ratio - 1.0) / DRAWS)
    return per_source.sum(), np.array([d_mu, d_sigma]), variance


def jaxis_value_and_grad() -> Callable:
    def log_l(lam, theta):
        mu, sigma = lam
        log_pop = -0.5 * ((theta - mu) / sigma) ** 2 - jnp.log(sigma) - 0.5 * jnp.log(2 * jnp.pi)
        res = population_log_likelihood(log_pop, LOG_OLD)
        return res.log_likelihood, res.variance

    return jax.jit(jax.value_and_grad(log_l, has_aux=True))


def gwpopulation_call(theta: np.ndarray) -> Callable | None:
    try:
        import pandas as pd
        from gwpopulation.hyperpe import HyperparameterLikelihood
    except ImportError as err:
        print(f"gwpopulation not available ({err}); skipping it.")
        return None

    def model(dataset, mu, sigma):
        return np.exp(-0.5 * ((dataset["x"] - mu) / sigma) ** 2) / np.sqrt(2 * np.pi) / sigma

    posteriors = [pd.DataFrame({"x": row, "prior": np.exp(LOG_OLD)}) for row in theta]
    like = HyperparameterLikelihood(posteriors=posteriors, hyper_prior=model)
    return lambda mu, sigma: like.ln_likelihood_and_variance({"mu": mu, "sigma": sigma})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--extra-sys-path", default=None)
    args = parser.parse_args()
    if args.extra_sys_path:
        sys.path.append(args.extra_sys_path)
    jax.config.update("jax_enable_x64", True)
    theta = make_data()
    mu, sigma = 0.4, 1.1

    ref_value, ref_grad, ref_var = numpy_value_and_grad(theta, mu, sigma)
    f64 = jaxis_value_and_grad()
    lam64, theta64 = jnp.array([mu, sigma]), jnp.asarray(theta)
    (value, var), grad = f64(lam64, theta64)
    np.testing.assert_allclose(value, ref_value, rtol=1e-10)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-8)
    np.testing.assert_allclose(var, ref_var, rtol=1e-8)
    lam32, theta32 = lam64.astype(jnp.float32), theta64.astype(jnp.float32)
    f32 = jaxis_value_and_grad()

    rows = [
        ("numpy (same formula, analytic grad)", "value+grad+var",
         time_call(numpy_value_and_grad, theta, mu, sigma, repeats=args.repeats)[0]),
        ("jaxis jit value_and_grad float64", "value+grad+var",
         time_call(f64, lam64, theta64, repeats=args.repeats)[0]),
        ("jaxis jit value_and_grad float32", "value+grad+var",
         time_call(f32, lam32, theta32, repeats=args.repeats)[0]),
    ]
    gw = gwpopulation_call(theta)
    if gw is not None:
        gw_value, _ = gw(mu, sigma)
        np.testing.assert_allclose(gw_value, ref_value, rtol=1e-8)
        rows.append(("gwpopulation HyperparameterLikelihood (numpy)", "value+var",
                     time_call(gw, mu, sigma, repeats=args.repeats)[0]))

    base = rows[0][2]
    print(f"\npopulation log-likelihood, {SOURCES} sources x {DRAWS} draws, "
          f"median of {args.repeats} calls, {jax.devices()[0].platform}")
    print(f"{'implementation':<48} {'computes':<16} {'ms/call':>9} {'vs numpy':>9}")
    for name, what, t in rows:
        print(f"{name:<48} {what:<16} {1e3 * t:>9.3f} {base / t:>8.2f}x")


if __name__ == "__main__":
    main()
