"""The runner's plots: ELBO and predictive log-likelihood against K and against time.

MP IS and global IS share the axes (the paper's Figs. 1 and 2); error bars are standard
errors over the runs; a dashed line marks the exact log evidence where it is known, and a
star the published MP IS ELBO on the paper's data. matplotlib is imported on first use;
saved plots are drawn on bare ``matplotlib.figure.Figure`` objects (rendered by Agg), so
saving needs no display and leaves pyplot's backend alone (notebooks keep theirs).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from .._extras import import_extra
from ._measure import mean_se
from ._metrics import METHOD_LABELS
from ._runner import ExperimentResult

FIGURES = (
    ("elbo_vs_K.png", "elbo", "K"),
    ("predictive_ll_vs_K.png", "predictive_ll", "K"),
    ("elbo_vs_time.png", "elbo", "time"),
    ("predictive_ll_vs_time.png", "predictive_ll", "time"),
)
"""(file, metric, x axis) of every plot a run writes (predictive ones need held-out data)."""

_Y_LABELS = {"elbo": "ELBO", "predictive_ll": "predictive log-likelihood"}
_X_LABELS = {"K": "K (samples per latent; joint samples for global IS)",
             "time": "wall time per run (s)"}
_STYLES = {"mp_is": dict(color="C3", marker="o"), "global_is": dict(color="C0", marker="s")}


def plot_metric(result: ExperimentResult, metric: str, x: str, ax: Optional[Any] = None) -> Any:
    """Plot ``metric`` (``"elbo"`` or ``"predictive_ll"``) against ``x`` (``"K"`` or
    ``"time"``) for every method of ``result``, on ``ax`` (a new figure if ``None``).

    Example (``result`` from :func:`jaxis.experiments.run_experiment`)::

        ax = plot_metric(result, "elbo", "K")
    """
    if ax is None:
        plt = import_extra("matplotlib.pyplot", "jaxis.experiments.plot_metric")
        _, ax = plt.subplots(figsize=(5.5, 4))
    for method in METHOD_LABELS:
        rows = [r for r in result.method_rows(method) if getattr(r, metric) is not None]
        if not rows:
            continue
        stats = np.array([mean_se(getattr(r, metric)) for r in rows])
        xs = [r.K if x == "K" else float(np.mean(r.time_s)) for r in rows]
        ax.errorbar(xs, stats[:, 0], yerr=np.nan_to_num(stats[:, 1]), capsize=3,
                    label=METHOD_LABELS[method], **_STYLES[method])
    exact = result.data.exact_log_evidence
    if metric == "elbo" and exact is not None:
        ax.axhline(exact, color="k", linestyle="--", linewidth=1, label="exact log evidence")
    paper = result.paper_elbo
    if metric == "elbo" and x == "K" and paper is not None:
        ax.errorbar([paper.K], [paper.elbo], yerr=[paper.standard_error], color="k",
                    marker="*", markersize=10, capsize=3, linestyle="none",
                    label=f"paper MP IS, K={paper.K}")
    ax.set_xscale("log")
    ax.set_xlabel(_X_LABELS[x])
    ax.set_ylabel(_Y_LABELS[metric])
    ax.set_title(f"{result.config.model}: {_Y_LABELS[metric]} vs {x}")
    ax.legend()
    return ax


def save_plots(result: ExperimentResult, folder: Path) -> list[Path]:
    """Write the :data:`FIGURES` that ``result`` has data for into ``folder``."""
    Figure = import_extra("matplotlib.figure", "jaxis.experiments.save_plots").Figure

    has_pll = any(r.predictive_ll is not None for r in result.rows)
    paths = []
    for name, metric, x in FIGURES:
        if metric == "predictive_ll" and not has_pll:
            continue
        fig = Figure(figsize=(5.5, 4))
        plot_metric(result, metric, x, fig.subplots())
        fig.tight_layout()
        fig.savefig(folder / name, dpi=120)
        paths.append(folder / name)
    return paths
