"""Nested samples: weighted samples that remember their prior volumes.

Dead point ``i`` (in order of death, likelihood rising) owns the prior-volume shell
``dX_i = X_{i-1} - X_i`` with ``X_0 = 1``; its weight is ``log w_i = log L_i + log dX_i``
and ``Z ≈ sum_i w_i``. It is an importance sample whose sampling density (w.r.t. the
prior) is ``1 / dX_i``. Reweighting to a new target multiplies ``w_i`` by a density
ratio and keeps ``dX_i``: the volumes belong to the original run, so live-point counts
must never be recomputed from the new weights (anesthetic does, and gets wrong evidences).

The volumes themselves are uncertain: ``X_i = t_i X_{i-1}`` with ``t_i ~ Beta(n_i, 1)``
(``n_i`` live points when point ``i`` died), i.e. ``log t_i = log(u_i) / n_i``,
``u_i ~ U(0, 1)``. ``simulate_log_evidence`` redraws the shrinkage sequence and replaces
``dX_i`` in every weight set passed to it with the *same* draws, so the old and the new
evidence (and their difference) get joint uncertainties:

    log w_i^(s) = log w_i - log dX_i + log dX_i^(s),   log Z^(s) = logsumexp_i log w_i^(s)

References: Skilling (2006), *Nested sampling for general Bayesian computation*,
Bayesian Anal. 1, 833; Higson, Handley, Hobson, Lasenby (2019), *Dynamic nested
sampling*, Stat. Comput. 29, 891; Buchner (2023), *Nested sampling methods*, Stat.
Surveys 17, 169.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence, Union

import jax
import jax.numpy as jnp

from ._log_space import log1mexp, logsumexp
from ._weighted_samples import WeightedSamples

Array = jax.Array

__all__ = ["NestedSamples", "NestedEvidence", "log_volume_widths", "simulate_log_evidence"]


def log_volume_widths(log_volume: Array) -> Array:
    """``log dX_i = log(X_{i-1} - X_i)`` from the log prior volumes ``log X_i`` (X_0 = 1)."""
    log_volume = jnp.asarray(log_volume)
    previous = jnp.concatenate([jnp.zeros((1,), log_volume.dtype), log_volume[:-1]])
    return previous + log1mexp(log_volume - previous)


@jax.tree_util.register_pytree_node_class
class NestedSamples(WeightedSamples):
    """``WeightedSamples`` plus the run's nominal ``log dX_i`` and live-point counts ``n_i``.

    Build it with ``jaxis.from_nested``; every weight transform keeps the two extra fields.
    """

    def __init__(
        self,
        samples: Mapping[str, Array],
        log_weights: Array,
        *,
        log_widths: Array,
        num_live: Array,
    ):
        super().__init__(samples, log_weights)
        log_widths = jnp.asarray(log_widths, self.log_weights.dtype)
        num_live = jnp.asarray(num_live, self.log_weights.dtype)
        for name, value in (("log_widths", log_widths), ("num_live", num_live)):
            if value.shape != self.log_weights.shape:
                raise ValueError(
                    f"{name} must have one entry per dead point, shape "
                    f"{self.log_weights.shape}, got {value.shape}."
                )
        self.log_widths = log_widths
        self.num_live = num_live

    def tree_flatten(self):
        return (self.samples, self.log_weights, self.log_widths, self.num_live), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.samples, obj.log_weights, obj.log_widths, obj.num_live = children
        return obj


class NestedEvidence(NamedTuple):
    """Nominal ``log Z`` per weight set, its spread over volume draws, and the draws."""

    log_evidence: Array  # (sets,)
    std: Array  # (sets,)
    draws: Array  # (num_draws, sets)


def _simulated_log_widths(rng_key: Array, num_live: Array, num_draws: int) -> Array:
    """``(num_draws, N)`` draws of ``log dX_i`` with ``t_i ~ Beta(n_i, 1)``."""
    dtype = num_live.dtype
    u = jax.random.uniform(
        rng_key, (num_draws, num_live.shape[0]), dtype, minval=jnp.finfo(dtype).tiny
    )
    log_t = jnp.log(u) / num_live
    log_x = jnp.cumsum(log_t, axis=1)
    previous = jnp.concatenate([jnp.zeros((num_draws, 1), dtype), log_x[:, :-1]], axis=1)
    return previous + log1mexp(log_t)


def simulate_log_evidence(
    rng_key: Array,
    nested: Union[NestedSamples, Sequence[NestedSamples]],
    *,
    num_draws: int = 256,
) -> NestedEvidence:
    """Joint ``log Z`` uncertainty of weight sets from one nested-sampling run.

    Args:
        rng_key: PRNG key.
        nested: a ``NestedSamples`` or a sequence of them (e.g. the original run and its
            reweighted versions) that share the run's volumes and live-point counts.
        num_draws: number of simulated shrinkage sequences.

    Returns:
        ``NestedEvidence`` with fields of shape ``(sets,)``, ``(sets,)`` and
        ``(num_draws, sets)``; ``draws[:, 1] - draws[:, 0]`` samples ``log(Z_new/Z_old)``.

    Example:
        >>> import jax.numpy as jnp
        >>> import jax
        >>> from jaxis import from_nested, reweight, simulate_log_evidence
        >>> # an ideal run: prior U(-10, 10), L = N(x; 0, 1) up to 1/sqrt(2 pi), 500 live points
        >>> logX = -jnp.arange(1, 6001) / 500.0          # prior volume inside each contour
        >>> x = 10.0 * jnp.exp(logX)                      # the volume inside |x| is |x| / 10
        >>> logl = -0.5 * x**2
        >>> ws = from_nested({"x": x}, logl, log_volume=logX, num_live=500)
        >>> ws2 = reweight(ws, -0.5 * (x / 0.5) ** 2 - logl)   # a narrower likelihood
        >>> ev = simulate_log_evidence(jax.random.PRNGKey(0), (ws, ws2))
        >>> ev.log_evidence.shape, ev.draws.shape
        ((2,), (256, 2))
        >>> bool(jnp.std(ev.draws[:, 1] - ev.draws[:, 0]) < ev.std[1])  # shared volumes
        True
    """
    if isinstance(nested, WeightedSamples):
        nested = (nested,)
    sets = tuple(nested)
    if not sets or not all(isinstance(s, NestedSamples) for s in sets):
        raise ValueError(
            "nested must be a NestedSamples or a non-empty sequence of them; build one "
            "with jaxis.from_nested (weights alone do not carry the run's volumes)."
        )
    first = sets[0]
    for s in sets[1:]:
        if s.num_samples != first.num_samples:
            raise ValueError(
                "all weight sets must come from the same nested-sampling run; got "
                f"{first.num_samples} and {s.num_samples} dead points."
            )
    log_dx = _simulated_log_widths(rng_key, first.num_live, num_draws)
    nominal_width = first.log_widths > -jnp.inf
    shift = jnp.where(nominal_width, log_dx - jnp.where(nominal_width, first.log_widths, 0.0), -jnp.inf)
    draws = jnp.stack(
        [logsumexp(s.log_weights + shift, axis=1) for s in sets], axis=1
    )
    nominal = jnp.stack([s.log_evidence() for s in sets])
    finite = jnp.all(jnp.isfinite(draws), axis=0)
    std = jnp.where(finite, jnp.std(jnp.where(finite, draws, 0.0), axis=0), jnp.inf)
    std = jnp.where(jnp.any(jnp.isnan(draws), axis=0), jnp.nan, std)
    return NestedEvidence(nominal, std, draws)
