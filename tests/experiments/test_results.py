"""Saved runs: results.json content, config.yaml, plots, never overwriting a folder."""
import json

import jax
import numpy as np
import numpyro
import pytest
import yaml

from jaxis.config import config_from_dict
from jaxis.experiments import RESULTS_FILE, result_to_dict, run_experiment, save_result
from jaxis.experiments._measure import Row
from tests.experiments.tiny import tiny_config

PNG = b"\x89PNG\r\n\x1a\n"


def test_results_json_holds_config_versions_rows_and_figures(result, tmp_path):
    folder = save_result(result, tmp_path / "run")
    saved = json.loads((folder / RESULTS_FILE).read_text())
    assert config_from_dict(saved["config"]) == result.config
    assert config_from_dict(yaml.safe_load((folder / "config.yaml").read_text())) == result.config
    env = saved["environment"]
    assert env["jax"] == jax.__version__ and env["numpyro"] == numpyro.__version__
    assert env["jaxis"] and env["device"].startswith("cpu") and env["date"][:2] == "20"
    assert saved["exact_log_evidence"] == pytest.approx(result.data.exact_log_evidence)
    assert saved["paper_elbo"] is None  # synthetic data
    for entry, row in zip(saved["rows"], result.rows, strict=True):
        assert (entry["method"], entry["K"]) == (row.method, row.K)
        np.testing.assert_allclose(entry["elbo"]["runs"], row.elbo)
        assert entry["elbo"]["mean"] == pytest.approx(np.mean(row.elbo))
        assert entry["elbo"]["se"] == pytest.approx(np.std(row.elbo, ddof=1) / np.sqrt(3))
        np.testing.assert_allclose(entry["predictive_log_likelihood"]["runs"], row.predictive_ll)
        np.testing.assert_allclose(entry["posterior_means"]["mu"]["runs"],
                                   row.posterior_means["mu"])
        np.testing.assert_allclose(entry["time_per_run_s"]["runs"], row.time_s)
        assert entry["compile_s"] > 0 and entry["peak_rss_mb"] > 10
    files = [f["file"] for f in saved["figures"]]
    assert files == ["elbo_vs_K.png", "predictive_ll_vs_K.png", "elbo_vs_time.png",
                     "predictive_ll_vs_time.png"]
    for name in files:
        assert (folder / name).read_bytes()[:8] == PNG


def test_an_earlier_run_is_never_overwritten(result, tmp_path):
    first = save_result(result, tmp_path / "chimp")
    before = (first / RESULTS_FILE).read_text()
    second = save_result(result, tmp_path / "chimp")
    third = save_result(result, tmp_path / "chimp")
    assert [p.name for p in (first, second, third)] == ["chimp", "chimp-1", "chimp-2"]
    assert (first / RESULTS_FILE).read_text() == before


def test_default_folder_is_the_configs_out_dir(result, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = save_result(result)
    assert folder.resolve() == (tmp_path / "results" / "tiny").resolve()


def test_without_heldout_data_only_the_elbo_plots_are_written(tmp_path):
    cfg = tiny_config(model="prior_swap", dataset={
        "name": "prior_swap", "synthetic": True, "sizes": {"num_samples": 100}},
        K=[4], global_is_K=[8])
    folder = save_result(run_experiment(cfg, progress=False), tmp_path / "swap")
    saved = json.loads((folder / RESULTS_FILE).read_text())
    assert [f["file"] for f in saved["figures"]] == ["elbo_vs_K.png", "elbo_vs_time.png"]
    assert sorted(p.name for p in folder.glob("*.png")) == ["elbo_vs_K.png", "elbo_vs_time.png"]
    assert all(r["predictive_log_likelihood"] is None for r in saved["rows"])


def test_mp_only_run_plots_and_records_one_method(result, tmp_path):
    mp = run_experiment(tiny_config(methods=["mp_is"], global_is_K=[]), progress=False)
    folder = save_result(mp, tmp_path / "mp")
    saved = json.loads((folder / RESULTS_FILE).read_text())
    assert [r["method"] for r in saved["rows"]] == ["mp_is", "mp_is"]
    assert len(list(folder.glob("*.png"))) == 4


def test_non_finite_values_are_written_as_null(result):
    row = result.rows[0]
    bad = Row(**{**row.__dict__, "elbo": np.array([-np.inf, -1.0, -2.0])})
    broken = type(result)(**{**result.__dict__, "rows": (bad,)})
    entry = result_to_dict(broken)["rows"][0]["elbo"]
    assert entry["runs"] == [None, -1.0, -2.0] and entry["mean"] is None
    json.dumps(entry, allow_nan=False)
