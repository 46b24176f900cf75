"""The MP sampling handler: K proposal draws per latent, each on its own positional axis.

Latent ``i`` gets ``K`` draws on axis ``dim_i = -(P + 1 + i)``, left of all plate dims, so the
model's own arithmetic broadcasts every parent's sample axis into its children.

A proposal site whose distribution depends on other latents ``qa(i)`` draws child sample
``k`` given parent sample ``pi_j(k)``, where ``pi_j`` is one uniform random permutation of
parent ``j``'s K samples per parent plate element, shared by all its children. Its density is
the uniform mixture over all parent-sample combinations (Heap et al. 2023, *Massively
parallel reweighted wake-sleep*, eq. 8)::

    log q_mix(z_i^k) = logsumexp_{k_qa} log q(z_i^k | z_qa^{k_qa}) - |qa| log K
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from numpyro.primitives import Messenger

from ._structure import ModelStructure


class MPSampler(Messenger):
    """Draw ``K`` samples for every unobserved sample site; record ``log q_mix`` per site.

    Args:
        fn: the proposal program (guide, or the model when the prior is the proposal).
        rng_key: a JAX PRNG key.
        K: samples per latent.
        structure: the static model structure (latent order and plate depth).
        log_q: a dict filled with ``site -> log q_mix`` in positional layout.
    """

    def __init__(self, fn, *, rng_key, K: int, structure: ModelStructure, log_q: dict):
        self.rng_key, self.perm_key = jax.random.split(rng_key)
        self.K = K
        self.structure = structure
        self.log_q = log_q
        self.perms: dict[int, jax.Array] = {}
        self.batch_ranks: dict[int, int] = {}
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] != "sample" or msg["is_observed"] or msg["value"] is not None:
            return
        name = msg["name"]
        if msg["kwargs"].get("sample_shape", ()):
            raise ValueError(
                f"Site {name!r} uses sample_shape={msg['kwargs']['sample_shape']}; declare "
                "those dims with numpyro.plate instead."
            )
        i = self.structure.latents.index(name)
        fn = msg["fn"]
        parents = self._parents(name, tuple(fn.batch_shape))
        key = jax.random.fold_in(self.rng_key, i)
        value = self._draw(key, fn, i, parents)
        lq = fn.log_prob(value)
        if parents:
            rank = jnp.ndim(lq)
            axes = tuple(rank + self._dim(j) for j in parents)
            lq = logsumexp(lq, axis=axes, keepdims=True) - len(parents) * math.log(self.K)
        msg["value"] = value
        self.log_q[name] = lq
        self.batch_ranks[i] = jnp.ndim(value) - len(fn.event_shape)

    def _dim(self, i: int) -> int:
        return -(self.structure.plate_depth + 1 + i)

    def _parents(self, name: str, batch: tuple[int, ...]) -> list[int]:
        """Latent indices whose sample axis appears (size > 1) in the proposal's batch shape."""
        parents = []
        for j in range(len(self.structure.latents)):
            pos = self.structure.plate_depth + 1 + j
            if len(batch) >= pos and batch[-pos] != 1:
                if batch[-pos] != self.K or j not in self.batch_ranks:
                    raise ValueError(
                        f"Proposal of site {name!r} has batch shape {batch}: dim {-pos} is "
                        "left of every plate but is not a sample axis of an earlier latent. "
                        "Declare that dim with numpyro.plate or use .to_event()."
                    )
                parents.append(j)
        return parents

    def _perm(self, j: int) -> jax.Array:
        """Permutation of parent ``j``'s K samples, one per parent plate element."""
        if j not in self.perms:
            latent = self.structure.site(self.structure.latents[j])
            rank = self.batch_ranks[j]
            plates = latent.batch_shape
            shape = (self.K,) + (1,) * (rank - 1 - len(plates)) + plates
            key = jax.random.fold_in(self.perm_key, j)
            self.perms[j] = jnp.argsort(jax.random.uniform(key, shape), axis=0)
        return self.perms[j]

    def _draw(self, key, fn, i: int, parents: list[int]) -> jax.Array:
        d = self._dim(i)
        batch = tuple(fn.batch_shape)
        if not parents:
            sample_shape = (self.K,) + (1,) * (-d - 1 - len(batch))
            return fn.sample(key, sample_shape)
        # one draw per parent-sample combination, then child k takes parent pi_j(k)
        raw = fn.sample(key)
        nb, ne = len(batch), len(fn.event_shape)
        first = parents[0]
        for n, j in enumerate(parents):
            perm = self._perm(j)
            idx = perm.reshape((1,) * (nb - perm.ndim) + perm.shape)
            if n > 0:
                idx = jnp.swapaxes(idx, nb + self._dim(j), nb + self._dim(first))
            idx = idx.reshape(idx.shape + (1,) * ne)
            raw = jnp.take_along_axis(raw, idx, axis=nb + self._dim(j))
        raw = raw.reshape((1,) * (-d - nb) + raw.shape)
        return jnp.swapaxes(raw, -d + self._dim(first), 0)
