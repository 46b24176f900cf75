"""The model registry and each spec's consistency with its model."""
import inspect

import pytest

from jaxis.models import REGISTRY, get_model, list_models

PAPER_ELBO = {"chimpanzees": (5, -401.5, 12.4), "bus_breakdown": (10, -3429.0, 36.0),
              "occupancy": (5, -63020.0, 615.0)}


def test_names_and_lookup():
    assert list_models() == (
        "chimpanzees", "bus_breakdown", "movielens", "occupancy",
        "prior_swap", "reverberation", "two_gaussians", "gaussian_hierarchy",
    )
    assert get_model("occupancy") is REGISTRY["occupancy"]
    with pytest.raises(ValueError, match="chimpanzees"):
        get_model("chimps")


@pytest.mark.parametrize("name", list_models())
def test_spec_matches_the_model(name):
    spec = get_model(name)
    assert spec.name == name and spec.summary
    parameters = list(inspect.signature(spec.model).parameters.values())
    positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    if name != "two_gaussians":
        assert positional == [*spec.covariates, "obs"]
    if spec.guide is not None:
        assert inspect.signature(spec.guide) == inspect.signature(spec.model)
    if spec.heldout_plate is not None:
        assert spec.heldout_plate in spec.plates and len(spec.split) == 2
    dims = sorted(spec.plates.values())
    assert dims == list(range(-len(dims), 0))  # plates fill dims -P..-1


@pytest.mark.parametrize("name", sorted(PAPER_ELBO))
def test_published_elbos(name):
    result = get_model(name).paper_elbo
    assert (result.K, result.elbo, result.standard_error) == PAPER_ELBO[name]
