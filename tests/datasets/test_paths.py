"""Data-file search: explicit path, JAXIS_DATA_DIR, parent directories; clear errors."""
from pathlib import Path

import numpy as np
import pytest

from jaxis.datasets import DATA_DIR_ENV, data_file, load_chimpanzees
from jaxis.datasets._paths import _candidate_dirs


def _write_chimpanzees(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        f"{stem}_{part}": rng.integers(0, 2, (7, 6, n))
        for stem in ("data", "condition", "prosoc_left")
        for part, n in (("train", 10), ("test", 2))
    }
    np.savez(folder / "chimpanzees.npz", **arrays)
    return folder / "chimpanzees.npz"


def test_explicit_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    file = _write_chimpanzees(tmp_path)
    assert data_file("chimpanzees.npz", path=file) == file
    assert data_file("chimpanzees.npz", path=tmp_path) == file
    assert load_chimpanzees(path=tmp_path).train["obs"].shape == (7, 6, 10)


def test_env_var_is_the_only_place_looked(tmp_path, monkeypatch):
    file = _write_chimpanzees(tmp_path)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert data_file("chimpanzees.npz") == file
    with pytest.raises(FileNotFoundError) as info:
        data_file("occupancy_run0.npz")
    message = str(info.value)
    assert "occupancy_run0.npz" in message and str(tmp_path) in message
    assert DATA_DIR_ENV in message and "path=" in message


def test_missing_explicit_path_names_file_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_chimpanzees(path=tmp_path / "nowhere")
    message = str(info.value)
    assert "chimpanzees.npz" in message and "nowhere" in message
    assert DATA_DIR_ENV in message


def test_search_covers_parents_of_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    shared = tmp_path / "shared" / "data" / "mpis"
    shared.mkdir(parents=True)
    work = tmp_path / "main" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert shared in _candidate_dirs()
    file = _write_chimpanzees(shared)
    assert data_file("chimpanzees.npz") == file
