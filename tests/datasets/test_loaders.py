"""Loaders on the shared paper data: documented shapes, splits, corrected variants, errors."""
import jax.numpy as jnp
import numpy as np
import pytest

from jaxis.datasets import (
    load_bus_breakdown,
    load_chimpanzees,
    load_dataset,
    load_movielens,
    load_occupancy,
    load_paper_fake_data,
    read_chimpanzees_csv,
)
from jaxis.models import get_model, site_shapes
from tests.datasets.paper_files import load_or_skip

SHAPES = {  # name -> loader kwargs, {arg: (train shape, test shape)}, plates
    "chimpanzees": (
        {},
        {k: ((7, 6, 10), (7, 6, 2)) for k in ("condition", "prosoc_left", "obs")},
        {"actors": 7, "blocks": 6, "repeats": 10},
    ),
    "bus_breakdown": (
        {"run": 0},
        {
            "run_type": ((3, 3, 30, 5), (3, 3, 30, 5)),
            "bus_company_name": ((3, 3, 30, 50), (3, 3, 30, 50)),
            "obs": ((3, 3, 30), (3, 3, 30)),
        },
        {"years": 3, "boroughs": 3, "ids": 30},
    ),
    "movielens": (
        {},
        {"x": ((300, 5, 18), (300, 5, 18)), "obs": ((300, 5), (300, 5))},
        {"users": 300, "films": 5},
    ),
    "occupancy": (
        {},
        {
            "weather": ((6, 12, 200), (6, 12, 100)),
            "quality": ((6, 12, 200), (6, 12, 100)),
            "obs": ((6, 12, 200, 5), (6, 12, 100, 5)),
        },
        {"birds": 12, "years": 6, "ids": 200, "replicates": 5},
    ),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_documented_shapes_and_split(name):
    kwargs, shapes, plates = SHAPES[name]
    data = load_or_skip(load_dataset, name=name, **kwargs)
    assert data.name == name
    assert {k: (v.shape, data.test[k].shape) for k, v in data.train.items()} == shapes
    assert dict(data.plates) == plates and list(data.plates) == list(get_model(name).plates)
    assert all(v.dtype == jnp.result_type(float) for v in data.train.values())
    full = data.all()
    axis = data.split_axis
    for key, value in full.items():
        n_train = data.train[key].shape[axis]
        assert value.shape[axis] == n_train + data.num_test
        first = np.take(np.asarray(value), np.arange(n_train), axis)
        np.testing.assert_array_equal(first, data.train[key])


def test_bus_run10_has_its_own_categories():
    data = load_or_skip(load_bus_breakdown, run=10)
    assert data.train["run_type"].shape == (3, 3, 30, 7)
    assert data.train["bus_company_name"].shape == (3, 3, 30, 53)
    np.testing.assert_array_equal(data.train["run_type"].sum(-1), 1.0)  # one-hot
    assert float(data.train["obs"].max()) <= 130


def test_paper_chimpanzee_layout_is_the_csv_in_file_order():
    """The documented defect: the npz is the CSV reshaped (actor > condition > block > trial)."""
    data = load_or_skip(load_chimpanzees)
    csv = read_chimpanzees_csv()
    cube = csv["pulled_left"].reshape(7, 6, 12)
    np.testing.assert_array_equal(data.all()["obs"], cube)
    # so the paper's "blocks" 0-2 hold condition 0 only and blocks 3-5 condition 1 only
    np.testing.assert_array_equal(data.all()["condition"][:, :3], 0)
    np.testing.assert_array_equal(data.all()["condition"][:, 3:], 1)


def test_corrected_chimpanzees_agree_with_csv_rows():
    data = load_or_skip(load_chimpanzees, corrected=True)
    csv = read_chimpanzees_csv()
    full = data.all()
    assert full["obs"].shape == (7, 6, 12)
    for row in (0, 7, 100, 257, 503):
        actor, block, trial = csv["actor"][row], csv["block"][row], csv["trial"][row]
        trials = np.sort(csv["trial"][(csv["actor"] == actor) & (csv["block"] == block)])
        a, b, r = actor - 1, block - 1, int(np.searchsorted(trials, trial))
        assert full["obs"][a, b, r] == csv["pulled_left"][row]
        assert full["condition"][a, b, r] == csv["condition"][row]
        assert full["prosoc_left"][a, b, r] == csv["prosoc_left"][row]
    # every real block mixes both conditions, and each test pair holds one of each
    assert np.all(full["condition"].mean(-1) == 0.5)
    np.testing.assert_array_equal(data.test["condition"].sum(-1), 1.0)


def test_occupancy_corrected_standardises_weather_with_train_statistics():
    raw = load_or_skip(load_occupancy)
    fixed = load_occupancy(corrected=True)
    w = np.asarray(raw.train["weather"])
    np.testing.assert_allclose(fixed.train["weather"].mean(), 0.0, atol=1e-9)
    np.testing.assert_allclose(fixed.train["weather"].std(), 1.0, rtol=1e-9)
    np.testing.assert_allclose(
        fixed.test["weather"], (raw.test["weather"] - w.mean()) / w.std(), rtol=1e-9
    )
    np.testing.assert_array_equal(fixed.train["obs"], raw.train["obs"])


def test_movielens_documented_defect():
    data = load_or_skip(load_movielens)
    assert float(data.all()["obs"].max()) == 0.0  # every rating is 0


@pytest.mark.parametrize(
    "name, option, fragment",
    [
        ("movielens", {"corrected": True}, "corrected"),
        ("bus_breakdown", {"corrected": True}, "corrected"),
        ("chimpanzees", {"run": 3}, "run"),
        ("prior_swap", {}, "synthetic"),
    ],
)
def test_unavailable_options_raise(name, option, fragment):
    with pytest.raises(ValueError, match=fragment):
        load_dataset(name, **option)


def test_unknown_dataset_lists_names():
    with pytest.raises(ValueError, match="chimpanzees"):
        load_dataset("chimps")


@pytest.mark.parametrize("name", ["chimpanzees", "bus_breakdown", "movielens"])
def test_paper_fake_data_latents_are_the_model_sites(name):
    data = load_or_skip(load_paper_fake_data, name=name)
    real = load_or_skip(load_dataset, name=name)
    assert {k: v.shape for k, v in data.train.items()} == {
        k: v.shape for k, v in real.train.items()
    }
    shapes = site_shapes(get_model(name).model, data.all())
    shapes.pop("obs")
    assert {k: v.shape for k, v in data.latents.items()} == shapes


def test_paper_fake_data_only_where_shipped():
    with pytest.raises(ValueError, match="chimpanzees"):
        load_paper_fake_data("occupancy")
