"""Loaders of the paper's bus-breakdown, MovieLens and occupancy files (``shared/data/mpis``).

Shapes (train / test), see ``shared/data/mpis/README.md``:

- bus breakdown, years 3 > boroughs 3 > ids 30 / 30: ``obs`` (delay, minutes 0-130),
  ``run_type`` one-hot (5 journey types in run 0, 7 in run 10), ``bus_company_name``
  one-hot (50 companies in run 0, 53 in run 10);
- MovieLens, users 300 > films 5 / 5 more films: ``obs`` (like), ``x`` (18 genre tags);
- occupancy, years 6, birds 12 > ids 200 / 100 > replicates 5: ``obs`` (seen), ``weather``
  and ``quality`` per (year, bird, id).

Known defects, left as they are in the paper layout:

- MovieLens: every rating is 0, and all but 4 of the 3,000 (user, film) feature rows are
  constant across the 18 genres (all 0 or all 1), so the genre information is lost (best
  achievable predictive log-likelihood about -943). The raw MovieLens data is not shipped
  (not redistributable), so there is no corrected variant: use
  :func:`jaxis.datasets.synthetic_movielens`.
- Occupancy: the observations were permuted along ids but weather and quality were not,
  and the file keeps no route identifier, so the pairing cannot be restored. Weather is raw
  temperature (0-98). ``corrected=True`` standardises weather with the training mean and
  standard deviation (so ``logits^z`` stays O(1)); the misalignment remains.
"""
from __future__ import annotations

from typing import Optional

from ._model_data import ModelData, make_model_data
from ._npz import read_split
from ._paths import PathLike, data_file


def _load_parts(filename: str, path: Optional[PathLike], names: dict[str, str]):
    """``(file, train, test)``: arrays ``{arg: npz[f"{stem}_{part}"]}`` for part in train/test."""
    file = data_file(filename, path=path)
    return (file, *read_split(file, names))


def load_bus_breakdown(*, path: Optional[PathLike] = None, run: int = 0) -> ModelData:
    """NYC bus delays: years 3 > boroughs 3 > ids, 30 train / 30 test ids.

    Args:
        path: ``bus_breakdown_run{run}.npz`` or its folder.
        run: which of the paper's random subsamples (files exist for 0 and 10).

    Returns:
        :class:`ModelData` with ``run_type`` ``(3, 3, 30, J)``, ``bus_company_name``
        ``(3, 3, 30, C)`` and ``obs`` ``(3, 3, 30)``.
    """
    file, train, test = _load_parts(
        f"bus_breakdown_run{run}.npz",
        path,
        {"run_type": "run_type", "bus_company_name": "bus_company_name", "obs": "delay"},
    )
    return make_model_data("bus_breakdown", train, test, description=f"{file} (paper data)")


def load_movielens(*, path: Optional[PathLike] = None) -> ModelData:
    """MovieLens likes: users 300 > films, 5 train / 5 further test films per user.

    Args:
        path: ``movielens_5_300.npz`` or its folder (never shipped with jaxis).

    Returns:
        :class:`ModelData` with ``x`` ``(300, 5, 18)`` and ``obs`` ``(300, 5)``; see the
        module docstring for its defects (all ratings are 0).
    """
    file, train, test = _load_parts("movielens_5_300.npz", path, {"x": "x", "obs": "obs"})
    return make_model_data(
        "movielens",
        train,
        test,
        description=f"{file} (paper data; defective: all ratings 0, genre rows constant)",
    )


def load_occupancy(
    *, path: Optional[PathLike] = None, run: int = 0, corrected: bool = False
) -> ModelData:
    """Bird occupancy: years 6, birds 12 > ids 200 train / 100 test > replicates 5.

    Args:
        path: ``occupancy_run{run}.npz`` or its folder.
        run: the paper's random subsample (the shared folder holds run 0).
        corrected: standardise weather with the training mean and standard deviation.

    Returns:
        :class:`ModelData` with ``weather``, ``quality`` ``(6, 12, 200)`` and ``obs``
        ``(6, 12, 200, 5)``; see the module docstring for what cannot be corrected.
    """
    file, train, test = _load_parts(
        f"occupancy_run{run}.npz",
        path,
        {"weather": "weather", "quality": "quality", "obs": "birds"},
    )
    note = "paper data; obs permuted along ids relative to weather/quality"
    if corrected:
        mean, std = train["weather"].mean(), train["weather"].std()
        for part in (train, test):
            part["weather"] = (part["weather"] - mean) / std
        note += f"; weather standardised with train mean {mean:.2f}, sd {std:.2f}"
    return make_model_data("occupancy", train, test, description=f"{file} ({note})")
