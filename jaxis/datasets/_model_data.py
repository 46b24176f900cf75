"""`ModelData`: a dataset as the keyword arguments of its model, split into train and test.

Every loader and synthetic generator of the MP IS experiments returns one. The training
arrays call the model directly (``model(**data.train)``); ``data.all()`` concatenates train
and test along the held-out plate, which is what the predictive log-likelihood needs:
``log p(test | train) ~ logmeanexp_n [log p(all | z_n) - log p(train | z_n)]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..models import get_model


@dataclass(frozen=True)
class ModelData:
    """Train and test data of one model, each a dict of the model's keyword arguments.

    Attributes:
        name: the model's name in :data:`jaxis.models.REGISTRY`.
        train: covariates and ``obs`` of the training set (``model(**train)`` runs).
        test: the same keys for the held-out part of the held-out plate.
        split_axis: the (non-negative) axis of every array along which train and test
            are split, i.e. the model's held-out plate (chimpanzee repeats, bus ids, ...).
        plates: plate name -> size in the training data, outermost first.
        description: where the data come from, the variant, and known caveats.
        latents: site -> true value, for data drawn from the model (drawn on the plates
            of ``all()``, in the shapes of the model's sites); ``None`` for real data.
    """

    name: str
    train: Mapping[str, jax.Array]
    test: Mapping[str, jax.Array]
    split_axis: int
    plates: Mapping[str, int]
    description: str
    latents: Optional[Mapping[str, jax.Array]] = None

    def all(self) -> dict[str, jax.Array]:
        """Train and test concatenated along :attr:`split_axis` (train first)."""
        return {
            k: jnp.concatenate([self.train[k], self.test[k]], axis=self.split_axis)
            for k in self.train
        }

    @property
    def num_test(self) -> int:
        """Size of the held-out plate in the test set."""
        return int(self.test["obs"].shape[self.split_axis])


def _as_float(x) -> jax.Array:
    """``x`` as a JAX array of the default float dtype (float32, or float64 under x64)."""
    return jnp.asarray(np.asarray(x), dtype=jnp.result_type(float))


def heldout_axis(name: str, obs) -> int:
    """Non-negative axis of model ``name``'s held-out plate in ``obs`` (and its covariates)."""
    spec = get_model(name)
    return np.ndim(obs) + spec.plates[spec.heldout_plate]


def make_model_data(
    name: str,
    train: Mapping[str, object],
    test: Mapping[str, object],
    *,
    description: str,
    latents: Optional[Mapping[str, object]] = None,
) -> ModelData:
    """Build :class:`ModelData` for model ``name``: float arrays, split axis and plate sizes.

    Every paper model observes ``obs`` inside all of its plates, so plate ``p`` (at
    ``dim``) has size ``obs.shape[obs.ndim + dim]``; the held-out plate sits at the same
    axis of every covariate (their event dims, if any, are trailing).
    """
    spec = get_model(name)
    obs = np.asarray(train["obs"])
    return ModelData(
        name=name,
        train={k: _as_float(v) for k, v in train.items()},
        test={k: _as_float(v) for k, v in test.items()},
        split_axis=heldout_axis(name, obs),
        plates={p: obs.shape[obs.ndim + d] for p, d in spec.plates.items()},
        description=description,
        latents=None if latents is None else {k: jnp.asarray(v) for k, v in latents.items()},
    )


def split_model_data(
    name: str,
    all_data: Mapping[str, object],
    num_train: int,
    *,
    description: str,
    latents: Optional[Mapping[str, object]] = None,
) -> ModelData:
    """:func:`make_model_data` from train+test arrays: the first ``num_train`` along the
    held-out plate are the training set."""
    axis = heldout_axis(name, all_data["obs"])
    arrays = {k: np.asarray(v) for k, v in all_data.items()}
    train = {k: np.take(v, np.arange(num_train), axis=axis) for k, v in arrays.items()}
    test = {k: np.take(v, np.arange(num_train, v.shape[axis]), axis) for k, v in arrays.items()}
    return make_model_data(name, train, test, description=description, latents=latents)
