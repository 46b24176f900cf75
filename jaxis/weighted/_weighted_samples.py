"""Weighted samples: a pytree of samples with log importance weights.

Each sample ``n`` owns a volume: ``Z ≈ sum_n exp(log_weights[n])``, so that
``log_evidence() = logsumexp(log_weights)``. For importance sampling from a proposal ``q``
with ``N`` draws, ``log_weights[n] = log p(x, z_n) - log q(z_n) - log N``.

Reference: Owen, *Monte Carlo theory, methods and examples* (2013), ch. 9.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Union

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

Array = jax.Array
MomentSpec = Union[Callable[[Array], Array], tuple]


@jax.tree_util.register_pytree_node_class
class WeightedSamples:
    """Samples ``dict site -> (N, ...)`` with log weights ``(N,)``.

    Example:
        >>> ws = WeightedSamples({"x": jnp.arange(3.0)}, jnp.zeros(3))
        >>> ws.ess()  # 3.0
    """

    def __init__(self, samples: Mapping[str, Array], log_weights: Array):
        self.samples = dict(samples)
        self.log_weights = jnp.asarray(log_weights)

    def tree_flatten(self):
        return (self.samples, self.log_weights), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.samples, obj.log_weights = children
        return obj

    @property
    def num_samples(self) -> int:
        return self.log_weights.shape[0]

    def log_evidence(self) -> Array:
        """``log Z ≈ logsumexp_n log_weights[n]``."""
        return logsumexp(self.log_weights)

    def normalized_weights(self) -> Array:
        """Self-normalised weights ``w_n / sum_m w_m`` (NaN-free; all -inf gives zeros)."""
        lw = self.log_weights
        m = jax.lax.stop_gradient(jnp.max(lw))
        m = jnp.where(jnp.isfinite(m), m, 0.0)
        w = jnp.exp(lw - m)
        total = jnp.sum(w)
        return w / jnp.where(total > 0, total, 1.0)

    def ess(self) -> Array:
        """Kish effective sample size ``(sum w)^2 / sum w^2``."""
        w = self.normalized_weights()
        s2 = jnp.sum(w**2)
        return jnp.where(s2 > 0, 1.0 / s2, 0.0)

    def moments(self, fns: Mapping[str, MomentSpec]) -> dict[str, Array]:
        """Self-normalised expectations ``sum_n w_n m(z_n)``.

        ``fns`` maps an output name to either a callable of the site with that name, or
        ``(site, fn)`` / ``((site1, site2, ...), fn)``.
        """
        w = self.normalized_weights()
        out = {}
        for name, spec in fns.items():
            sites, fn = _moment_spec(name, spec)
            for s in sites:
                if s not in self.samples:
                    raise ValueError(
                        f"moment {name!r} asks for site {s!r}, but the samples only have "
                        f"{sorted(self.samples)}; pass (site, fn) with an existing site."
                    )
            vals = jax.vmap(fn)(*(self.samples[s] for s in sites))
            out[name] = jnp.tensordot(w, vals, axes=(0, 0))
        return out

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape) for k, v in self.samples.items()}
        return f"WeightedSamples(num_samples={self.num_samples}, samples={shapes})"


def _moment_spec(name: str, spec: Any) -> tuple[tuple[str, ...], Callable]:
    """Normalise a moment spec to ``(sites, fn)``."""
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
