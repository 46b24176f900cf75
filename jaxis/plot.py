"""Plots of importance weights (matplotlib is imported lazily, inside each function; it
comes with ``pip install "jaxis[experiments]"``, and without it a plot raises an
``ImportError`` saying so).

- ``plot_weights``: histogram of ``log10(N * wbar_n)`` (0 is an average sample) with the
  ESS and Pareto k in the title.
- ``plot_stability``: the blog's stability plot, ``log p`` against ``log q`` centred on
  their medians, the 1:1 line, the unstable region above it on the low-density side, and
  the fitted tail slope from ``jaxis.diagnostics.stability``.
- ``plot_ess``: ESS of the first ``n`` samples against ``n``, with ``ESS = n`` and the
  linear growth ``n * ESS/N`` expected for finite-variance weights.

Every function takes an optional ``ax`` and returns it.

Reference: the importance-sampling blog in ``shared/papers`` ("Danger Modes").
"""
from __future__ import annotations

from typing import Any, Optional, Union

import jax
import numpy as np

from ._extras import import_extra
from .diagnostics._weight_diagnostics import ess_curve
from .diagnostics._weight_diagnostics import stability, stability_points
from .weighted._weighted_samples import WeightedSamples

__all__ = ["plot_weights", "plot_stability", "plot_ess"]

_stability = jax.jit(stability, static_argnames="tail_fraction")
_ess_curve = jax.jit(ess_curve)


@jax.jit
def _weight_stats(ws: WeightedSamples) -> tuple:
    khat = ws.pareto_k().khat if ws.num_samples >= 10 else np.nan
    return ws.log_normalized_weights(), ws.ess(), khat


def _axes(ax: Optional[Any]) -> Any:
    if ax is not None:
        return ax
    plt = import_extra("matplotlib.pyplot", "jaxis.plot")
    return plt.subplots(figsize=(5, 3.5))[1]


def plot_weights(ws: WeightedSamples, *, ax: Optional[Any] = None, bins: int = 50) -> Any:
    """Histogram of ``log10(N * wbar)`` for the samples with non-zero weight."""
    ax = _axes(ax)
    log_w, ess, khat = (np.asarray(v) for v in _weight_stats(ws))
    finite = np.isfinite(log_w)
    ax.hist((log_w[finite] + np.log(ws.num_samples)) / np.log(10.0), bins=bins, color="tab:purple")
    ax.axvline(0.0, color="k", ls="--", lw=1)
    ax.set_title(f"ESS = {float(ess):.1f} of {ws.num_samples}, k-hat = {float(khat):.2f}")
    ax.set_xlabel(r"$\log_{10}(N\,\bar w_n)$")
    ax.set_ylabel("samples")
    return ax


def plot_stability(
    target: Union[WeightedSamples, jax.Array],
    log_sampling_density: Optional[jax.Array] = None,
    *,
    ax: Optional[Any] = None,
    tail_fraction: float = 0.2,
) -> Any:
    """Scatter of ``log p`` against ``log q`` with the 1:1 stability line."""
    ax = _axes(ax)
    log_q, log_p = (np.asarray(a) for a in stability_points(target, log_sampling_density))
    ok = np.isfinite(log_q) & np.isfinite(log_p)
    x = log_q[ok] - np.median(log_q[ok])
    y = log_p[ok] - np.median(log_p[ok])
    res = _stability(target, log_sampling_density, tail_fraction=tail_fraction)
    ax.scatter(x, y, s=2, alpha=0.5, color="blueviolet", label="samples")
    line = np.linspace(x.min(), max(x.max(), 0.0), 64)
    ax.plot(line, line, ls="--", c="k", label="1:1 (stability line)")
    left = line[line <= 0]
    ax.fill_between(left, left, max(y.max(), 0.0), color="r", alpha=0.15, label="unstable")
    tail = np.sort(x)[: max(3, int(np.ceil(tail_fraction * x.size)))]
    slope = float(res.slope)
    if np.isfinite(slope):
        anchor = np.mean(y[np.argsort(x)[: tail.size]])
        ax.plot(tail, anchor + slope * (tail - tail.mean()), c="tab:orange",
                label=f"tail slope {slope:.2f} ({'stable' if bool(res.stable) else 'unstable'})")
    ax.set_xlabel("log sampling density (centred)")
    ax.set_ylabel("log target density (centred)")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_ess(ws: WeightedSamples, *, ax: Optional[Any] = None) -> Any:
    """ESS of the first ``n`` samples against ``n`` (log-log)."""
    ax = _axes(ax)
    curve = np.asarray(_ess_curve(ws))
    n = np.arange(1, curve.size + 1)
    ax.loglog(n, curve, color="tab:blue", label="ESS(n)")
    ax.loglog(n, n, ls=":", c="k", label="ESS = n")
    ax.loglog(n, n * curve[-1] / curve.size, ls="--", c="gray", label="n ESS/N")
    ax.set_xlabel("sample size n")
    ax.set_ylabel("effective sample size")
    ax.legend(fontsize=8)
    return ax
