"""The experiment runner: MP IS and global IS over a config's K lists, repeated runs.

For every method of the config and every K of its list, one :class:`~._measure.Row`:
``num_runs`` runs with fresh keys (ELBO, predictive log-likelihood on the held-out split,
posterior means, ESS, warm wall time per run), compile time and peak memory. A tqdm bar
counts the runs. The keys of a row depend only on the seed, the method and K, so the same
config gives the same numbers, and a row does not change when other K are added.
With a ``learning`` section, each learning method is then compiled (all before any run) and
trained at each learning rate (:mod:`._learning`): one learning row per (method, lr).

Example (about a minute: the built-in demo)::

    from jaxis.config import DEFAULT_CONFIG
    result = run_experiment(DEFAULT_CONFIG)
    result.row("mp_is", 5).elbo.mean()
"""
from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass
from importlib import metadata
from typing import Mapping, Optional

import jax
from tqdm.auto import tqdm

from ..config import Config
from ..learn import qem_guide
from ..models import PaperResult, get_model
from ._data import ExperimentData, load_experiment_data
from ._learning import LearningRow, compile_method, measure_learning
from ._learning_methods import LEARNING_LABELS, check_reparameterisable
from ._measure import Row, check_row, measure_row
from ._metrics import METHOD_LABELS, check_methods


@dataclass(frozen=True)
class ExperimentResult:
    """Everything one run of a config produced.

    Attributes:
        config: the (validated) config that was run.
        data: the experiment's data (arguments, description, exact evidence if known).
        paper_elbo: the published MP IS ELBO when the data are the paper's, else ``None``.
        rows: one :class:`Row` per (method, K), in the config's order.
        environment: package versions, device, date and command.
        learning: one :class:`~._learning.LearningRow` per (learning method, learning
            rate), in the config's order (empty without a ``learning`` section).
    """

    config: Config
    data: ExperimentData
    paper_elbo: Optional[PaperResult]
    rows: tuple[Row, ...]
    environment: Mapping[str, str]
    learning: tuple[LearningRow, ...] = ()

    def row(self, method: str, K: int) -> Row:
        """The row of ``method`` at ``K``."""
        for row in self.rows:
            if row.method == method and row.K == K:
                return row
        raise KeyError(f"no row for method {method!r} at K={K}")

    def learning_row(self, method: str, lr: float) -> LearningRow:
        """The learning row of ``method`` at learning rate ``lr``."""
        for row in self.learning:
            if row.method == method and row.lr == lr:
                return row
        raise KeyError(f"no learning row for method {method!r} at lr={lr}")

    def method_rows(self, method: str) -> tuple[Row, ...]:
        """The rows of ``method``, in the config's K order."""
        return tuple(row for row in self.rows if row.method == method)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment(command: str = "") -> dict[str, str]:
    """Versions of jaxis and its stack, the device, the date (UTC) and the command."""
    from .. import __version__

    device = jax.devices()[0]
    return {
        "jaxis": __version__,
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "numpyro": _version("numpyro"),
        "numpy": _version("numpy"),
        "python": platform.python_version(),
        "device": f"{device.platform}: {device.device_kind}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores",
        "x64": str(jax.config.jax_enable_x64),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def _paper_elbo(cfg: Config) -> Optional[PaperResult]:
    """The published ELBO, when the config runs on the paper's data as published."""
    data = cfg.dataset
    if data.synthetic or data.corrected or data.run != 0:
        return None
    return get_model(cfg.model).paper_elbo


def _plan(cfg: Config) -> list[tuple[str, int]]:
    Ks = {"mp_is": cfg.K, "global_is": cfg.global_is_K}
    return [(method, K) for method in check_methods(cfg.methods) for K in Ks[method]]


def run_experiment(
    cfg: Config, *, progress: bool = True, command: str = ""
) -> ExperimentResult:
    """Run every (method, K) of ``cfg`` ``cfg.num_runs`` times.

    Args:
        cfg: a validated :class:`~jaxis.config.Config`.
        progress: show a tqdm progress bar (on stderr) counting the runs.
        command: the command line that asked for the run (recorded in the results).

    Raises:
        ValueError: a method the runner does not measure, missing data, or a K too large
            for memory (the message says how large K may be); every row is traced and
            compiled before the first one runs, so these come before any work is done.
        KeyboardInterrupt: on Ctrl-C, with a message saying which rows were complete.
    """
    plan, learning = _plan(cfg), cfg.learning
    env = environment(command)
    root = jax.random.PRNGKey(cfg.seed)
    stage, rows, learned = "while loading the data and compiling", [], []
    try:
        data = load_experiment_data(cfg, jax.random.fold_in(root, 0))
        if learning:  # a method the model's latents rule out fails before any compiling
            check_reparameterisable(learning.methods, qem_guide(get_model(cfg.model).model),
                                    cfg.model, data.train)
        for method, K in plan:  # fail before any work if some K cannot run (e.g. memory)
            check_row(method, K, cfg.model, data,
                      num_posterior_samples=cfg.num_posterior_samples)
        compiled = {m: compile_method(cfg, data, m) for m in learning.methods} if learning else {}
        total = len(plan) * cfg.num_runs + sum(
            len(learning.lrs) * learning.num_iterations // learning.eval_every
            * -(-cfg.num_runs // c.batch) for c in compiled.values())
        with tqdm(total=total, unit="run", disable=not progress) as bar:
            for method, K in plan:
                stage = f"during {METHOD_LABELS[method]} K={K}"
                bar.set_description(f"{METHOD_LABELS[method]} K={K}")
                stream = jax.random.fold_in(root, 1 + list(METHOD_LABELS).index(method))
                keys = jax.random.split(jax.random.fold_in(stream, K), cfg.num_runs)
                rows.append(
                    measure_row(
                        method, K, cfg.model, data, keys,
                        num_posterior_samples=cfg.num_posterior_samples,
                        on_run=lambda: bar.update(1),
                    )
                )
            for method, c in compiled.items():
                stream = jax.random.fold_in(root, 100 + list(LEARNING_LABELS).index(method))
                for i, lr in enumerate(learning.lrs):
                    stage = f"during {LEARNING_LABELS[method]} lr {lr:g}"
                    bar.set_description(f"{LEARNING_LABELS[method]} lr {lr:g}")
                    keys = jax.random.split(jax.random.fold_in(stream, i), cfg.num_runs)
                    learned.append(measure_learning(cfg, data, method, lr, keys, c,
                                                    on_chunk=lambda: bar.update(1)))
    except KeyboardInterrupt:
        done = ", ".join([f"{row.label} K={row.K}" for row in rows]
                         + [row.label for row in learned]) or "none"
        planned = len(plan) + (len(learning.methods) * len(learning.lrs) if learning else 0)
        raise KeyboardInterrupt(
            f"interrupted {stage}; {len(rows) + len(learned)} of {planned} rows were "
            f"complete ({done})"
        ) from None
    return ExperimentResult(
        config=cfg,
        data=data,
        paper_elbo=_paper_elbo(cfg),
        rows=tuple(rows),
        environment=env,
        learning=tuple(learned),
    )
