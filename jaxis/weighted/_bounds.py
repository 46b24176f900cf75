"""ELBO and EUBO on ``log Z`` from one set of importance weights.

With log weights ``log w_n = log R_n - log N``, ``R_n = p(x, z_n) / q(z_n)`` (draws from
one proposal ``q``):

    ELBO = E_q[log R] ≈ mean_n log R_n                               <= log Z
    EUBO = E_p[log R] ≈ sum_n wbar_n log R_n,  wbar = w / sum w       >= log Z

``log Z - ELBO = KL(q || p)``, ``EUBO - log Z = KL(p || q)``; on any sample
``ELBO <= log Zhat <= EUBO`` (Jensen; ``KL(wbar || uniform) >= 0``). The blog's appendix
(``shared/papers``) writes the EUBO as ``E_S[-R ln R] / E_S[R]``: the minus sign is a
typo (it would put the "upper" bound below ``log Z``); this uses ``E_S[R ln R] / E_S[R]``.
The bounds assume i.i.d. draws from one proposal (``global_is``, ``from_posterior``,
``prior_swap`` of those); nested-sample volumes are not ``1/(N q)``.

Edge cases: a zero weight makes the ELBO ``-inf`` (``log 0`` is in the mean); the EUBO
needs the self-normalised weights, so it is NaN where they are undefined (every weight
zero, an infinite weight, a NaN); no samples give NaN for both.

References: Owen, *Monte Carlo theory, methods and examples* (2013), ch. 9; Ji & Shen
(2019), *Stochastic variational inference via upper bound*, arXiv:1912.00650.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._log_space import log_normalize

Array = jax.Array

__all__ = ["EvidenceBounds", "evidence_bounds"]


class EvidenceBounds(NamedTuple):
    """``elbo <= log Z <= eubo`` (in expectation / as ``N`` grows)."""

    elbo: Array
    eubo: Array


def evidence_bounds(log_weights: Array) -> EvidenceBounds:
    """ELBO and EUBO on ``log Z`` from log weights ``log R_n - log N``.

    Example:
        >>> b = evidence_bounds(jnp.log(jnp.array([0.2, 0.3, 0.5])))
        >>> bool(b.elbo <= 0.0 <= b.eubo)  # log Z-hat = log(0.2 + 0.3 + 0.5) = 0
        True
    """
    log_weights = jnp.asarray(log_weights)
    num = log_weights.shape[0]
    if num == 0:
        nan = jnp.full((), jnp.nan, log_weights.dtype)
        return EvidenceBounds(nan, nan)
    log_ratio = log_weights + jnp.log(jnp.asarray(num, log_weights.dtype))
    elbo = jnp.mean(log_ratio)
    wbar = jnp.exp(log_normalize(log_weights))
    has_mass = wbar > 0  # False for NaN weights: the sum is NaN through wbar itself
    eubo = jnp.sum(
        jnp.where(has_mass | jnp.isnan(wbar), wbar * jnp.where(has_mass, log_ratio, 0.0), 0.0)
    )
    return EvidenceBounds(elbo, eubo)
