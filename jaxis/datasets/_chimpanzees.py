"""Chimpanzee prosociality data (Silk et al. 2005), in the paper's layout or corrected.

Paper layout (``chimpanzees.npz``, as in the paper's experiments): the CSV's 504 rows
reshaped in file order to actors 7 x "blocks" 6 x repeats 12, the first 10 repeats for
training and the last 2 for testing. The CSV is ordered actor > condition > block > trial,
so that "block" axis is really (condition, pair of blocks): blocks 0-2 hold the
``condition = 0`` trials of blocks (1, 2), (3, 4), (5, 6), blocks 3-5 the ``condition = 1``
trials, and ``alpha_block`` is then not a per-session intercept.

Corrected layout (``corrected=True``, rebuilt from ``chimpanzees.csv``): actor x block x
trial, the 12 trials of each real block in trial order (both conditions mixed, as run),
the first 10 for training and the last 2 for testing.
"""
from __future__ import annotations

import csv
from typing import Optional

import numpy as np

from ._model_data import ModelData, make_model_data
from ._npz import read_split
from ._paths import PathLike, data_file

NUM_TRAIN_REPEATS = 10
_CSV_COLUMNS = ("actor", "block", "trial", "condition", "prosoc_left", "pulled_left")


def _paper_layout(path: Optional[PathLike]) -> ModelData:
    file = data_file("chimpanzees.npz", path=path)
    train, test = read_split(
        file, {"condition": "condition", "prosoc_left": "prosoc_left", "obs": "data"}
    )
    return make_model_data(
        "chimpanzees",
        train,
        test,
        description=f"{file} (paper layout: the 'blocks' axis mixes condition and block pairs)",
    )


def read_chimpanzees_csv(path: Optional[PathLike] = None) -> dict[str, np.ndarray]:
    """The CSV's columns actor, block, trial, condition, prosoc_left, pulled_left as ints."""
    file = data_file("chimpanzees.csv", path=path)
    with open(file, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in _CSV_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise ValueError(f"{file}: expected the columns {_CSV_COLUMNS}; missing {missing}.")
    return {c: np.array([int(r[c]) for r in rows]) for c in _CSV_COLUMNS}


def _corrected_layout(path: Optional[PathLike]) -> ModelData:
    columns = read_chimpanzees_csv(path)
    actors, blocks = np.unique(columns["actor"]), np.unique(columns["block"])
    order = np.lexsort((columns["trial"], columns["block"], columns["actor"]))
    counts = np.unique(
        np.stack([columns["actor"], columns["block"]]), axis=1, return_counts=True
    )[1]
    if counts.size != actors.size * blocks.size or np.any(counts != counts[0]):
        raise ValueError(
            "chimpanzees.csv: every (actor, block) needs the same number of trials; got "
            f"counts {sorted(set(counts.tolist()))} over {counts.size} pairs."
        )
    shape = (actors.size, blocks.size, counts[0])
    cube = {
        "condition": columns["condition"][order].reshape(shape),
        "prosoc_left": columns["prosoc_left"][order].reshape(shape),
        "obs": columns["pulled_left"][order].reshape(shape),
    }
    return make_model_data(
        "chimpanzees",
        {k: v[..., :NUM_TRAIN_REPEATS] for k, v in cube.items()},
        {k: v[..., NUM_TRAIN_REPEATS:] for k, v in cube.items()},
        description="chimpanzees.csv (corrected layout: actor x block x trial in trial order)",
    )


def load_chimpanzees(*, path: Optional[PathLike] = None, corrected: bool = False) -> ModelData:
    """Chimpanzee data: actors 7 > blocks 6 > repeats, 10 train / 2 test repeats.

    Args:
        path: the data file (``chimpanzees.npz``, or ``chimpanzees.csv`` when
            ``corrected``) or its folder; default: see :func:`jaxis.datasets.data_file`.
        corrected: rebuild a true actor x block x trial layout from the CSV instead of the
            paper's layout (see the module docstring).

    Returns:
        :class:`ModelData` with ``condition``, ``prosoc_left`` and ``obs`` (pulled left)
        of shapes ``(7, 6, 10)`` train and ``(7, 6, 2)`` test.

    Example (needs the data file, see :func:`jaxis.datasets.data_file`)::

        data = load_chimpanzees()
        data.train["obs"].shape, data.plates
        # ((7, 6, 10), {'actors': 7, 'blocks': 6, 'repeats': 10})
    """
    return _corrected_layout(path) if corrected else _paper_layout(path)
