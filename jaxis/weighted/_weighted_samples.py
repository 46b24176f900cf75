"""Weighted samples: a pytree of samples with log importance weights.

**The weight convention.** Each sample ``n`` owns a share of the evidence:
``Z ≈ sum_n exp(log_weights[n])``, so ``log_evidence() = logsumexp(log_weights)``. The
weights therefore *include the* ``1/N``: for ``N`` draws from a proposal ``q``,

    log_weights[n] = log p(x, z_n) - log q(z_n) - log N

and ``WeightedSamples(samples, log_p - log_q)`` (raw ratios, no ``- log N``) has
``log_evidence() = log Z + log N``. ``WeightedSamples.from_log_ratios(samples, log_p -
log_q)`` subtracts ``log N`` for you. For nested sampling ``log_weights[n] = log L_n +
log dX_n`` (``jaxis.from_nested``). Expectations under the target are self-normalised,
``E_p[f] ≈ sum_n wbar_n f(z_n)`` with ``wbar = w / sum w``, and ``bounds()`` gives the
ELBO/EUBO bracket (``_bounds``).

**Edge cases.** A NaN weight makes every estimate NaN. Self-normalised quantities
(``normalized_weights``, ``moments``, ``ess``, ``resample``, ``pareto_k``) are NaN when
``sum w`` is 0 (no sample has mass), infinite (a ``+inf`` log weight) or NaN: ``0/0`` and
``inf/inf`` have no value. ``log_evidence()`` is ``-inf`` for ``Z = 0``, ``+inf`` for an
infinite weight, NaN with no samples. ``ess()`` is in ``[1, N]`` or NaN.

References: Owen, *Monte Carlo theory, methods and examples* (2013), ch. 9; Kish (1965),
*Survey sampling* (the effective sample size).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Optional, Union

import jax
import jax.numpy as jnp

from ._bounds import EvidenceBounds, evidence_bounds
from ._checks import check_count, concrete
from ._log_space import log_normalize, logsumexp
from ._psis import ParetoK, pareto_k_threshold, psis_log_weights

Array = jax.Array
MomentSpec = Union[Callable[[Array], Array], tuple]


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


def _per_sample_floats(values: Array, name: str) -> Array:
    """``values`` as a 1-D floating array (one per sample); ``ValueError`` naming ``name``."""
    values = jnp.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one per sample), got shape {values.shape}.")
    if not jnp.issubdtype(values.dtype, jnp.floating):
        values = values.astype(jnp.result_type(float))
    return values


@jax.tree_util.register_pytree_node_class
class WeightedSamples:
    """Samples ``dict site -> (N, ...)`` with log weights ``(N,)`` that include ``-log N``.

    ``Z ≈ sum_n exp(log_weights[n])``: for draws from a proposal ``q`` pass
    ``log p - log q - log N``, or use :meth:`from_log_ratios` with ``log p - log q``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jax.scipy.stats import norm
        >>> from jaxis import WeightedSamples
        >>> x = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (1000,))  # x_n ~ q = N(0, 2^2)
        >>> log_p, log_q = norm.logpdf(x, 1.0, 1.0), norm.logpdf(x, 0.0, 2.0)  # Z = 1
        >>> ws = WeightedSamples.from_log_ratios({"x": x}, log_p - log_q)
        >>> ws.samples["x"].shape, ws.log_weights.shape
        ((1000,), (1000,))
        >>> z_hat = jnp.mean(jnp.exp(log_p - log_q))              # (1/N) sum_n p(x_n) / q(x_n)
        >>> bool(jnp.isclose(ws.log_evidence(), jnp.log(z_hat)))
        True
        >>> bool(jnp.isclose(ws.normalized_weights().sum(), 1.0))
        True
        >>> ws3 = WeightedSamples({"x": jnp.arange(3.0)}, jnp.zeros(3))  # three weights of 1
        >>> bool(jnp.isclose(ws3.log_evidence(), jnp.log(3.0)))
        True
    """

    def __init__(self, samples: Mapping[str, Array], log_weights: Array):
        if not isinstance(samples, Mapping):
            raise ValueError(
                f"samples must be a dict site -> array (N, ...), got {type(samples).__name__}."
            )
        log_weights = _per_sample_floats(log_weights, "log_weights")
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
            >>> import jax, jax.numpy as jnp
            >>> from jaxis import WeightedSamples
            >>> draws = {"x": jax.random.normal(jax.random.PRNGKey(0), (500,))}  # or MCMC's
            >>> ws = WeightedSamples.from_posterior(draws)
            >>> bool(jnp.isclose(ws.log_evidence(), 0.0)), bool(jnp.isclose(ws.ess(), 500.0))
            (True, True)
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

    @classmethod
    def from_log_ratios(
        cls, samples: Mapping[str, Array], log_ratios: Array
    ) -> "WeightedSamples":
        """Weights from raw log density ratios: ``log_weights = log_ratios - log N``.

        ``log_ratios[n] = log p(x, z_n) - log q(z_n)`` for draws ``z_n ~ q``; then
        ``log_evidence()`` is the log of the importance-sampling estimate
        ``(1/N) sum_n p(x, z_n) / q(z_n)`` of ``Z``.

        Example:
            >>> import jax, jax.numpy as jnp
            >>> from jax.scipy.stats import norm
            >>> from jaxis import WeightedSamples
            >>> z = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (1000,))  # z_n ~ N(0, 2^2)
            >>> log_joint = norm.logpdf(z, 1.0, 1.0) + jnp.log(3.0)          # Z = 3
            >>> ws = WeightedSamples.from_log_ratios({"z": z}, log_joint - norm.logpdf(z, 0.0, 2.0))
            >>> bool(jnp.allclose(ws.log_weights, log_joint - norm.logpdf(z, 0, 2) - jnp.log(1000)))
            True
        """
        log_ratios = _per_sample_floats(log_ratios, "log_ratios")
        num = log_ratios.shape[0]
        return cls(samples, log_ratios - jnp.log(jnp.asarray(max(num, 1), log_ratios.dtype)))

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
        """``log Z ≈ logsumexp_n log_weights[n]``: ``-inf`` when no sample has mass, NaN
        with a NaN weight or with no samples at all."""
        if self.num_samples == 0:
            return jnp.full((), jnp.nan, self.log_weights.dtype)
        return logsumexp(self.log_weights)

    def log_normalized_weights(self) -> Array:
        """``log wbar_n = log_weights[n] - log Z`` (all NaN when ``Z`` is 0, inf or NaN)."""
        return log_normalize(self.log_weights)

    def normalized_weights(self) -> Array:
        """Self-normalised weights ``w_n / sum_m w_m`` (all NaN when ``Z`` is 0, inf or NaN)."""
        return jnp.exp(self.log_normalized_weights())

    def ess(self) -> Array:
        """Kish effective sample size ``(sum w)^2 / sum w^2``, in ``[1, N]`` or NaN.

        NaN where the normalised weights are undefined (see the module docstring) and
        with no samples; rounding is clipped into ``[1, N]``.
        """
        s2 = jnp.sum(self.normalized_weights() ** 2)
        positive = s2 > 0  # False for NaN: the NaN is kept below
        ess = jnp.where(positive, 1.0 / jnp.where(positive, s2, 1.0), jnp.nan)
        return jnp.clip(ess, 1.0, float(self.num_samples)) if self.num_samples else ess

    def moments(self, fns: Mapping[str, MomentSpec]) -> dict[str, Array]:
        """Self-normalised expectations ``sum_n wbar_n m(z_n)`` (NaN where ``wbar`` is).

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
            mean = jnp.tensordot(w, jnp.where(has_mass, vals, 0.0), axes=(0, 0),
                                 precision=jax.lax.Precision.HIGHEST)  # no TF32 on GPU
            out[name] = mean if self.num_samples else jnp.full_like(mean, jnp.nan)
        return out

    def resample(self, rng_key: Array, num_samples: int) -> "WeightedSamples":
        """Multinomial resampling to ``num_samples`` equally weighted draws.

        The new weights are ``Z / num_samples`` each, so ``log_evidence()`` is kept.
        Resampling discards the low-weight shell: keep the weighted set when you can.
        Draws by inversion of the weights' cumulative sum (memory ``O(N + num_samples)``);
        every drawn sample has positive weight.

        Raises ``ValueError`` for ``num_samples < 1``, an empty set, and (outside jit)
        weights that cannot be normalised (``Z`` zero, infinite or NaN). Under jit such
        weights give NaN floating-point samples and keep ``Z`` in the new weights.
        """
        num_samples = check_count(num_samples, "num_samples")
        if self.num_samples == 0:
            raise ValueError("resample: there are no samples to draw from (N = 0).")
        log_z = self.log_evidence()
        if concrete(log_z) and not bool(jnp.isfinite(log_z)):
            raise ValueError(
                f"resample: log_weights sum to log Z = {float(log_z)}; draws need weights "
                "with a finite, positive total (no NaN, no +inf, not all -inf)."
            )
        w = self.normalized_weights()
        cdf = jnp.cumsum(w)
        u = jax.random.uniform(rng_key, (num_samples,), cdf.dtype) * cdf[-1]
        last = self.num_samples - 1 - jnp.argmax((w > 0)[::-1])  # last sample with mass
        idx = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), last)
        valid = jnp.isfinite(log_z)

        def pick(v):
            v = v[idx]
            return jnp.where(valid, v, jnp.nan) if jnp.issubdtype(v.dtype, jnp.inexact) else v

        samples = jax.tree_util.tree_map(pick, self.samples)
        log_w = log_z - jnp.log(jnp.asarray(num_samples, self.log_weights.dtype))
        return WeightedSamples(samples, jnp.full((num_samples,), log_w))

    def bounds(self) -> EvidenceBounds:
        """``(ELBO, EUBO)`` on ``log Z`` from the same weights (see ``evidence_bounds``)."""
        return evidence_bounds(self.log_weights)

    def pareto_k(self, *, r_eff: float = 1.0) -> ParetoK:
        """PSIS tail index ``k`` with the threshold ``min(1 - 1/log10 S, 0.7)`` (``S >= 10``).

        ``khat`` is NaN (and ``reliable`` False) where the weights cannot be normalised.
        """
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
