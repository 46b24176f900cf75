"""The paper's four models and proposals (appendix C) on real and synthetic data.

Sites, shapes and plates as documented; the guide proposes exactly the model's latents in
the same plates; ``log P - log Q`` is finite and equals the appendix's formulas written out
independently (tests/models/reference.py); the models broadcast extra sample dims left of
the plates the way MP IS allocates them.
"""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density

from jaxis.datasets import load_dataset, synthetic_dataset
from jaxis.models import get_model
from tests.datasets.paper_files import load_or_skip
from tests.models.reference import REFERENCE
from tests.models.structure import sites

PAPER = ("chimpanzees", "bus_breakdown", "movielens", "occupancy")

# site -> (shape, plates) on the paper's training data
CHIMP = {"actors": ("actors", -3, 7), "blocks": ("blocks", -2, 6), "repeats": ("repeats", -1, 10)}
BUS = {"years": ("years", -3, 3), "boroughs": ("boroughs", -2, 3), "ids": ("ids", -1, 30)}
LENS = {"users": ("users", -2, 300), "films": ("films", -1, 5)}
OCC = {
    "birds": ("birds", -3, 12),
    "years": ("years", -4, 6),
    "ids": ("ids", -2, 200),
    "replicates": ("replicates", -1, 5),
}
EXPECTED = {
    "chimpanzees": {
        **{k: ((), ()) for k in ("sigma_block", "sigma_actor", "beta_pc", "beta_p", "alpha")},
        "alpha_actor": ((7, 1, 1), ("actors",)),
        "alpha_block": ((7, 6, 1), ("actors", "blocks")),
        "obs": ((7, 6, 10), ("actors", "blocks", "repeats")),
    },
    "bus_breakdown": {
        "global_mean": ((), ()),
        "global_variance": ((), ()),
        "company_weight": ((50,), ()),
        "journey_type_weight": ((5,), ()),
        "year_mean": ((3, 1, 1), ("years",)),
        "year_variance": ((3, 1, 1), ("years",)),
        "year_borough_weight": ((3, 3, 1), ("years", "boroughs")),
        "obs": ((3, 3, 30), ("years", "boroughs", "ids")),
    },
    "movielens": {
        "mu": ((18,), ()),
        "psi": ((18,), ()),
        "z": ((300, 1, 18), ("users",)),
        "obs": ((300, 5), ("users", "films")),
    },
    "occupancy": {
        **{
            f"{p}_{w}": ((), ())
            for p in ("mu", "sigma")
            for w in ("bird_mean", "quality_weight", "weather_weight")
        },
        **{w: ((12, 1, 1), ("birds",)) for w in ("quality_weight", "weather_weight", "bird_mean")},
        "bird_year_mean": ((6, 12, 1, 1), ("birds", "years")),
        "z": ((6, 12, 200, 1), ("birds", "years", "ids")),
        "obs": ((6, 12, 200, 5), ("birds", "years", "ids", "replicates")),
    },
}
PLATES = {"chimpanzees": CHIMP, "bus_breakdown": BUS, "movielens": LENS, "occupancy": OCC}


@pytest.fixture(scope="module", params=[(n, s) for n in PAPER for s in ("real", "synthetic")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def case(request):
    name, source = request.param
    if source == "real":
        data = load_or_skip(load_dataset, name=name)
    else:
        data = synthetic_dataset(jax.random.key(0), name)
    return name, data.train


def test_sites_shapes_and_plates_as_documented(case):
    name, train = case
    found = sites(get_model(name).model, train)
    expected = {
        site: (shape, frozenset(PLATES[name][p] for p in plates))
        for site, (shape, plates) in EXPECTED[name].items()
    }
    assert {k: (s.shape, s.plates) for k, s in found.items()} == expected
    assert [k for k, s in found.items() if s.observed] == ["obs"]


def test_guide_proposes_exactly_the_latents_in_the_same_plates(case):
    name, train = case
    spec = get_model(name)
    model_sites = sites(spec.model, train)
    guide_sites = sites(spec.guide, train)
    latents = {k: s for k, s in model_sites.items() if not s.observed}
    assert guide_sites == latents


@partial(jax.jit, static_argnums=0)
def _score(name, rng_key, train):
    """Guide draw z ~ Q; (z, log P(x, z), log Q(z)) from numpyro and from the reference."""
    spec = get_model(name)
    trace = handlers.trace(handlers.seed(spec.guide, rng_key)).get_trace(**train)
    z = {k: v["value"] for k, v in trace.items() if v["type"] == "sample"}
    log_p, _ = log_density(spec.model, (), train, z)
    log_q, _ = log_density(spec.guide, (), train, z)
    ref_p, ref_q = REFERENCE[name]
    args = [train[k] for k in (*spec.covariates, "obs")]
    return log_p, log_q, ref_p(z, *args), ref_q(z, *args)


def test_log_weight_is_finite_and_matches_appendix_c(case):
    name, train = case
    for seed in range(2):
        log_p, log_q, ref_p, ref_q = _score(name, jax.random.key(seed), train)
        assert np.isfinite(log_p - log_q)
        np.testing.assert_allclose(log_p, ref_p, rtol=1e-10)
        np.testing.assert_allclose(log_q, ref_q, rtol=1e-10)


def test_occupancy_z_proposal_uses_the_proposals_own_parents():
    data = synthetic_dataset(jax.random.key(0), "occupancy")
    spec = get_model("occupancy")

    @jax.jit
    def proposal_logits(rng_key, train):
        trace = handlers.trace(handlers.seed(spec.guide, rng_key)).get_trace(**train)
        value = lambda k: trace[k]["value"]  # noqa: E731
        expected = value("bird_year_mean") * value("weather_weight") * train["weather"][..., None]
        return trace["z"]["fn"].logits, expected

    logits, expected = proposal_logits(jax.random.key(1), data.train)
    np.testing.assert_array_equal(logits, expected)


SMALL = {  # name -> covariate/obs shapes for the broadcasting test (tiny, any values)
    "chimpanzees": {"condition": (2, 3, 2), "prosoc_left": (2, 3, 2), "obs": (2, 3, 2)},
    "bus_breakdown": {"run_type": (2, 2, 3, 2), "bus_company_name": (2, 2, 3, 3),
                      "obs": (2, 2, 3)},
    "movielens": {"x": (3, 2, 4), "obs": (3, 2)},
    "occupancy": {"weather": (2, 2, 3), "quality": (2, 2, 3), "obs": (2, 2, 3, 2)},
}


@pytest.mark.parametrize("name", PAPER)
def test_model_broadcasts_sample_dims_left_of_its_plates(name):
    """Latent i gets K=2 draws on dim -(P + 1 + i); obs's log-density at any index tuple
    equals the single-sample model's."""
    spec = get_model(name)
    rng = np.random.default_rng(0)
    data = {k: jnp.asarray(rng.integers(0, 2, s), float) for k, s in SMALL[name].items()}
    model_sites = sites(spec.model, data)
    depth = max(-d for _, d, _ in set().union(*(s.plates for s in model_sites.values())))
    latents = [k for k, s in model_sites.items() if not s.observed]
    # any positive values do: only the broadcasting of the model's arithmetic is checked
    draws = {k: rng.uniform(0.5, 1.5, (2,) + model_sites[k].shape) for k in latents}

    def positional(i, name):
        site = model_sites[name]
        batch = len(site.shape) - site.event_dim
        return draws[name].reshape((2,) + (1,) * (i + depth - batch) + site.shape)

    stacked = {k: positional(i, k) for i, k in enumerate(latents)}

    @jax.jit
    def obs_log_prob(values):
        model = handlers.substitute(spec.model, data=values)
        trace = handlers.trace(handlers.seed(model, 0)).get_trace(**data)
        return trace["obs"]["fn"].log_prob(data["obs"])

    full = obs_log_prob(stacked)
    full = jnp.broadcast_to(full, (2,) * len(latents) + data["obs"].shape)
    for combo in [(0,) * len(latents), tuple(rng.integers(0, 2, len(latents)))]:
        single = obs_log_prob({k: draws[k][combo[i]] for i, k in enumerate(latents)})
        np.testing.assert_allclose(full[tuple(reversed(combo))], single, rtol=1e-12)
