"""Saving a run: a fresh folder with ``results.json``, ``config.yaml`` and the PNG plots.

``results.json`` holds the config, the environment (package/JAX/numpyro versions, device,
date, command), the data description, the exact and published evidence where known,
every row's per-run values with their mean and standard error, every learning row's
values per evaluation point (mean, standard error, every run), and which figure plots
what. Non-finite numbers are written as ``null``. An existing folder is never reused:
``results/chimp`` becomes ``results/chimp-1``, ``results/chimp-2``, ... The folder appears
complete or not at all: everything is written into a hidden staging folder beside it
(``.chimp.incomplete-...``), renamed when complete and removed if saving fails or is
interrupted.
"""
from __future__ import annotations

import json
import math
import shutil
import uuid
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..config import config_to_dict, dump_config
from ._measure import Row, mean_se
from ._learning import LearningRow
from ._plots import FIGURES, save_plots
from ._plots_learning import LEARNING_FIGURES, save_learning_plots
from ._runner import ExperimentResult

RESULTS_FILE = "results.json"


def _publish(staging: Path, base: Path) -> Path:
    """Rename the complete ``staging`` folder to ``base``, or ``base-1``, ``base-2``, ...
    (the first name not taken); return the new name."""
    suffix = 0
    while True:
        candidate = base.with_name(f"{base.name}-{suffix}") if suffix else base
        if not candidate.exists():
            try:
                staging.rename(candidate)
                return candidate
            except OSError:  # taken in the meantime
                pass
        suffix += 1


def _number(x: Any) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


def _summary(values: Optional[np.ndarray]) -> Optional[dict]:
    if values is None:
        return None
    mean, se = mean_se(values)
    return {"mean": _number(mean), "se": _number(se), "runs": [_number(v) for v in values]}


def row_to_dict(row: Row) -> dict:
    """A row as JSON types: per-run values with their mean and standard error."""
    return {
        "method": row.method,
        "K": row.K,
        "elbo": _summary(row.elbo),
        "predictive_log_likelihood": _summary(row.predictive_ll),
        "posterior_means": {k: _summary(v) for k, v in row.posterior_means.items()},
        "ess": _summary(row.ess),
        "ess_kind": "mean marginal ESS of the scalar globals"
        if row.method == "mp_is" else "Kish ESS of the joint weights",
        "time_per_run_s": _summary(row.time_s),
        "compile_s": _number(row.compile_s),
        "peak_rss_mb": _number(row.peak_rss_mb),
    }


def _per_point(values: Optional[np.ndarray]) -> Optional[dict]:
    """``(runs, points)`` values: mean and standard error per point, and every run."""
    if values is None:
        return None
    stats = [mean_se(values[:, j]) for j in range(values.shape[1])]
    return {"mean": [_number(m) for m, _ in stats], "se": [_number(e) for _, e in stats],
            "runs": [[_number(v) for v in run] for run in values]}


def learning_row_to_dict(row: LearningRow) -> dict:
    """A learning row as JSON types: per evaluation point, mean ± s.e. and every run."""
    return {
        "method": row.method,
        "lr": row.lr,
        "K": row.K,
        "iterations": [int(i) for i in row.iterations],
        "elbo": _per_point(row.elbo),
        "predictive_log_likelihood": _per_point(row.predictive_ll),
        "train_time_s": [_number(t) for t in row.train_time_s],
        "time_per_iteration_s": _number(row.time_per_iteration_s),
        "compile_s": _number(row.compile_s),
        "runs_per_batch": row.runs_per_batch,
        "final_mp_is": [
            {"K": K, "elbo": _summary(v["elbo"]),
             "predictive_log_likelihood": _summary(v["predictive_ll"]), "ess": _summary(v["ess"])}
            for K, v in row.final.items()
        ],
    }


def result_to_dict(result: ExperimentResult, figures: tuple[str, ...] = ()) -> dict:
    """The whole result as JSON types (``figures``: the plot files written beside it)."""
    paper = result.paper_elbo
    return {
        "config": config_to_dict(result.config),
        "environment": dict(result.environment),
        "data": result.data.description,
        "exact_log_evidence": result.data.exact_log_evidence,
        "paper_elbo": None if paper is None else paper._asdict(),
        "rows": [row_to_dict(row) for row in result.rows],
        "learning": [learning_row_to_dict(row) for row in result.learning],
        "figures": [
            {"file": name, "y": metric, "x": x, "methods": list(result.config.methods)}
            for name, metric, x in FIGURES
            if name in figures
        ] + [
            {"file": name, "y": metric, "x": x,
             "methods": list(result.config.learning.methods) + ["mp_is"]}
            for name, metric, x in LEARNING_FIGURES
            if name in figures
        ],
    }


def save_result(result: ExperimentResult, out_dir: Optional[Union[str, Path]] = None) -> Path:
    """Write ``result`` into a new folder (default: the config's ``out_dir``); return it.

    The folder is renamed into place only once every file is written (see the module
    docstring), so an interrupted save leaves nothing behind.
    """
    base = Path(out_dir if out_dir is not None else result.config.out_dir)
    base.parent.mkdir(parents=True, exist_ok=True)
    staging = base.with_name(f".{base.name}.incomplete-{uuid.uuid4().hex[:12]}")
    staging.mkdir()
    try:
        paths = save_plots(result, staging) + save_learning_plots(result, staging)
        figures = tuple(path.name for path in paths)
        (staging / "config.yaml").write_text(dump_config(result.config))
        text = json.dumps(result_to_dict(result, figures), indent=2, allow_nan=False)
        (staging / RESULTS_FILE).write_text(text + "\n")
        return _publish(staging, base)
    except BaseException:  # Ctrl-C included: no half-written results folder
        shutil.rmtree(staging, ignore_errors=True)
        raise
