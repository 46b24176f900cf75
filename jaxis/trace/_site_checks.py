"""Checks of single sites, run by the structure pass before anything is allocated.

Each raises a ``ValueError`` that names the site and the fix: non-finite observed data,
a latent in a subsampled plate, a guide proposing on another support than the model's
(numpyro's ``log_prob`` does not check supports, so the weights would be silently wrong),
and guide plates that differ from the model's.
"""
from __future__ import annotations

from typing import Optional

import jax
import numpy as np

from ._support import support_mismatch


def check_observed(msg: dict) -> None:
    """Observed values must be finite (NaN data would read as impossible data)."""
    value = msg["value"]
    if isinstance(value, jax.core.Tracer):
        return  # under an outer jit the data are abstract; nothing to check here
    arr = np.asarray(value)
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"Observed site {msg['name']!r} has {bad} non-finite value(s). Remove them, or "
            "mask them with numpyro.handlers.mask / dist.mask(...) and fill with a finite value."
        )


def check_latent(msg: dict, gtrace: Optional[dict], subsampled: dict) -> None:
    """A latent may not lie in a subsampled plate, and its proposal must share its support."""
    name = msg["name"]
    for f in msg["cond_indep_stack"]:
        if f.name in subsampled:
            size, sub = subsampled[f.name]
            raise ValueError(
                f"Latent site {name!r} lies in plate {f.name!r}, which subsamples {sub} of "
                f"{size} elements. MP IS estimates the full-data evidence and needs every "
                "plate element of a latent; remove subsample_size from that plate (data-only "
                "plates may subsample: their log-likelihood is scaled as in numpyro)."
            )
    if gtrace is not None and name in gtrace:
        why = support_mismatch(msg["fn"].support, gtrace[name]["fn"].support)
        if why:
            raise ValueError(
                f"Guide site {name!r} does not propose on the model's support: {why}. "
                "numpyro's log_prob does not check supports, so the weights would be wrong; "
                "use a guide distribution with the same support (e.g. LogNormal or a "
                "transformed Normal for a positive latent, a discrete one for a discrete "
                "latent)."
            )


def check_guide_plates(gtrace: dict, plates: dict) -> None:
    """Every guide plate is the model's plate of that name: same dim, same size."""
    for name, msg in gtrace.items():
        for f in msg.get("cond_indep_stack", ()):
            p = plates.get(f.name)
            if p is None or (p.dim, p.size) != (f.dim, f.size):
                model = f"dim {p.dim}, size {p.size}" if p else "absent from the model"
                raise ValueError(
                    f"Guide site {name!r} is in plate {f.name!r} (dim {f.dim}, size {f.size}) "
                    f"but the model's plate {f.name!r} is {model}. Use the model's plates in "
                    "the guide, with the same dims and sizes."
                )
