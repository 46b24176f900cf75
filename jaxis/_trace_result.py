"""``MPTrace``: the result of an MP IS run (samples, compact log factors, static graph).

Every query is a derivative of ``log P_MP(J) = log sum_k prod_f exp(F_f(k) + S(k; J))``
(:func:`~jaxis.contract.log_z`), which :meth:`MPTrace.log_z` evaluates on the stored
factors, or chunk by chunk (:mod:`jaxis.contract._chunked`) when the run kept its heavy
factors lazy to fit a memory budget.

Reference: Bowyer, Heap, Aitchison 2023, *Using autodiff to estimate posterior moments,
marginals and samples*, eqs. 18-23.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from .contract._log_z import Source, log_z
from .graph._graph import FactorGraph


@jax.tree_util.register_pytree_node_class
class MPTrace:
    """The result of one MP IS run: samples, compact log factors and the static graph.

    Attributes:
        samples: ``site -> (K_i, *batch_shape, *event_shape)``, the K draws of each latent
            (the S support values of an enumerated latent: ``K_i = S``).
        log_factors: one array per ``graph.factors`` entry, in canonical compact layout.
        deterministic: ``site -> value`` per ``graph.deterministics`` entry, compact:
            ``(K,) * len(kvars) + plate sizes + event shape``.
        perms: ``latent -> (K, *batch_shape)`` for every proposal parent: child sample ``k``
            of a site with proposal parents was drawn given parent samples ``perms[a][k]``.
        graph: the static :class:`~jaxis.graph.FactorGraph`.
        score: zero, whose gradient is the score function of the draws that have no
            reparameterised gradient (discrete sampled latents): ``log_evidence`` adds it,
            so ``jax.grad`` of ``exp(log_evidence)`` is an unbiased gradient of Z.
        lazy: ``None``, or (a run that did not fit its memory budget whole) the
            :class:`~jaxis._chunking.LazyFactors` that evaluate the heavy factors (``None``
            in ``log_factors``) chunk by chunk inside every query; ``graph`` is unchanged.
    """

    def __init__(self, samples: dict, log_factors: tuple, deterministic: dict,
                 perms: dict, graph: FactorGraph, score=None, lazy=None):
        self.samples = samples
        self.log_factors = tuple(log_factors)
        self.deterministic = deterministic
        self.perms = perms
        self.graph = graph
        self.score = jnp.zeros(()) if score is None else score
        self.lazy = lazy

    def tree_flatten(self):
        return ((self.samples, self.log_factors, self.deterministic, self.perms, self.score,
                 self.lazy), self.graph)

    @classmethod
    def tree_unflatten(cls, graph, children):
        return cls(*children[:4], graph, *children[4:])

    def replace(self, **changes) -> "MPTrace":
        """A copy with some attributes replaced (e.g. ``log_factors=...``)."""
        fields = dict(samples=self.samples, log_factors=self.log_factors,
                      deterministic=self.deterministic, perms=self.perms, graph=self.graph,
                      score=self.score, lazy=self.lazy)
        fields.update(changes)
        return MPTrace(**fields)

    @property
    def K(self) -> int:
        return self.graph.K

    @property
    def chunks(self) -> int:
        """How many chunks the heavy factors are evaluated in (1: not chunked)."""
        return 1 if self.lazy is None else self.lazy.num_chunks(self.graph)

    @property
    def dtype(self):
        """The floating dtype of the log factors."""
        arrays = [x for x in self.log_factors if x is not None]
        if not arrays and self.lazy is not None:
            arrays = list(self.lazy.log_q.values())
        return arrays[0].dtype if arrays else jnp.result_type(float)

    def log_z(self, sources: Sequence[Source] = (), power: float = 1.0) -> jax.Array:
        """``log_z`` of the factors times ``power`` with ``sources`` (chunked if ``lazy``)."""
        if self.lazy is not None:
            return self.lazy.log_z(self, sources, power)
        factors = self.log_factors if power == 1.0 else [power * f for f in self.log_factors]
        return log_z(self.graph, factors, sources)

    def positional(self, name: str) -> jax.Array:
        """The samples of a latent on its own positional axis (numpyro-enum layout)."""
        lat = self.graph.latent(name)
        rank = -lat.dim
        pad = (1,) * (rank - 1 - len(lat.batch_shape))
        return self.samples[name].reshape((lat.size,) + pad + lat.batch_shape + lat.event_shape)

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape) for k, v in self.samples.items()}
        return f"MPTrace(K={self.K}, samples={shapes})"
