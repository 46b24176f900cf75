"""Find the MP IS paper's data files.

Search order for a file such as ``chimpanzees.npz``:

1. ``path=`` given by the caller: a file, or a folder holding the file;
2. the folder named by the environment variable ``JAXIS_DATA_DIR`` (only that folder);
3. ``shared/data/mpis`` in every parent directory of the current working directory and of
   the installed ``jaxis`` package (the repository lives at ``X/main`` with ``X/shared``
   beside it, in development and in CI).

The data are never copied into the package (MovieLens is not redistributable).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

DATA_DIR_ENV = "JAXIS_DATA_DIR"
"""Environment variable naming the folder that holds the ``*.npz`` / ``*.csv`` data files."""

_SHARED_SUBDIR = Path("shared") / "data" / "mpis"


def _candidate_dirs() -> list[Path]:
    """``shared/data/mpis`` under every parent of the cwd and of the package, in order."""
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    seen: list[Path] = []
    for start in starts:
        for parent in (start, *start.parents):
            candidate = parent / _SHARED_SUBDIR
            if candidate not in seen:
                seen.append(candidate)
    return seen


def data_file(filename: str, *, path: Optional[PathLike] = None) -> Path:
    """Path of one data file, following the search order of this module.

    Args:
        filename: the file's name, e.g. ``"chimpanzees.npz"``.
        path: an explicit file, or a folder that holds ``filename``.

    Returns:
        The existing file's path.

    Raises:
        FileNotFoundError: naming the file, every place looked at, and the fix.

    Example:
        >>> data_file("chimpanzees.npz")  # doctest: +SKIP
        PosixPath('/work/shared/data/mpis/chimpanzees.npz')
    """
    if path is not None:
        given = Path(path).expanduser()
        looked = [given / filename if given.is_dir() else given]
        how = "the path= argument (or dataset.path in a config)"
    elif os.environ.get(DATA_DIR_ENV):
        looked = [Path(os.environ[DATA_DIR_ENV]).expanduser() / filename]
        how = f"the environment variable {DATA_DIR_ENV}"
    else:
        looked = [d / filename for d in _candidate_dirs()]
        how = "the parents of the working directory and of the jaxis package"
    for candidate in looked:
        if candidate.is_file():
            return candidate
    listing = "\n  ".join(str(p) for p in looked)
    raise FileNotFoundError(
        f"Data file {filename!r} not found; looked (via {how}) at:\n  {listing}\n"
        f"Fix: set {DATA_DIR_ENV} to the folder that holds {filename} (in the jaxis "
        "repository that is ../shared/data/mpis), or pass path= with the file or its folder."
    )
