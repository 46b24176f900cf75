"""Weighted samples: a pytree of samples with log importance weights.

Each sample ``n`` owns a volume: ``Z ≈ sum_n exp(log_weights[n])``, so that
``log_evidence() = logsumexp(log_weights)``. For importance sampling from a proposal ``q``
with ``N`` draws, ``log_weights[n] = log p(x, z_n) - log q(z_n) - log N``; for nested
sampling, ``log_weights[n] = log L_n + log dX_n``. Expectations under the target are
self-normalised sums ``E_p[f] ≈ sum_n wbar_n f(z_n)`` with ``wbar = w / sum w``.

Evidence bounds from the same weights (``bounds()``). With ``R_n = N w_n`` (draws from
one proposal ``q``):

    ELBO = E_q[log R] ≈ mean_n log R_n                               <= log Z
    EUBO = E_p[log R] ≈ sum_n wbar_n log R_n,  wbar = w / sum w       >= log Z

``log Z - ELBO = KL(q || p)``, ``EUBO - log Z = KL(p || q)``; on any sample
``ELBO <= log Zhat <= EUBO`` (Jensen; ``KL(wbar || uniform) >= 0``). The blog's appendix
(``shared/papers``) writes the EUBO as ``E_S[-R ln R] / E_S[R]``: the minus sign is a
typo (it would put the "upper" bound below ``log Z``); this uses ``E_S[R ln R] / E_S[R]``.
The bounds assume i.i.d. draws from one proposal (``global_is``, ``from_posterior``,
``prior_swap`` of those); nested-sample volumes are not ``1/(N q)``.

References: Owen, *Monte Carlo theory, methods and examples* (2013), ch. 9; Ji & Shen
(2019), *Stochastic variational inference via upper bound*, arXiv:1912.00650.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from ._log_space import log_normalize, logsumexp
from ._psis import ParetoK, pareto_k_threshold, psis_log_weights

Array = jax.Array
MomentSpec = Union[Callable[[Array], Array], tuple]


class EvidenceBounds(NamedTuple):
    """``elbo <= log Z <= eubo`` (in expectation / as ``N`` grows)."""

    elbo: Array
    eubo: Array


def evidence_bounds(log_weights: Array) -> EvidenceBounds:
    """ELBO and EUBO on ``log Z`` from log weights ``log R_n - log N``.

    Returns ``-inf`` for both when every weight is zero (never NaN).

    Example:
        >>> b = evidence_bounds(jnp.log(jnp.array([0.2, 0.3, 0.5])))
        >>> b.elbo <= 0.0 <= b.eubo  # log Z = log(1) = 0
    """
    log_weights = jnp.asarray(log_weights)
    num = log_weights.shape[0]
    log_ratio = log_weights + jnp.log(jnp.asarray(num, log_weights.dtype))
    elbo = jnp.mean(log_ratio)
    wbar = jnp.exp(log_normalize(log_weights))
    has_mass = wbar > 0
    eubo = jnp.sum(jnp.where(has_mass, wbar * jnp.where(has_mass, log_ratio, 0.0), 0.0))
    any_mass = logsumexp(log_weights) > -jnp.inf
    return EvidenceBounds(elbo, jnp.where(any_mass, eubo, -jnp.inf))


def leading_sizes(samples: Mapping[str, Any]) -> dict[str, int]:
    """Leading (sample-axis) size of every sample leaf, keyed by its site path."""
    rows = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(samples):
        shape = jnp.shape(leaf)
        name = jax.tree_util.keystr(path)
        if len(shape) == 0:
            raise ValueError(
                f"samples{name} is a scalar; every site needs a leading sample axis "
                "(shape (N, ...))."
            )
        rows[name] = shape[0]
    return rows


@jax.tree_util.register_pytree_node_class
class WeightedSamples:
    """Samples ``dict site -> (N, ...)`` with log weights ``(N,)``.

    Example:
        >>> ws = WeightedSamples({"x": jnp.arange(3.0)}, jnp.zeros(3))
        >>> ws.ess()  # 3.0
        >>> ws.log_evidence()  # log 3
    """

    def __init__(self, samples: Mapping[str, Array], log_weights: Array):
        if not isinstance(samples, Mapping):
            raise ValueError(
                f"samples must be a dict site -> array (N, ...), got {type(samples).__name__}."
            )
        log_weights = jnp.asarray(log_weights)
        if log_weights.ndim != 1:
            raise ValueError(
                f"log_weights must be 1-D (one per sample), got shape {log_weights.shape}."
            )
        if not jnp.issubdtype(log_weights.dtype, jnp.floating):
            log_weights = log_weights.astype(jnp.result_type(float))
        for name, rows in leading_sizes(samples).items():
            if rows != log_weights.shape[0]:
                raise ValueError(
                    f"samples{name} has {rows} rows but log_weights has "
                    f"{log_weights.shape[0]}; the sample axis must come first."
                )
        self.samples = dict(samples)
        self.log_weights = log_weights

    def tree_flatten(self):
        return (self.samples, self.log_weights), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.samples, obj.log_weights = children
        return obj

    @classmethod
    def from_posterior(cls, samples: Mapping[str, Array]) -> "WeightedSamples":
        """Equal weights ``1/N`` (summing to one) for draws from a normalised posterior.

        Example:
            >>> ws = WeightedSamples.from_posterior(mcmc.get_samples())
        """
        rows = set(leading_sizes(samples).values())
        if len(rows) != 1:
            raise ValueError(
                "samples must be a non-empty dict whose arrays share the leading sample "
                f"axis; got leading sizes {sorted(rows)}."
            )
        (num,) = rows
        dtype = jnp.result_type(float)
        return cls(samples, jnp.full((num,), -jnp.log(jnp.asarray(num, dtype))))

    def replace(
        self,
        *,
        samples: Optional[Mapping[str, Array]] = None,
        log_weights: Optional[Array] = None,
    ) -> "WeightedSamples":
        """A copy with new samples and/or log weights (subclass fields are kept)."""
        new = copy.copy(self)
        if samples is not None:
            for name, rows in leading_sizes(samples).items():
                if rows != self.num_samples:
                    raise ValueError(
                        f"samples{name} has {rows} rows; the weights have {self.num_samples}."
                    )
            new.samples = dict(samples)
        if log_weights is not None:
            if jnp.shape(log_weights) != self.log_weights.shape:
                raise ValueError(
                    f"log_weights: shape {jnp.shape(log_weights)} does not match the "
                    f"{self.log_weights.shape} of the samples it replaces."
                )
            new.log_weights = jnp.asarray(log_weights)
        return new

    @property
    def num_samples(self) -> int:
        return self.log_weights.shape[0]

    def log_evidence(self) -> Array:
        """``log Z ≈ logsumexp_n log_weights[n]`` (``-inf`` when no sample has mass)."""
        return logsumexp(self.log_weights)

    def log_normalized_weights(self) -> Array:
        """``log wbar_n = log_weights[n] - log Z`` (all ``-inf`` when ``Z = 0``)."""
        return log_normalize(self.log_weights)

    def normalized_weights(self) -> Array:
        """Self-normalised weights ``w_n / sum_m w_m`` (NaN-free; all -inf gives zeros)."""
        return jnp.exp(self.log_normalized_weights())

    def ess(self) -> Array:
        """Kish effective sample size ``(sum w)^2 / sum w^2`` (0 when every weight is 0)."""
        w = self.normalized_weights()
        s2 = jnp.sum(w**2)
        return jnp.where(s2 > 0, 1.0 / jnp.where(s2 > 0, s2, 1.0), 0.0)

    def moments(self, fns: Mapping[str, MomentSpec]) -> dict[str, Array]:
        """Self-normalised expectations ``sum_n wbar_n m(z_n)``.

        ``fns`` maps an output name to either a callable of the site with that name, or
        ``(site, fn)`` / ``((site1, site2, ...), fn)``.
        """
        w = self.normalized_weights()
        out = {}
        for name, spec in fns.items():
            sites, fn = parse_moment_spec(name, spec)
            for s in sites:
                if s not in self.samples:
                    raise ValueError(
                        f"moment {name!r} asks for site {s!r}, but the samples only have "
                        f"{sorted(self.samples)}; pass (site, fn) with an existing site."
                    )
            vals = jax.vmap(fn)(*(self.samples[s] for s in sites))
            # samples without mass take no part (their moment may be inf/NaN)
            has_mass = (w > 0).reshape((-1,) + (1,) * (jnp.ndim(vals) - 1))
            out[name] = jnp.tensordot(w, jnp.where(has_mass, vals, 0.0), axes=(0, 0))
        return out

    def resample(self, rng_key: Array, num_samples: int) -> "WeightedSamples":
        """Multinomial resampling to ``num_samples`` equally weighted draws.

        The new weights are ``Z / num_samples`` each, so ``log_evidence()`` is kept.
        Resampling discards the low-weight shell: keep the weighted set when you can.
        Draws by inversion of the weights' cumulative sum (memory ``O(N + num_samples)``).
        """
        cdf = jnp.cumsum(self.normalized_weights())
        u = jax.random.uniform(rng_key, (num_samples,), cdf.dtype) * cdf[-1]
        idx = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), self.num_samples - 1)
        samples = jax.tree_util.tree_map(lambda v: v[idx], self.samples)
        log_z = self.log_evidence()
        log_w = log_z - jnp.log(jnp.asarray(num_samples, self.log_weights.dtype))
        return WeightedSamples(samples, jnp.full((num_samples,), log_w))

    def bounds(self) -> EvidenceBounds:
        """``(ELBO, EUBO)`` on ``log Z`` from the same weights (see ``evidence_bounds``)."""
        return evidence_bounds(self.log_weights)

    def pareto_k(self, *, r_eff: float = 1.0) -> ParetoK:
        """PSIS tail index ``k`` with the threshold ``min(1 - 1/log10 S, 0.7)``."""
        khat = psis_log_weights(self.log_weights, r_eff=r_eff).khat
        threshold = pareto_k_threshold(self.num_samples)
        return ParetoK(khat, threshold, khat < threshold)

    def __repr__(self) -> str:
        shapes = {k: tuple(jnp.shape(v)) for k, v in self.samples.items()}
        return f"{type(self).__name__}(num_samples={self.num_samples}, samples={shapes})"


def parse_moment_spec(name: str, spec: Any) -> tuple[tuple[str, ...], Callable]:
    """Normalise a moment spec (shared by ``WeightedSamples`` and ``jaxis.moments``).

    ``fn`` (of the site called ``name``), ``(site, fn)`` or ``((site1, ...), fn)`` ->
    ``(sites, fn)``.
    """
    if callable(spec):
        return (name,), spec
    if isinstance(spec, tuple) and len(spec) == 2 and callable(spec[1]):
        sites = spec[0]
        sites = (sites,) if isinstance(sites, str) else tuple(sites)
        return sites, spec[1]
    raise ValueError(
        f"moment {name!r}: expected a callable or a (site, fn) / ((sites...), fn) tuple, "
        f"got {spec!r}."
    )
