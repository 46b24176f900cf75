"""The runner: rows per (method, K), the library's estimators, keys, methods, data kinds."""
import jax
import numpy as np
import pytest

import jaxis
from jaxis.experiments import format_table, mean_se, run_experiment
from jaxis.experiments._measure import measure_row
from jaxis.models import gaussian_hierarchy as gh
from jaxis.queries import predictive_log_likelihood_from_draws
from tests.experiments.tiny import tiny_config


def _identity(v):
    return v


def test_one_row_per_method_and_K_with_every_metric(result):
    assert [(r.method, r.K) for r in result.rows] == [
        ("mp_is", 2), ("mp_is", 4), ("global_is", 5), ("global_is", 50)
    ]
    assert result.data.scalar_globals == ("mu",)
    for row in result.rows:
        for values in (row.elbo, row.predictive_ll, row.posterior_means["mu"], row.ess,
                       row.time_s):
            assert values.shape == (3,) and np.all(np.isfinite(values))
        assert np.all(row.time_s > 0) and row.compile_s > 0 and row.peak_rss_mb > 10
        assert np.all((row.ess >= 1 - 1e-9) & (row.ess <= row.K + 1e-9))
    assert result.row("global_is", 50) is result.rows[3]
    with pytest.raises(KeyError):
        result.row("mp_is", 3)


def test_exact_evidence_is_the_closed_form_of_the_training_data(result):
    exact = float(gh.exact_log_evidence(result.data.train["obs"]))
    assert result.data.exact_log_evidence == pytest.approx(exact, rel=1e-12)
    assert result.data.train["obs"].shape == (3, 2) and result.data.all["obs"].shape == (3, 3)


def test_mp_row_is_the_library_estimators_on_its_keys(result):
    data, keys = result.data, jax.random.split(jax.random.PRNGKey(5), 2)
    row = measure_row("mp_is", 4, "gaussian_hierarchy", data, keys, num_posterior_samples=10)
    run = jaxis.mpis(gh.model, K=4)
    for i, key in enumerate(keys):
        k_run, k_pred = jax.random.split(key)
        mpt = run(k_run, **data.train)
        pll = jaxis.predictive_log_likelihood(k_pred, mpt, gh.model, data.train, data.all, 10)
        np.testing.assert_allclose(row.elbo[i], jaxis.log_evidence(mpt), rtol=1e-9)
        np.testing.assert_allclose(row.predictive_ll[i], pll, rtol=1e-9)
        mean = jaxis.moments(mpt, {"mu": _identity})["mu"]
        np.testing.assert_allclose(row.posterior_means["mu"][i], mean, rtol=1e-9)
        np.testing.assert_allclose(row.ess[i], jaxis.ess(mpt)["mu"], rtol=1e-9)


def test_global_row_is_the_library_estimators_on_its_keys(result):
    data, keys = result.data, jax.random.split(jax.random.PRNGKey(6), 2)
    row = measure_row("global_is", 5, "gaussian_hierarchy", data, keys,
                      num_posterior_samples=10)
    run = jaxis.global_is(gh.model, K=5)
    for i, key in enumerate(keys):
        k_run, k_draw, k_pred = jax.random.split(key, 3)
        ws = run(k_run, **data.train)
        draws = ws.resample(k_draw, 10).samples
        pll = predictive_log_likelihood_from_draws(k_pred, draws, gh.model, data.train, data.all)
        np.testing.assert_allclose(row.elbo[i], ws.log_evidence(), rtol=1e-9)
        np.testing.assert_allclose(row.predictive_ll[i], pll, rtol=1e-9)
        np.testing.assert_allclose(row.ess[i], ws.ess(), rtol=1e-9)
        mean = ws.moments({"mu": _identity})["mu"]
        np.testing.assert_allclose(row.posterior_means["mu"][i], mean, rtol=1e-9)


def test_mp_evidence_estimate_is_unbiased_against_the_exact_evidence(result):
    """E[Z_MP / p(y)] = 1 over 400 runs (the compiled row is reused, so runs are cheap)."""
    keys = jax.random.split(jax.random.PRNGKey(7), 400)
    row = measure_row("mp_is", 4, "gaussian_hierarchy", result.data, keys,
                      num_posterior_samples=10)
    ratio = np.exp(row.elbo - result.data.exact_log_evidence)
    mean, se = mean_se(ratio)
    assert abs(mean - 1.0) < 4 * se, (mean, se)
    assert row.compile_s == result.row("mp_is", 4).compile_s  # compiled once per process


def test_same_seed_same_rows_and_rows_do_not_depend_on_other_K(result):
    again = run_experiment(tiny_config(K=[4], methods=["mp_is"]), progress=False)
    assert [(r.method, r.K) for r in again.rows] == [("mp_is", 4)]
    np.testing.assert_array_equal(again.rows[0].elbo, result.row("mp_is", 4).elbo)
    other = run_experiment(tiny_config(K=[4], methods=["mp_is"], seed=1), progress=False)
    assert not np.allclose(other.rows[0].elbo, again.rows[0].elbo)


def test_global_is_only(result):
    only = run_experiment(tiny_config(methods=["global_is"], K=[]), progress=False)
    assert [(r.method, r.K) for r in only.rows] == [("global_is", 5), ("global_is", 50)]
    np.testing.assert_array_equal(only.rows[1].elbo, result.row("global_is", 50).elbo)


def test_model_without_heldout_data_skips_the_predictive_log_likelihood():
    cfg = tiny_config(model="prior_swap", dataset={
        "name": "prior_swap", "synthetic": True, "sizes": {"num_samples": 100}},
        K=[4], global_is_K=[8])
    res = run_experiment(cfg, progress=False)
    assert res.data.all is None and res.data.scalar_globals == ("theta",)
    assert all(r.predictive_ll is None and np.all(np.isfinite(r.elbo)) for r in res.rows)
    table = format_table(res)
    assert "pred. LL" not in table and "E[theta]" in table


def test_methods_the_runner_does_not_measure_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match="methods=.*notebooks/blog_importance_sampling"):
        run_experiment(tiny_config(methods=["prior_swap"]), progress=False)


def test_table_shows_means_and_standard_errors(result):
    table = format_table(result)
    assert f"exact log evidence: {result.data.exact_log_evidence:.3f}" in table
    for row in result.rows:
        mean, se = mean_se(row.elbo)
        assert f"{mean:.2f} ± {se:.2f}" in table
    assert table.count("MP IS") == 2 and table.count("global IS") == 2


def test_a_K_too_large_for_memory_fails_before_any_row_runs(monkeypatch):
    from jaxis.experiments import _runner

    def never(*args, **kwargs):
        raise AssertionError("a row ran before every row was checked")

    monkeypatch.setattr(_runner, "measure_row", never)
    with pytest.raises(ValueError, match="MP IS with K=300000 needs about .* Use K <="):
        run_experiment(tiny_config(K=[2, 300000]), progress=False)
