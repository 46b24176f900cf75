"""A config's data as the model's keyword arguments: training set, and training + held-out.

Paper models (and the Gaussian hierarchy) come as :class:`~jaxis.datasets.ModelData`,
whose ``all()`` extends the held-out plate; the blog models' synthetic generators return
their own records, mapped here onto the model's arguments. Blog models have no held-out
split, so their predictive log-likelihood is skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp

from ..config import Config
from ..datasets import ModelData, load_dataset, synthetic_dataset
from ..models import get_model
from ..models.prior_swap import PriorSwapData
from ..models.reverberation import ReverberationData
from ..models.two_gaussians import NestedRun
from ..trace._structure import model_structure

Arrays = Mapping[str, jax.Array]


@dataclass(frozen=True)
class ExperimentData:
    """The model's keyword arguments for one experiment.

    Attributes:
        train: ``model(**train)`` runs on the training data.
        all: training + held-out data (``None``: no held-out split).
        description: where the data come from.
        scalar_globals: latent sites outside every plate with scalar values (their
            posterior means are reported), in the proposal's order.
        exact_log_evidence: closed-form ``log p(train)``, where the model has one.
    """

    train: Arrays
    all: Optional[Arrays]
    description: str
    scalar_globals: tuple[str, ...]
    exact_log_evidence: Optional[float] = None


def _arrays(values: Mapping[str, Any]) -> dict[str, jax.Array]:
    return {k: jnp.asarray(v) for k, v in values.items()}


def _from_model_data(data: ModelData) -> tuple[Arrays, Optional[Arrays], str]:
    heldout = get_model(data.name).heldout_plate is not None and data.num_test > 0
    return _arrays(data.train), _arrays(data.all()) if heldout else None, data.description


_BLOG_ARGUMENTS: Mapping[type, Callable[[Any], tuple[dict, str]]] = {
    PriorSwapData: lambda d: ({"obs": d.obs}, "synthetic prior_swap: the blog's one datum"),
    ReverberationData: lambda d: (
        {"log_luminosity": d.log_luminosity, "lag_error": d.lag_error, "obs": d.lag_obs},
        f"synthetic reverberation: {d.lag_obs.shape[0]} mock sources",
    ),
    NestedRun: lambda d: ({}, "two_gaussians: no data (the likelihood is a factor)"),
}


def load_experiment_data(cfg: Config, rng_key: jax.Array) -> ExperimentData:
    """Load (or, for ``dataset.synthetic``, draw with ``rng_key``) the config's data.

    Raises:
        ValueError: the model rejects the data.
    """
    spec = get_model(cfg.model)
    options = cfg.dataset
    if options.synthetic:
        raw = synthetic_dataset(rng_key, options.name, **options.sizes)
    else:  # a validated config has found the file (FileNotFoundError otherwise)
        raw = load_dataset(
            options.name, path=options.path, corrected=options.corrected, run=options.run
        )
    if isinstance(raw, ModelData):
        train, all_, description = _from_model_data(raw)
    else:
        values, description = _BLOG_ARGUMENTS[type(raw)](raw)
        train, all_ = _arrays(values), None
    structure = model_structure(spec.model, spec.guide, (), dict(train))  # checks the data
    scalar = {
        s.name
        for s in structure.sites
        if s.kind == "latent" and not s.plates and not s.batch_shape and not s.event_shape
    }
    exact = spec.exact_log_evidence
    return ExperimentData(
        train=train,
        all=all_,
        description=description,
        scalar_globals=tuple(n for n in structure.latents if n in scalar),
        exact_log_evidence=None if exact is None else float(exact(**train)),
    )
