r"""NYC school-bus delays: hierarchical year-borough model (paper appendix C.1, eqs. 66-67).

Model, for years ``y`` > boroughs ``b`` > delayed buses ``i`` (plates at dims -3, -2, -1),
with one-hot covariates ``bus_company_name[y, b, i, c]`` (C companies) and
``run_type[y, b, i, j]`` (J journey types)::

    global_mean, global_variance ~ Normal(0, 1)
    company_weight[c]            ~ Normal(0, 1)   (vector latent, event shape (C,))
    journey_type_weight[j]       ~ Normal(0, 1)   (vector latent, event shape (J,))
    year_mean[y]     ~ Normal(global_mean, exp(global_variance))
    year_variance[y] ~ Normal(0, 1)
    year_borough_weight[y, b] ~ Normal(year_mean[y], exp(year_variance[y]))
    logits[y, b, i] = year_borough_weight[y, b] + company_weight . bus_company_name[y, b, i]
                      + journey_type_weight . run_type[y, b, i]
    obs[y, b, i] ~ Binomial(total_count=131, logits)

Proposal (factorised): ``Normal(0, 1)`` for every latent (eq. 67).

Departures from the paper's text, following the paper's code (which produced the published
ELBO -3429 ± 36 at K=10): ``exp(.)`` of a "variance" latent is a Normal *scale*; the
likelihood is ``Binomial(131, logits)``, not the ``NegativeBinomial`` the text names (the
delays were truncated at 130 minutes to fit it); the code's extra latent
``log_sigma_phi_psi`` is unused by the likelihood (its weight ``p/q`` is exactly 1) and is
left out.

Example:
    >>> import jax.numpy as jnp
    >>> from jaxis.models import site_shapes
    >>> run_type, company = jnp.ones((3, 3, 30, 5)), jnp.ones((3, 3, 30, 50))
    >>> shapes = site_shapes(model, dict(run_type=run_type, bus_company_name=company))
    >>> shapes["company_weight"], shapes["obs"]
    ((50,), (3, 3, 30))

Reference: Bowyer, Heap, Aitchison 2023, appendix C.1; data: NYC Open Data, Bus Breakdown
and Delays.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._spec import PAPER, ModelSpec, PaperResult

PLATES = {"years": -3, "boroughs": -2, "ids": -1}
TOTAL_COUNT = 131


def model(run_type: jax.Array, bus_company_name: jax.Array, obs: Optional[jax.Array] = None):
    """NYC bus delays: Binomial logits from year-borough, company and journey-type weights."""
    num_years, num_boroughs, num_ids, num_run_types = jnp.shape(run_type)
    num_companies = jnp.shape(bus_company_name)[-1]
    global_mean = numpyro.sample("global_mean", dist.Normal(0.0, 1.0))
    global_variance = numpyro.sample("global_variance", dist.Normal(0.0, 1.0))
    company_weight = numpyro.sample(
        "company_weight", dist.Normal(0.0, 1.0).expand([num_companies]).to_event(1)
    )
    journey_type_weight = numpyro.sample(
        "journey_type_weight", dist.Normal(0.0, 1.0).expand([num_run_types]).to_event(1)
    )
    with numpyro.plate("years", num_years, dim=PLATES["years"]):
        year_mean = numpyro.sample(
            "year_mean", dist.Normal(global_mean, jnp.exp(global_variance))
        )
        year_variance = numpyro.sample("year_variance", dist.Normal(0.0, 1.0))
        with numpyro.plate("boroughs", num_boroughs, dim=PLATES["boroughs"]):
            year_borough_weight = numpyro.sample(
                "year_borough_weight", dist.Normal(year_mean, jnp.exp(year_variance))
            )
            with numpyro.plate("ids", num_ids, dim=PLATES["ids"]):
                logits = (
                    year_borough_weight
                    + jnp.sum(company_weight * bus_company_name, axis=-1)
                    + jnp.sum(journey_type_weight * run_type, axis=-1)
                )
                numpyro.sample(
                    "obs", dist.Binomial(total_count=TOTAL_COUNT, logits=logits), obs=obs
                )


def guide(run_type: jax.Array, bus_company_name: jax.Array, obs: Optional[jax.Array] = None):
    """The paper's factorised proposal: ``Normal(0, 1)`` for every latent (eq. 67)."""
    num_years, num_boroughs, _, num_run_types = jnp.shape(run_type)
    num_companies = jnp.shape(bus_company_name)[-1]
    numpyro.sample("global_mean", dist.Normal(0.0, 1.0))
    numpyro.sample("global_variance", dist.Normal(0.0, 1.0))
    numpyro.sample("company_weight", dist.Normal(0.0, 1.0).expand([num_companies]).to_event(1))
    numpyro.sample(
        "journey_type_weight", dist.Normal(0.0, 1.0).expand([num_run_types]).to_event(1)
    )
    with numpyro.plate("years", num_years, dim=PLATES["years"]):
        numpyro.sample("year_mean", dist.Normal(0.0, 1.0))
        numpyro.sample("year_variance", dist.Normal(0.0, 1.0))
        with numpyro.plate("boroughs", num_boroughs, dim=PLATES["boroughs"]):
            numpyro.sample("year_borough_weight", dist.Normal(0.0, 1.0))


MODEL_INFO = ModelSpec(
    name="bus_breakdown",
    model=model,
    guide=guide,
    covariates=("run_type", "bus_company_name"),
    plates=PLATES,
    heldout_plate="ids",
    split=(30, 30),
    paper_elbo=PaperResult(K=10, elbo=-3429.0, standard_error=36.0, source=PAPER),
    reference=f"{PAPER}, appendix C.1, eqs. 66-67",
)
