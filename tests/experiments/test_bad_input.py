"""``jaxis run`` under bad input and interruption (issue 10).

The original runner printed a KeyboardInterrupt traceback on Ctrl-C (and sometimes
segfaulted while XLA compiled), left a results folder holding only a PNG when a save was
interrupted, died with RESOURCE_EXHAUSTED for a huge ``global_is_K``, showed a KeyError
traceback for an npz missing an array and numpy's pickle message for a garbage file, and
accepted configs naming methods it cannot run.
"""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

import jaxis.experiments._results as results_module
from jaxis.cli import main
from jaxis.config import load_config
from jaxis.experiments import _measure, _runner
from jaxis.experiments._metrics import BUILDERS
from tests.experiments.tiny import TINY

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def _main(argv):
    """``main(argv)``; a KeyboardInterrupt escaping it fails the test (not the session)."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped jaxis.cli.main")


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.startswith("jaxis: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def test_ctrl_c_during_a_run_exits_130_with_one_line_and_no_folder(tiny_yaml, tmp_path):
    """A real SIGINT to ``python -m jaxis.cli`` once the first row is running."""
    out = tmp_path / "out"
    env = {**os.environ, "JAXIS_CACHE_DIR": "", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # Python's own Ctrl-C handler even where this process ignores SIGINT (a background job)
    start = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "runpy.run_module('jaxis.cli', run_name='__main__')")
    argv = [sys.executable, "-c", start, "run", str(tiny_yaml), "--set", "K=[2]",
            "--set", "methods=[mp_is]", "--set", "num_runs=1000000", "--out", str(out)]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    err, running = bytearray(), threading.Event()

    def read():
        for chunk in iter(lambda: proc.stderr.read1(256), b""):
            err.extend(chunk)
            if b"MP IS K=2" in err:  # the progress bar: a row is running
                running.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert running.wait(120), bytes(err).decode()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130, bytes(err).decode()
    finally:
        proc.kill()
    reader.join(10)
    last = bytes(err).decode().replace("\r", "\n").strip().splitlines()[-1]
    assert last == ("jaxis: interrupted during MP IS K=2; 0 of 1 rows were complete (none). "
                    "Nothing was saved.")
    assert "Traceback" not in bytes(err).decode() and not out.exists()


def test_ctrl_c_says_which_rows_were_complete(tiny_yaml, monkeypatch, capsys):
    real, calls = _runner.measure_row, []

    def interrupted_second_row(*args, **kwargs):
        calls.append(None)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_runner, "measure_row", interrupted_second_row)
    argv = ["run", str(tiny_yaml), "--no-progress", "--set", "num_runs=1", "--set", "K=[2]",
            "--set", "global_is_K=[5]"]
    assert _main(argv) == 130
    assert capsys.readouterr().err == (
        "jaxis: interrupted during global IS K=5; 1 of 2 rows were complete (MP IS K=2). "
        "Nothing was saved.\n")


def test_an_interrupted_save_leaves_no_results_folder(tiny_yaml, tmp_path, monkeypatch, capsys):
    def plot_then_interrupt(result, folder):
        (folder / "elbo_vs_K.png").write_bytes(b"\x89PNG")
        raise KeyboardInterrupt

    monkeypatch.setattr(results_module, "save_plots", plot_then_interrupt)
    out = tmp_path / "saved"
    argv = ["run", str(tiny_yaml), "--no-progress", "--set", "num_runs=1", "--set", "K=[2]",
            "--set", "global_is_K=[5]", "--out", str(out)]
    assert _main(argv) == 130
    assert "interrupted while saving the results. Nothing was saved." in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # no folder, no staging


def test_a_global_is_K_too_large_for_memory_is_one_line_before_any_run(
    tiny_yaml, monkeypatch, capsys
):
    # the budget is pinned at 1 GiB so that K = 10^9 (about 97 GiB) fails on any machine;
    import jaxis._memory

    monkeypatch.setattr(jaxis._memory, "available_memory", lambda: 2**30)
    monkeypatch.setattr(_runner, "measure_row", lambda *a, **k: pytest.fail("a row ran"))
    argv = ["run", str(tiny_yaml), "--no-progress", "--set", "global_is_K=[1000000000]"]
    assert _main(argv) == 2
    _one_line_error(capsys, "global_is_K: global IS with K=1000000000 needs about",
                    "Fix: use smaller global_is_K values")


def _chimpanzee_arrays():
    shape = {"train": (7, 6, 10), "test": (7, 6, 2)}
    return {f"{stem}_{part}": np.zeros(shape[part], np.int64)
            for stem in ("condition", "prosoc_left", "data") for part in ("train", "test")}


@pytest.mark.parametrize("kind", ["missing array", "garbage"])
def test_a_bad_data_file_is_one_line_with_exit_status_2(kind, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXIS_CACHE_DIR", "")
    file = tmp_path / "chimpanzees.npz"
    if kind == "missing array":
        arrays = _chimpanzee_arrays()
        del arrays["data_test"]
        np.savez(file, **arrays)
        expected = "lacks the array(s) data_test"
    else:
        file.write_bytes(b"not an archive\n" + bytes(range(256)))
        expected = "is not a readable .npz archive"
    monkeypatch.setattr(_runner, "measure_row", lambda *a, **k: pytest.fail("a row ran"))
    argv = ["run", "--set", "dataset.synthetic=false", "--set", f"dataset.path={tmp_path}"]
    assert _main(argv) == 2
    _one_line_error(capsys, f"dataset.path: {file}", expected)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_names_only_methods_the_runner_runs(path):
    assert set(load_config(path, check_paths=False).methods) <= set(BUILDERS)


def test_the_schema_rejects_a_method_the_runner_cannot_run(tmp_path):
    path = tmp_path / "swap.yaml"
    path.write_text(yaml.safe_dump({**TINY, "methods": ["mp_is", "prior_swap"]}))
    with pytest.raises(ValueError, match="methods: the runner measures mp_is, global_is, not "
                                         "prior_swap"):
        load_config(path, check_paths=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["reverberation", "two_gaussians"])  # prior_swap: test_runner
def test_the_blog_configs_run(name, tmp_path):
    sizes = {"reverberation": "{num_sources: 3, num_samples: 5}",
             "two_gaussians": "{num_live: 10, num_iterations: 20}"}[name]
    argv = ["run", str(REPO / "configs" / f"{name}.yaml"), "--no-progress", "--set", "K=[3]",
            "--set", "num_runs=1", "--set", f"dataset.sizes={sizes}", "--set", "methods=[mp_is]",
            "--out", str(tmp_path / "o")]  # MP IS, the method every blog config runs
    assert _main(argv) == 0
    assert (tmp_path / "o" / "results.json").is_file()
