"""Registry of datasets: each model's file loader and synthetic generator, by model name."""
from __future__ import annotations

import inspect
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple, Optional

import jax

from ..models.prior_swap import synthetic_prior_swap
from ..models.reverberation import synthetic_reverberation
from ..models.two_gaussians import synthetic_nested_samples
from ._chimpanzees import load_chimpanzees
from ._model_data import ModelData
from ._paper_data import load_bus_breakdown, load_movielens, load_occupancy
from ._paths import PathLike
from ._synthetic import (
    synthetic_bus_breakdown,
    synthetic_chimpanzees,
    synthetic_gaussian_hierarchy,
    synthetic_movielens,
    synthetic_occupancy,
)


class DatasetEntry(NamedTuple):
    """A dataset: its file loader (``None``: synthetic only), its generator, and a note
    explaining the options it lacks."""

    load: Optional[Callable[..., ModelData]]
    synthetic: Callable[..., Any]
    note: str = ""


DATASETS: Mapping[str, DatasetEntry] = MappingProxyType(
    {
        "chimpanzees": DatasetEntry(
            load_chimpanzees, synthetic_chimpanzees, "the chimpanzee data has one split"
        ),
        "bus_breakdown": DatasetEntry(
            load_bus_breakdown, synthetic_bus_breakdown, "bus_breakdown has no known defect"
        ),
        "movielens": DatasetEntry(
            load_movielens,
            synthetic_movielens,
            "the paper's MovieLens file has every rating 0 and the raw data is not shipped, "
            "so it cannot be corrected; use synthetic data (dataset.synthetic: true)",
        ),
        "occupancy": DatasetEntry(load_occupancy, synthetic_occupancy),
        "prior_swap": DatasetEntry(None, synthetic_prior_swap, "prior_swap is synthetic only"),
        "reverberation": DatasetEntry(
            None, synthetic_reverberation, "reverberation is synthetic only"
        ),
        "two_gaussians": DatasetEntry(
            None, synthetic_nested_samples, "two_gaussians is synthetic only"
        ),
        "gaussian_hierarchy": DatasetEntry(
            None, synthetic_gaussian_hierarchy, "gaussian_hierarchy is synthetic only"
        ),
    }
)
"""Dataset name (= model name) -> :class:`DatasetEntry`."""


def get_dataset(name: str) -> DatasetEntry:
    """The :class:`DatasetEntry` of ``name``; ``ValueError`` lists the valid names."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    return DATASETS[name]


def synthetic_sizes(name: str) -> dict[str, Any]:
    """Keyword options of ``name``'s synthetic generator with their defaults."""
    parameters = inspect.signature(get_dataset(name).synthetic).parameters
    return {p.name: p.default for p in parameters.values() if p.kind is p.KEYWORD_ONLY}


def _load_options(name: str, *, corrected: bool, run: int) -> dict[str, Any]:
    """The options to pass to ``name``'s loader; ``ValueError`` starting with the option's
    name when the dataset lacks it."""
    entry = get_dataset(name)
    if entry.load is None:
        raise ValueError(f"synthetic: {entry.note}; set dataset.synthetic: true.")
    accepted = inspect.signature(entry.load).parameters
    options: dict[str, Any] = {}
    for option, value, default in (("corrected", corrected, False), ("run", run, 0)):
        if option in accepted:
            options[option] = value
        elif value != default:
            why = f" ({entry.note})" if entry.note else ""
            raise ValueError(f"{option}: {name} has no {option}={value!r} variant{why}.")
    return options


def check_dataset_options(name: str, *, synthetic: bool, corrected: bool, run: int) -> None:
    """Raise ``ValueError`` (message starting with the option's name) for options that
    dataset ``name`` does not have."""
    if synthetic:
        if corrected:
            raise ValueError("corrected: synthetic data have no defects; set corrected: false.")
        get_dataset(name)
    else:
        _load_options(name, corrected=corrected, run=run)


def load_dataset(
    name: str, *, path: Optional[PathLike] = None, corrected: bool = False, run: int = 0
) -> ModelData:
    """Load dataset ``name`` from its data file (see :func:`jaxis.datasets.data_file`).

    Example:
        >>> data = load_dataset("chimpanzees", corrected=True)  # doctest: +SKIP
    """
    options = _load_options(name, corrected=corrected, run=run)
    return get_dataset(name).load(path=path, **options)


def synthetic_dataset(rng_key: jax.Array, name: str, **sizes: int):
    """Draw synthetic data for ``name``; ``sizes`` are its generator's keyword options."""
    unknown = set(sizes) - set(synthetic_sizes(name))
    if unknown:
        raise ValueError(
            f"sizes: {name} has no size(s) {sorted(unknown)}; "
            f"valid: {sorted(synthetic_sizes(name))}."
        )
    return get_dataset(name).synthetic(rng_key, **sizes)
