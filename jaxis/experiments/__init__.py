"""Experiments: run a config (MP IS and global IS over K, and learned proposals: the paper's
Fig. 3), print, save and plot the results.

The API behind ``jaxis run``; notebooks call it directly.

Example (minutes: it runs the experiment)::

    from jaxis.config import load_config
    from jaxis.experiments import format_table, run_experiment, save_result
    cfg = load_config("configs/chimpanzees.yaml", ["K=[3, 5]", "num_runs=10"])
    result = run_experiment(cfg)
    print(format_table(result))
    folder = save_result(result)  # results.json, config.yaml and PNG plots

Reference: Bowyer, Heap, Aitchison 2023, *Using autodiff to estimate posterior moments,
marginals and samples*, section 5 (Figs. 1 and 2).
"""
from ._data import ExperimentData as ExperimentData
from ._data import load_experiment_data as load_experiment_data
from ._learning import LearningRow as LearningRow
from ._learning_methods import LEARNING_LABELS as LEARNING_LABELS
from ._measure import Row as Row
from ._measure import mean_se as mean_se
from ._metrics import METHOD_LABELS as METHOD_LABELS
from ._plots import FIGURES as FIGURES
from ._plots import plot_metric as plot_metric
from ._plots_learning import LEARNING_FIGURES as LEARNING_FIGURES
from ._plots_learning import plot_learning as plot_learning
from ._results import RESULTS_FILE as RESULTS_FILE
from ._results import result_to_dict as result_to_dict
from ._results import save_result as save_result
from ._runner import ExperimentResult as ExperimentResult
from ._runner import run_experiment as run_experiment
from ._table import format_table as format_table

__all__ = [
    "FIGURES",
    "LEARNING_FIGURES",
    "LEARNING_LABELS",
    "METHOD_LABELS",
    "RESULTS_FILE",
    "ExperimentData",
    "ExperimentResult",
    "LearningRow",
    "Row",
    "format_table",
    "load_experiment_data",
    "mean_se",
    "plot_learning",
    "plot_metric",
    "result_to_dict",
    "run_experiment",
    "save_result",
]
