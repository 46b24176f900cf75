"""Datasets of the MP IS paper's experiments, corrected variants, and synthetic generators.

Files are read from ``shared/data/mpis`` (see :func:`data_file` for the search order and
the ``JAXIS_DATA_DIR`` variable); nothing is copied into the package. Every loader and
paper-model generator returns a :class:`ModelData` whose ``train`` dict calls the model.

Example:
    >>> import jax
    >>> from jaxis.datasets import synthetic_chimpanzees
    >>> data = synthetic_chimpanzees(jax.random.key(0))
    >>> data.train["obs"].shape, data.test["obs"].shape
    ((7, 6, 10), (7, 6, 2))
"""
from ._chimpanzees import load_chimpanzees as load_chimpanzees
from ._chimpanzees import read_chimpanzees_csv as read_chimpanzees_csv
from ._model_data import ModelData as ModelData
from ._paper_data import load_bus_breakdown as load_bus_breakdown
from ._paper_data import load_movielens as load_movielens
from ._paper_data import load_occupancy as load_occupancy
from ._paper_fake import load_paper_fake_data as load_paper_fake_data
from ._paths import DATA_DIR_ENV as DATA_DIR_ENV
from ._paths import data_file as data_file
from ._registry import DATASETS as DATASETS
from ._registry import DatasetEntry as DatasetEntry
from ._registry import check_dataset_options as check_dataset_options
from ._registry import get_dataset as get_dataset
from ._registry import load_dataset as load_dataset
from ._registry import synthetic_dataset as synthetic_dataset
from ._registry import synthetic_sizes as synthetic_sizes
from ._synthetic import synthetic_bus_breakdown as synthetic_bus_breakdown
from ._synthetic import synthetic_chimpanzees as synthetic_chimpanzees
from ._synthetic import synthetic_gaussian_hierarchy as synthetic_gaussian_hierarchy
from ._synthetic import synthetic_movielens as synthetic_movielens
from ._synthetic import synthetic_occupancy as synthetic_occupancy

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DatasetEntry",
    "ModelData",
    "check_dataset_options",
    "data_file",
    "get_dataset",
    "load_bus_breakdown",
    "load_chimpanzees",
    "load_dataset",
    "load_movielens",
    "load_occupancy",
    "load_paper_fake_data",
    "read_chimpanzees_csv",
    "synthetic_bus_breakdown",
    "synthetic_chimpanzees",
    "synthetic_dataset",
    "synthetic_gaussian_hierarchy",
    "synthetic_movielens",
    "synthetic_occupancy",
    "synthetic_sizes",
]
