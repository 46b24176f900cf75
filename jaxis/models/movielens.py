r"""MovieLens likes: hierarchical Bayesian logistic regression (paper appendix C.3, eqs. 70-71).

Model, for users ``m`` > films ``n`` (plates at dims -2, -1), with film features
``x[m, n, :]`` (18 genre tags, laid out per user-film pair)::

    mu, psi ~ Normal(0, I_18)                    (vector latents, event shape (18,))
    z[m]    ~ Normal(mu, exp(psi) I)             (event shape (18,), in plate users)
    obs[m, n] ~ Bernoulli(logits = z[m] . x[m, n])

Proposal (factorised): ``Normal(0, I_18)`` for ``mu``, ``psi`` and every ``z[m]`` (eq. 71).
``exp(psi)`` is a Normal *scale*, as in the paper's code.

The paper's text holds out a disjoint set of users; its code and data hold out 5 further
films per user (``split_axis`` = films), which is what :data:`MODEL_INFO` records.

Example:
    >>> import jax.numpy as jnp
    >>> from jaxis.models import site_shapes
    >>> shapes = site_shapes(model, dict(x=jnp.ones((300, 5, 18))))
    >>> shapes["z"], shapes["obs"]
    ((300, 1, 18), (300, 5))

Reference: Bowyer, Heap, Aitchison 2023, appendix C.3; data: MovieLens 100K (Harper and
Konstan 2015; not redistributable, loaded from the shared data folder only).
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._spec import PAPER, ModelSpec

PLATES = {"users": -2, "films": -1}


def _standard_normal(num_features: int) -> dist.Distribution:
    return dist.Normal(0.0, 1.0).expand([num_features]).to_event(1)


def model(x: jax.Array, obs: Optional[jax.Array] = None):
    """MovieLens likes: Bernoulli logits from per-user genre weights with a shared prior."""
    num_users, num_films, num_features = jnp.shape(x)
    mu = numpyro.sample("mu", _standard_normal(num_features))
    psi = numpyro.sample("psi", _standard_normal(num_features))
    with numpyro.plate("users", num_users, dim=PLATES["users"]):
        z = numpyro.sample("z", dist.Normal(mu, jnp.exp(psi)).to_event(1))
        with numpyro.plate("films", num_films, dim=PLATES["films"]):
            logits = jnp.sum(z * x, axis=-1)
            numpyro.sample("obs", dist.Bernoulli(logits=logits), obs=obs)


def guide(x: jax.Array, obs: Optional[jax.Array] = None):
    """The paper's factorised proposal: standard normals (eq. 71)."""
    num_users, _, num_features = jnp.shape(x)
    numpyro.sample("mu", _standard_normal(num_features))
    numpyro.sample("psi", _standard_normal(num_features))
    with numpyro.plate("users", num_users, dim=PLATES["users"]):
        numpyro.sample("z", _standard_normal(num_features))


MODEL_INFO = ModelSpec(
    name="movielens",
    model=model,
    guide=guide,
    covariates=("x",),
    plates=PLATES,
    heldout_plate="films",
    split=(5, 5),
    paper_elbo=None,
    reference=f"{PAPER}, appendix C.3, eqs. 70-71",
)
