"""Read named arrays from a ``.npz`` data file, with one-line errors for bad files.

A file that is not an ``.npz`` archive (numpy would otherwise talk about pickles), a
damaged archive, or one that lacks an array the loader needs is a ``ValueError`` naming
the file, what is wrong and the fix, raised before anything runs.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

__all__ = ["read_arrays", "read_split"]

_FIX = "Fix: point dataset.path at the paper's data file, or use dataset.synthetic: true."


def read_arrays(file: Path, keys: Optional[Sequence[str]] = None) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (default: all) of the ``.npz`` archive ``file``.

    Raises:
        ValueError: ``file`` is not a readable ``.npz`` archive, or lacks one of ``keys``.
    """
    try:
        with np.load(file, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an archive of named arrays")
            missing = [k for k in keys or () if k not in npz.files]
            if missing:
                raise KeyError(missing, npz.files)
            return {k: npz[k] for k in (npz.files if keys is None else keys)}
    except KeyError as error:
        missing, present = error.args
        raise ValueError(
            f"{file} lacks the array(s) {', '.join(missing)} (it holds "
            f"{', '.join(present) or 'none'}). {_FIX}"
        ) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):  # numpy talks of pickles
        raise ValueError(f"{file} is not a readable .npz archive of arrays. {_FIX}") from None


def read_split(file: Path, names: dict[str, str]) -> tuple[dict, dict]:
    """``(train, test)``: ``{arg: npz[f"{stem}_{part}"]}`` for each part, ``names = {arg: stem}``."""
    parts = ("train", "test")
    arrays = read_arrays(file, [f"{stem}_{part}" for stem in names.values() for part in parts])
    train, test = ({arg: arrays[f"{stem}_{part}"] for arg, stem in names.items()} for part in parts)
    return train, test
