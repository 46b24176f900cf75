"""The ``jaxis`` command line: run a config with overrides, list, and clear errors."""
import json
import re

import jax
import pytest

from jaxis.cli import main
from jaxis.models import REGISTRY


def test_run_with_overrides_prints_the_table_and_writes_new_folders(tiny_yaml, tmp_path, capsys):
    argv = ["run", str(tiny_yaml), "--set", "num_runs=2", "--set", "K=[4]",
            "--set", "dataset.sizes.num_groups=2", "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "MP IS" in out and "global IS" in out and "exact log evidence" in out
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["config"]["num_runs"] == 2 and saved["config"]["K"] == [4]
    assert saved["config"]["dataset"]["sizes"]["num_groups"] == 2
    assert [(r["method"], r["K"]) for r in saved["rows"]] == [
        ("mp_is", 4), ("global_is", 5), ("global_is", 50)]
    assert all(len(r["elbo"]["runs"]) == 2 for r in saved["rows"])
    assert saved["environment"]["command"].startswith("jaxis run ")
    assert (tmp_path / "out" / "elbo_vs_K.png").is_file()
    assert main(argv) == 0
    assert (tmp_path / "out-1" / "results.json").is_file()
    assert f"Wrote {tmp_path / 'out-1'}" in capsys.readouterr().out


def test_list_names_every_model_and_shipped_config(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no ./configs here: the repository's are listed
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, spec in REGISTRY.items():
        assert f"  {name}" in out and spec.summary in out
    assert re.search(r"configs/chimpanzees\.yaml +MP IS paper, chimpanzee prosociality", out)
    assert "default.yaml" in out and "gaussian_hierarchy.yaml" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "missing.yaml"], "config 'missing.yaml' not found"),
    (["run", "--set", "K=[0]"], "K: expected a list of integers >= 1"),
    (["run", "--set", "num_runs"], "expected key=value"),
    (["run", "--set", "model=chimps"], "unknown model 'chimps'"),
    (["run", "--set", "methods=[nested_sampling]"], "the runner measures mp_is, global_is"),
])
def test_bad_input_is_one_message_and_exit_status_2(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("JAXIS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(argv) == 2
    assert not jax.config.jax_compilation_cache_dir  # a rejected config changes no JAX setting
    err = capsys.readouterr().err
    assert err.startswith("jaxis: error: ") and message in err and "Traceback" not in err


def test_missing_data_file_suggests_synthetic_data(tiny_yaml, tmp_path, capsys):
    argv = ["run", "--set", "dataset.synthetic=false", "--set", f"dataset.path={tmp_path}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "dataset.path" in err and "dataset.synthetic=true" in err
