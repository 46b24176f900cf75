"""Synthetic generators: the loaders' structure, prior-predictive draws, sizes, determinism."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers

from jaxis.datasets import load_dataset, synthetic_dataset, synthetic_sizes
from jaxis.models import get_model, site_shapes
from tests.datasets.paper_files import load_or_skip

PAPER = ("chimpanzees", "bus_breakdown", "movielens", "occupancy")


@pytest.fixture(scope="module", params=PAPER)
def synthetic(request):
    """Synthetic data at the default (paper) sizes; compiled once per model."""
    return synthetic_dataset(jax.random.key(0), request.param)


def _shapes(part):
    return {k: v.shape for k, v in part.items()}


def test_default_sizes_match_the_loader(synthetic):
    real = load_or_skip(load_dataset, name=synthetic.name)
    assert _shapes(synthetic.train) == _shapes(real.train)
    assert _shapes(synthetic.test) == _shapes(real.test)
    assert synthetic.split_axis == real.split_axis
    assert dict(synthetic.plates) == dict(real.plates)
    assert real.latents is None and synthetic.latents is not None


def test_latents_are_the_model_sites(synthetic):
    shapes = site_shapes(get_model(synthetic.name).model, synthetic.all())
    shapes.pop("obs")
    assert _shapes(synthetic.latents) == shapes
    assert set(synthetic.train) == set(get_model(synthetic.name).covariates) | {"obs"}


def test_obs_lies_in_the_support_given_the_latents(synthetic):
    spec = get_model(synthetic.name)

    @jax.jit
    def log_lik(latents, all_data):
        model = handlers.condition(spec.model, data=latents)
        trace = handlers.trace(handlers.seed(model, 0)).get_trace(**all_data)
        return trace["obs"]["fn"].log_prob(all_data["obs"])

    assert jnp.all(jnp.isfinite(log_lik(synthetic.latents, synthetic.all())))


def test_custom_sizes():
    sizes = {"num_actors": 3, "num_blocks": 2, "num_repeats": 4, "num_test_repeats": 1}
    data = synthetic_dataset(jax.random.key(1), "chimpanzees", **sizes)
    assert data.train["obs"].shape == (3, 2, 4) and data.num_test == 1
    assert dict(data.plates) == {"actors": 3, "blocks": 2, "repeats": 4}
    assert data.latents["alpha_block"].shape == (3, 2, 1)


def test_same_key_same_data_other_key_other_data():
    a = synthetic_dataset(jax.random.key(3), "chimpanzees")
    b = synthetic_dataset(jax.random.key(3), "chimpanzees")
    c = synthetic_dataset(jax.random.key(4), "chimpanzees")
    np.testing.assert_array_equal(a.all()["obs"], b.all()["obs"])
    assert not np.array_equal(a.all()["condition"], c.all()["condition"])


def test_occupancy_covariates_are_shared_by_species():
    data = synthetic_dataset(jax.random.key(0), "occupancy")
    for key in ("weather", "quality"):
        value = np.asarray(data.all()[key])
        np.testing.assert_array_equal(value, np.broadcast_to(value[:, :1], value.shape))


def test_unknown_size_is_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match="num_actors"):
        synthetic_dataset(jax.random.key(0), "chimpanzees", num_monkeys=3)
    assert "num_actors" in synthetic_sizes("chimpanzees")
