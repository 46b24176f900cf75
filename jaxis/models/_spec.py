"""`ModelSpec`: what the runner and the CLI need to know about a model besides its code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Optional

import jax
from numpyro import handlers


class PaperResult(NamedTuple):
    """A published MP IS ELBO: mean over runs ± standard error, at ``K`` samples per latent."""

    K: int
    elbo: float
    standard_error: float
    source: str


@dataclass(frozen=True)
class ModelSpec:
    """Static description of a model (+ proposal) of the experiments.

    Attributes:
        name: registry key, also the dataset's name in :mod:`jaxis.datasets`.
        model: the numpyro model, ``model(*covariates, obs=None)``.
        guide: the proposal with the same signature, or ``None`` (prior as proposal).
        covariates: names of the model's arguments other than ``obs``, in order.
        plates: plate name -> its ``dim``, in nesting order (outermost first).
        heldout_plate: the plate the test set extends (``None``: no held-out data).
        split: the paper's (train, test) sizes along ``heldout_plate``.
        paper_elbo: the published MP IS ELBO on the paper's data, if any.
        reference: where the model is written down.
        exact_log_evidence: ``f(**train) -> log p(obs)`` in closed form, where one exists.
    """

    name: str
    model: Callable
    guide: Optional[Callable]
    covariates: tuple[str, ...]
    plates: Mapping[str, int]
    heldout_plate: Optional[str]
    split: Optional[tuple[int, int]]
    paper_elbo: Optional[PaperResult]
    reference: str
    exact_log_evidence: Optional[Callable[..., jax.Array]] = None

    @property
    def summary(self) -> str:
        """First line of the model's docstring (for ``jaxis list``)."""
        return (self.model.__doc__ or self.name).strip().splitlines()[0]


PAPER = "Bowyer, Heap, Aitchison 2023, arXiv 2310.17374"
BLOG = "McDougall, 'The Importance of Importance Sampling' (../shared/papers)"


def site_shapes(model: Callable, kwargs: Mapping[str, object]) -> dict[str, tuple[int, ...]]:
    """Shapes of every sample site of ``model(**kwargs)``, read under ``jax.eval_shape``
    (nothing is computed or compiled)."""

    def values():
        trace = handlers.trace(handlers.seed(model, 0)).get_trace(**kwargs)
        return {name: site["value"] for name, site in trace.items() if site["type"] == "sample"}

    return {name: tuple(v.shape) for name, v in jax.eval_shape(values).items()}
