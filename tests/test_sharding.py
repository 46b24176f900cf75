"""``mpis(..., mesh=)``: a plate split over devices gives the one-device results.

The 8-device checks run ``tests/sharded_runs.py`` in a subprocess (JAX reads
``--xla_force_host_platform_device_count`` once, at start-up): a wide plate (N = 10^5
observations, a latent per group) on 8 devices and the chimpanzee model on a 2 x 3 mesh,
each against the one-device run with the same key, in float64: every query equal to
float64 rounding, the log factors really split (each device holds 1/n of the plate) and
the compiled contraction reducing the plate across devices.
"""
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxis
from jaxis._sharding import PlateSharding, choose_plate
from jaxis.datasets import synthetic_chimpanzees
from jaxis.models import chimpanzees as cm
from tests import tiny_models as tm

ROOT = Path(__file__).resolve().parents[1]
# float64 sums of <= 10^5 terms in another order: relative error ~ 1e5 * eps = 2e-11
RTOL = 1e5 * np.finfo(np.float64).eps


@pytest.fixture(scope="module")
def eight_devices(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded")
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=8")
    proc = subprocess.run([sys.executable, "-m", "tests.sharded_runs", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    facts = json.loads((out / "facts.json").read_text())
    with np.load(out / "results.npz") as f:
        results = dict(f)
    return facts, results


@pytest.mark.parametrize("case", ["wide", "chimpanzees", "learning"])
def test_sharded_queries_equal_one_device(eight_devices, case):
    facts, results = eight_devices
    assert facts["devices"] == 8
    names = sorted(k.split("/", 2)[2] for k in results if k.startswith(f"{case}/one/"))
    if case == "learning":  # MPELBO(mesh=) on 8 groups
        assert names == ["mpelbo_grad", "mpelbo_loss"], names
    else:
        assert "log_z" in names and any(n.startswith("marginal_") for n in names)
    if case == "wide":
        assert "moments" in names and any(n.startswith("draw_") for n in names)
    for name in names:
        one, split = results[f"{case}/one/{name}"], results[f"{case}/split/{name}"]
        assert np.all(np.isfinite(one)), name
        if name.startswith("draw_"):  # same key, same weights: the same draws
            np.testing.assert_array_equal(split, one, err_msg=name)
        else:
            np.testing.assert_allclose(split, one, rtol=RTOL, atol=RTOL, err_msg=name)


@pytest.mark.parametrize("case, plate, devices", [("wide", "groups", 8),
                                                  ("chimpanzees", "blocks", 6)])
def test_log_factors_are_split_across_devices(eight_devices, case, plate, devices):
    facts = eight_devices[0][case]
    split = [i for i, plates in enumerate(facts["log_factor_plates"]) if plate in plates]
    assert split, facts
    for i in range(len(facts["shapes"])):
        assert facts["log_factor_devices"][i] == devices
        shape, shard = facts["shapes"][i], facts["shard_shapes"][i]
        if i in split:  # the plate's axis holds 1/devices of the elements on each device
            axis = len(shape) - len(facts["log_factor_plates"][i]) \
                + facts["log_factor_plates"][i].index(plate)
            assert shard[axis] * devices == shape[axis], (shape, shard)
            assert [s for a, s in enumerate(shard) if a != axis] == \
                [s for a, s in enumerate(shape) if a != axis]
        else:
            assert shard == shape
    assert facts["log_evidence_all_reduce"]  # the plate reduction crosses devices


def test_misfits_name_the_argument(eight_devices):
    msgs = eight_devices[0]["misfits"]
    assert msgs["no_plate_divides"].startswith("mesh= has 8 devices")
    assert "actors=7, blocks=6, repeats=10" in msgs["no_plate_divides"]
    assert msgs["not_a_plate"].startswith("shard_plate='trials' is not a plate")
    assert msgs["not_divisible"].startswith("shard_plate='actors' has 7 elements")


def _stub(n: int, plate=None) -> PlateSharding:
    """A sharding over ``n`` devices (choose_plate reads only the device count)."""
    return PlateSharding(SimpleNamespace(size=n), plate)


def _graph(model, guide, args):
    """The factor graph of a run, traced but not compiled."""
    run = jaxis.mpis(model, guide, K=2, check_memory=False)
    return run.lower(jax.random.PRNGKey(0), *args).out_info.graph


@pytest.fixture(scope="module")
def chimp_graph():
    t = synthetic_chimpanzees(jax.random.PRNGKey(1)).train
    args = (t["condition"], t["prosoc_left"], t["obs"])
    return _graph(cm.model, cm.guide, args)


@pytest.mark.parametrize("n, plate", [(1, "actors"), (2, "blocks"), (3, "blocks"),
                                      (5, "repeats"), (7, "actors")])
def test_the_plate_with_most_work_that_divides(chimp_graph, n, plate):
    # actors (7) hold every plated factor, blocks (6) the block and observation factors,
    # repeats (10) only the observations (summed as they are computed)
    assert choose_plate(chimp_graph, _stub(n)) == plate


def test_a_named_plate_is_taken(chimp_graph):
    assert choose_plate(chimp_graph, _stub(2, "repeats")) == "repeats"
    with pytest.raises(ValueError, match="shard_plate='blocks' has 6 elements, which the "
                                         "mesh's 4 devices do not divide"):
        choose_plate(chimp_graph, _stub(4, "blocks"))


def test_a_scan_time_axis_is_never_split():
    graph = _graph(tm.markov_chain, None, (jnp.zeros(4),))
    (time,) = [c.plate for c in graph.chains]
    assert choose_plate(graph, _stub(1)) is None
    with pytest.raises(ValueError, match="no plate of the model has a multiple of 2"):
        choose_plate(graph, _stub(2))
    with pytest.raises(ValueError, match="time axis of a scan"):
        choose_plate(graph, _stub(2, time))


def test_bad_options_are_rejected_when_built():
    with pytest.raises(ValueError, match="mesh must be a jax.sharding.Mesh"):
        jaxis.mpis(tm.plated_hierarchy, K=3, mesh=jax.devices())
    with pytest.raises(ValueError, match="shard_plate='groups' needs mesh="):
        jaxis.mpis(tm.plated_hierarchy, K=3, shard_plate="groups")
    with pytest.raises(ValueError, match="shard_plate must be a plate name"):
        jaxis.mpis(tm.plated_hierarchy, K=3, mesh=jax.make_mesh((1,), ("d",)), shard_plate=1)


def test_learners_reject_a_bad_mesh():
    for build in (lambda: jaxis.MPELBO(K=3, mesh="gpu"), lambda: jaxis.MPRWS(K=3, mesh="gpu"),
                  lambda: jaxis.qem(tm.plated_hierarchy, K=3, num_steps=2, lr=0.5, mesh="gpu")):
        with pytest.raises(ValueError, match="mesh must be a jax.sharding.Mesh"):
            build()


def test_one_device_mesh_changes_nothing():
    y = jnp.array([[0.3, -0.2, 1.0], [1.5, 0.7, 1.1]])
    key = jax.random.PRNGKey(4)
    one = jaxis.mpis(tm.plated_hierarchy, K=5)(key, y)
    mesh = jax.make_mesh((1,), ("data",))
    split = jaxis.mpis(tm.plated_hierarchy, K=5, mesh=mesh)(key, y)
    np.testing.assert_allclose(jaxis.log_evidence(split), jaxis.log_evidence(one), rtol=RTOL)
    for name, m in jaxis.marginals(one).items():
        np.testing.assert_allclose(jaxis.marginals(split)[name], m, rtol=RTOL, atol=RTOL)


def test_qem_with_a_one_device_mesh_changes_nothing():
    y = jnp.array([[0.3, -0.2, 1.0], [1.5, 0.7, 1.1]])
    key = jax.random.PRNGKey(2)
    fit = lambda mesh: jaxis.qem(tm.plated_hierarchy, K=3, num_steps=2, lr=0.5,
                                 num_prior_samples=50, mesh=mesh)(key, y)[0].params
    one, split = fit(None), fit(jax.make_mesh((1,), ("data",)))
    assert sorted(split) == sorted(one)
    for name in one:
        np.testing.assert_allclose(split[name], one[name], rtol=RTOL, atol=RTOL, err_msg=name)
