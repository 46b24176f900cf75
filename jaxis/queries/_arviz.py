"""Convert MP posterior draws to an arviz ``InferenceData`` (arviz imported lazily)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .._mpis import MPTrace
from ._moments import log_evidence


def _dims(mpt: MPTrace, site: str, ndim: int) -> list[str]:
    graph = mpt.graph
    specs = {l.name: l for l in graph.latents + graph.deterministics}
    spec = specs.get(site)
    if spec is None:
        return [f"{site}_dim_{i}" for i in range(ndim)]
    by_dim = {graph.plate(p).dim: p for p in spec.plates}
    batch = len(spec.batch_shape) if spec in graph.latents else ndim
    names = []
    for i in range(ndim):
        dim = i - batch
        if i < batch and dim in by_dim and spec.batch_shape[i] == graph.plate(by_dim[dim]).size:
            names.append(by_dim[dim])
        else:
            names.append(f"{site}_dim_{i}")
    return names


def to_arviz(mpt: MPTrace, draws: dict, *, log_likelihood: Optional[dict] = None):
    """``arviz.InferenceData`` with one chain of the draws, dims named from the plates.

    ``sample_stats`` holds the MP log evidence (the same for every draw).
    """
    if not draws:
        raise ValueError(
            "draws is empty: the model has no latent sites, so there is no posterior to "
            "convert (pass sample_posterior(key, mpt, n) of a model with latents)."
        )
    import arviz as az

    posterior = {k: np.asarray(v)[None] for k, v in draws.items()}
    dims = {k: _dims(mpt, k, v.ndim - 2) for k, v in posterior.items()}
    n = next(iter(posterior.values())).shape[1]
    stats = {"mp_log_evidence": np.full((1, n), float(log_evidence(mpt)))}
    kwargs = {}
    if log_likelihood is not None:
        kwargs["log_likelihood"] = {k: np.asarray(v)[None] for k, v in log_likelihood.items()}
    return az.from_dict(posterior=posterior, sample_stats=stats, dims=dims, **kwargs)
