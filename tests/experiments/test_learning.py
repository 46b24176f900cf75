"""Learned proposals in the runner (the paper's Fig. 3), end to end through ``jaxis run``.

One tiny run (conjugate Gaussian hierarchy, 3 groups x 20 observations: the initial
``Normal(0, 1)`` proposal is far wider than the posterior) trains every method for 40
iterations, 16 runs vmapped. Oracles: the exact log evidence bounds the mean final ELBO
from above (Jensen) within 4 standard errors, and each method's mean ELBO rises from its
initial value by more than 3 standard errors of the per-run difference.
"""
import copy
import json

import numpy as np
import pytest
import yaml

from jaxis.cli import main
from jaxis.config import config_from_dict
from jaxis.experiments import LEARNING_FIGURES, LEARNING_LABELS, mean_se
from tests.experiments.tiny import TINY

RUNS, ITERATIONS, EVERY = 16, 40, 20


def _tiny_learning(**learning) -> dict:
    raw = copy.deepcopy(TINY)
    raw["dataset"]["sizes"] = {"num_groups": 3, "num_observations": 20,
                               "num_test_observations": 1}
    raw.update(K=[4], methods=["mp_is"], num_runs=RUNS)
    raw["learning"] = {"methods": list(LEARNING_LABELS), "K": 4, "lrs": [0.1],
                       "num_iterations": ITERATIONS, "eval_every": EVERY, "final_K": [4],
                       **learning}
    return raw


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("figure3")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(_tiny_learning()))
    assert main(["run", str(path), "--out", str(folder / "out"), "--no-progress"]) == 0
    return json.loads((folder / "out" / "results.json").read_text()), folder / "out"


def test_results_json_has_a_row_per_method_and_lr_with_every_point(saved):
    results, folder = saved
    rows = results["learning"]
    assert [(r["method"], r["lr"]) for r in rows] == [(m, 0.1) for m in LEARNING_LABELS]
    for row in rows:
        assert row["iterations"] == [0, EVERY, ITERATIONS] and row["K"] == 4
        for metric in ("elbo", "predictive_log_likelihood"):
            assert np.asarray(row[metric]["runs"]).shape == (RUNS, 3)
            assert np.all(np.isfinite(np.asarray(row[metric]["runs"], float)))
        times = row["train_time_s"]
        assert times[0] == 0 and np.all(np.diff(times) > 0) and row["time_per_iteration_s"] > 0
        assert [f["K"] for f in row["final_mp_is"]] == [4]
        assert len(row["final_mp_is"][0]["ess"]["runs"]) == RUNS
    written = {f["file"] for f in results["figures"]}
    assert {name for name, _, _ in LEARNING_FIGURES} <= written
    assert all((folder / name).stat().st_size > 0 for name in written)


@pytest.mark.parametrize("method", list(LEARNING_LABELS))
def test_each_method_raises_the_bound_towards_the_exact_evidence(saved, method):
    results, _ = saved
    row = next(r for r in results["learning"] if r["method"] == method)
    elbo = np.asarray(row["elbo"]["runs"], float)
    gain, gain_se = mean_se(elbo[:, -1] - elbo[:, 0])
    assert gain > 3 * gain_se, (method, gain, gain_se)
    final, final_se = mean_se(elbo[:, -1])
    assert final < results["exact_log_evidence"] + 4 * final_se, (method, final, final_se)


@pytest.mark.parametrize("learning, key", [
    ({"methods": ["hmc"]}, "learning.methods"),
    ({"methods": []}, "learning.methods"),
    ({"lrs": [0.1, -1]}, "learning.lrs"),
    ({"lrs": [2.0]}, "learning.lrs"),  # QEM's rate is a moving-average weight
    ({"num_iterations": 0}, "learning.num_iterations"),
    ({"eval_every": 7}, "learning.eval_every"),
    ({"final_K": [0]}, "learning.final_K"),
    ({"bogus": 1}, "learning.bogus"),
])
def test_each_learning_error_names_its_key(learning, key):
    with pytest.raises(ValueError) as info:
        config_from_dict(_tiny_learning(**learning))
    assert str(info.value).startswith(f"{key}:"), str(info.value)


def test_vi_on_a_discrete_latent_is_rejected_before_any_work(tmp_path, capsys):
    raw = {"model": "occupancy", "dataset": {"name": "occupancy", "synthetic": True,
                                             "sizes": {"num_years": 1, "num_birds": 1,
                                                       "num_ids": 4, "num_test_ids": 2}},
           "K": [2], "methods": ["mp_is"], "num_runs": 1,
           "learning": {"methods": ["vi"], "lrs": [0.1], "num_iterations": 1,
                        "eval_every": 1}}
    path = tmp_path / "occ.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "learning.methods: vi needs reparameterised samples" in err and "'z'" in err
    assert not (tmp_path / "out").exists()
