"""The learned-proposal plots (the paper's Fig. 3 and Figs. 8-10): one panel per learning rate.

ELBO (``log P-hat_MP`` at the learning K) and predictive log-likelihood against the
iteration and against the training wall time per run; a line per method (mean over runs,
a band of ± one standard error). One-shot MP IS with the model's proposal is the
reference: a dashed line per K against iterations, a star at its time per run against
time. Drawn on bare ``matplotlib.figure.Figure`` objects, as :mod:`._plots`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from .._extras import import_extra
from ._learning_methods import LEARNING_LABELS
from ._measure import mean_se
from ._runner import ExperimentResult

LEARNING_FIGURES = (
    ("learning_elbo_vs_iteration.png", "elbo", "iteration"),
    ("learning_predictive_ll_vs_iteration.png", "predictive_ll", "iteration"),
    ("learning_elbo_vs_time.png", "elbo", "time"),
    ("learning_predictive_ll_vs_time.png", "predictive_ll", "time"),
)
"""(file, metric, x axis) of every learning plot a run with a ``learning`` section writes."""

_Y_LABELS = {"elbo": "ELBO (MP bound at the learning K)",
             "predictive_ll": "predictive log-likelihood"}
_X_LABELS = {"iteration": "iteration", "time": "training wall time per run (s)"}


def _per_point(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stats = np.array([mean_se(values[:, j]) for j in range(values.shape[1])])
    return stats[:, 0], np.nan_to_num(stats[:, 1])


def plot_learning(result: ExperimentResult, metric: str, x: str, lr: float,
                  ax: Optional[Any] = None) -> Any:
    """Plot ``metric`` (``"elbo"`` or ``"predictive_ll"``) against ``x`` (``"iteration"``
    or ``"time"``) for every learning method of ``result`` at learning rate ``lr``.

    Example (``result`` from :func:`jaxis.experiments.run_experiment` with ``learning``)::

        ax = plot_learning(result, "elbo", "iteration", lr=0.1)
    """
    if ax is None:
        plt = import_extra("matplotlib.pyplot", "jaxis.experiments.plot_learning")
        _, ax = plt.subplots(figsize=(5.5, 4))
    for i, method in enumerate(LEARNING_LABELS):
        rows = [r for r in result.learning if r.method == method and r.lr == lr]
        if not rows or getattr(rows[0], metric) is None:
            continue
        row = rows[0]
        mean, se = _per_point(getattr(row, metric))
        xs = row.iterations if x == "iteration" else row.train_time_s
        ax.plot(xs, mean, color=f"C{i}", marker=".", label=LEARNING_LABELS[method])
        ax.fill_between(xs, mean - se, mean + se, color=f"C{i}", alpha=0.2)
    for j, row in enumerate(result.method_rows("mp_is")):
        values = getattr(row, metric)
        if values is None:
            continue
        mean = float(np.mean(values))
        style = dict(color="k", alpha=1.0 - 0.5 * j / max(1, len(result.rows)))
        if x == "iteration":
            ax.axhline(mean, linestyle="--", linewidth=1, label=f"MP IS K={row.K}", **style)
        else:
            ax.plot([float(np.mean(row.time_s))], [mean], marker="*", markersize=10,
                    linestyle="none", label=f"MP IS K={row.K}", **style)
    ax.set_xlabel(_X_LABELS[x])
    ax.set_ylabel(_Y_LABELS[metric])
    ax.set_title(f"lr {lr:g}")
    ax.legend(fontsize="small")
    return ax


def save_learning_plots(result: ExperimentResult, folder: Path) -> list[Path]:
    """Write the :data:`LEARNING_FIGURES` that ``result`` has data for into ``folder``."""
    if not result.learning:
        return []
    Figure = import_extra("matplotlib.figure", "jaxis.experiments.save_plots").Figure
    lrs = result.config.learning.lrs
    paths = []
    for name, metric, x in LEARNING_FIGURES:
        if all(getattr(r, metric) is None for r in result.learning):
            continue
        fig = Figure(figsize=(max(6.5, 4.5 * len(lrs)), 4.2))
        for lr, ax in zip(lrs, np.atleast_1d(fig.subplots(1, len(lrs), sharey=True))):
            plot_learning(result, metric, x, lr, ax)
        fig.suptitle(f"{result.config.model}: {_Y_LABELS[metric]} vs {x}", fontsize="medium")
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        paths.append(folder / name)
    return paths
