r"""Chimpanzee prosociality: hierarchical logistic regression (paper appendix C.2, eqs. 68-69).

Model, for actors ``a`` > blocks ``b`` > repeats ``r`` (plates at dims -3, -2, -1)::

    sigma_actor, sigma_block ~ HalfCauchy(1)
    beta_pc, beta_p, alpha   ~ Normal(0, 10)
    alpha_actor[a]    ~ Normal(0, sigma_actor)
    alpha_block[a, b] ~ Normal(0, sigma_block)
    logits[a, b, r] = alpha + alpha_actor[a] + alpha_block[a, b]
                      + (beta_p + beta_pc * condition[a, b, r]) * prosoc_left[a, b, r]
    obs[a, b, r]      ~ Bernoulli(logits)

Proposal (factorised): the prior for the five globals, ``Normal(0, 1)`` for
``alpha_actor`` and ``alpha_block``.

The paper's text writes ``sigma^2`` and "variance 10"; its code (which produced the published
ELBO -401.5 ± 12.4 at K=5) uses ``sigma`` and ``10`` as Normal *scales*, and so do we.

Example:
    >>> import jax.numpy as jnp
    >>> from jaxis.models import site_shapes
    >>> condition = prosoc_left = jnp.ones((7, 6, 10))
    >>> shapes = site_shapes(model, dict(condition=condition, prosoc_left=prosoc_left))
    >>> shapes["alpha_block"], shapes["obs"]
    ((7, 6, 1), (7, 6, 10))

Reference: Bowyer, Heap, Aitchison 2023, *Using autodiff to estimate posterior moments,
marginals and samples*, appendix C.2; data from Silk et al. 2005 via McElreath's rethinking.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._spec import PAPER, ModelSpec, PaperResult

PLATES = {"actors": -3, "blocks": -2, "repeats": -1}


def model(condition: jax.Array, prosoc_left: jax.Array, obs: Optional[jax.Array] = None):
    """Chimpanzee prosociality: Bernoulli logits from actor and actor-block intercepts."""
    num_actors, num_blocks, num_repeats = jnp.shape(condition)
    sigma_block = numpyro.sample("sigma_block", dist.HalfCauchy(1.0))
    sigma_actor = numpyro.sample("sigma_actor", dist.HalfCauchy(1.0))
    beta_pc = numpyro.sample("beta_pc", dist.Normal(0.0, 10.0))
    beta_p = numpyro.sample("beta_p", dist.Normal(0.0, 10.0))
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    with numpyro.plate("actors", num_actors, dim=PLATES["actors"]):
        alpha_actor = numpyro.sample("alpha_actor", dist.Normal(0.0, sigma_actor))
        with numpyro.plate("blocks", num_blocks, dim=PLATES["blocks"]):
            alpha_block = numpyro.sample("alpha_block", dist.Normal(0.0, sigma_block))
            with numpyro.plate("repeats", num_repeats, dim=PLATES["repeats"]):
                logits = (
                    alpha
                    + alpha_actor
                    + alpha_block
                    + (beta_p + beta_pc * condition) * prosoc_left
                )
                numpyro.sample("obs", dist.Bernoulli(logits=logits), obs=obs)


def guide(condition: jax.Array, prosoc_left: jax.Array, obs: Optional[jax.Array] = None):
    """The paper's factorised proposal (eq. 69)."""
    num_actors, num_blocks, _ = jnp.shape(condition)
    numpyro.sample("sigma_block", dist.HalfCauchy(1.0))
    numpyro.sample("sigma_actor", dist.HalfCauchy(1.0))
    numpyro.sample("beta_pc", dist.Normal(0.0, 10.0))
    numpyro.sample("beta_p", dist.Normal(0.0, 10.0))
    numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    with numpyro.plate("actors", num_actors, dim=PLATES["actors"]):
        numpyro.sample("alpha_actor", dist.Normal(0.0, 1.0))
        with numpyro.plate("blocks", num_blocks, dim=PLATES["blocks"]):
            numpyro.sample("alpha_block", dist.Normal(0.0, 1.0))


MODEL_INFO = ModelSpec(
    name="chimpanzees",
    model=model,
    guide=guide,
    covariates=("condition", "prosoc_left"),
    plates=PLATES,
    heldout_plate="repeats",
    split=(10, 2),
    paper_elbo=PaperResult(K=5, elbo=-401.5, standard_error=12.4, source=PAPER),
    reference=f"{PAPER}, appendix C.2, eqs. 68-69",
)
