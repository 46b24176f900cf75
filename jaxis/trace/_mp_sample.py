"""The MP sampling handler: K proposal draws per latent, each on its own positional axis.

Latent ``i`` gets ``K_i`` draws on axis ``dim_i = -(P + 1 + i)``, left of all plate dims, so
the model's own arithmetic broadcasts every parent's sample axis into its children.

A proposal site ``z`` whose distribution depends on other latents ``qa(z)`` (its
*proposal parents*, found from the sample axes in its batch shape) is drawn from paired
parent tuples. Each parent ``a`` has one uniform random permutation ``pi_a`` of its
samples per plate element of ``a``, shared by all its children. Child sample ``k`` is
drawn given the tuple ``t_k = (z_a^{pi_a(k)})_{a in qa}``, and its proposal density is the
mixture over the K tuples actually paired::

    log q_mix(z^k) = logsumexp_{k'} log q(z^k | t_{k'}) - log K

Unbiasedness: given the parents' samples and the permutations, the child's draws are
independent with ``z^k ~ q(. | t_k)``, so for any parent indices ``k_pa``,
``E[sum_k p(z^k | z_pa^{k_pa}) / (K q_mix(z^k))] = int p(z | z_pa^{k_pa}) sum_k q(z | t_k) /
sum_k' q(z | t_k') dz = 1`` -- whatever the pairing, as long as the mixture runs over the
tuples used. The mixture over the full ``K^|qa|`` grid of parent combinations would be
wrong for two or more parents (it is not the density the paired draws come from), and
biases Z-hat upward through the plate product. With one parent the two coincide. For a
block site (:mod:`jaxis.trace._blocks`) ``q`` is the joint density of the whole block: its
distribution is already a ``BlockSum``, so the mixture is over joint block densities.

The proposal's distribution at the paired tuples is obtained by replaying the proposal
program up to the site, with each parent's samples permuted and moved onto the child's
axis: O(K) draws and O(K^2) density evaluations per plate element, whatever ``|qa|``,
and the ``K^|qa|`` grid is never built. Replays are traced once and only the replayed
site's distribution is used, so XLA removes the rest.

References: Heap, Leech, Aitchison 2023, *Massively parallel reweighted wake-sleep*
(section 3, the MP proposal); Bowyer, Heap, Aitchison 2023 (section 2).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from numpyro import handlers
from numpyro.primitives import Messenger

from ._axes import read_axes
from ._kernels import log_density
from ._structure import ModelStructure


class _Stop(Exception):
    """Raised by :class:`_Replay` once the replayed site is reached."""


class _Replay(Messenger):
    """Re-run a proposal with given latent and param values; keep ``stop``'s distribution."""

    def __init__(self, fn, values: dict, params: dict, stop: str):
        self.values, self.params, self.stop = values, params, stop
        self.fn_at_stop = None
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] == "param" and msg["name"] in self.params:
            msg["value"] = self.params[msg["name"]]
        elif msg["type"] == "control_flow":
            raise ValueError(
                f"Latent site {self.stop!r} is sampled after a scan and its proposal depends "
                "on other latents; jaxis draws such a site by replaying the program up to "
                "it, which cannot pass a scan. Sample it before the scan."
            )
        elif msg["type"] == "sample" and not msg["is_observed"]:
            if msg["name"] == self.stop:
                self.fn_at_stop = msg["fn"]
                raise _Stop
            if msg["name"] in self.values:
                msg["value"] = self.values[msg["name"]]


def materialise(value: jax.Array) -> jax.Array:
    """``value`` itself, computed once into memory before its consumers run.

    XLA's CPU fusion treats a sampler (random bits, ``erf_inv``'s polynomial) as cheap and
    fuses it into every consumer, so broadcasting K draws into a K^n factor recomputed
    the sampler for each of its elements (about 10x the factor's own arithmetic on the
    chimpanzee model). A ``lax.cond`` on a data-dependent predicate is a fusion boundary
    that XLA cannot remove (``optimization_barrier`` is dropped before fusion on CPU). Both
    branches return ``value`` unchanged (``+ 0.0`` only where a NaN draw makes the
    estimate NaN anyway); under ``vmap`` the cond becomes a select and fusion may return.
    Integer and boolean draws are returned as they are.
    """
    if not jnp.issubdtype(jnp.result_type(value), jnp.inexact):
        return value  # discrete draws: no erf_inv to duplicate, and + 0.0 would promote
    return jax.lax.cond(jnp.isnan(jnp.sum(value)), lambda v: v + 0.0, lambda v: v, value)


def score_term(draw_log_q: dict) -> jax.Array:
    """``L - stop_gradient(L)`` for ``L = sum of draw_log_q``: zero, with gradient ``dL``.

    Added to ``log Z-hat`` it makes ``d exp(log Z-hat) = dZ-hat + Z-hat dL``, whose expectation
    is ``dZ`` when the non-reparameterised draws' law depends on the parameters (the score
    function / DiCE estimator; Foerster et al. 2018, as in Pyro's TMC).
    """
    total = sum(draw_log_q.values(), jnp.zeros(()))
    return total - jax.lax.stop_gradient(total)


def move_axis(x: jax.Array, src: int, dst: int, event_ndim: int) -> jax.Array:
    """Move positional batch dim ``src`` to ``dst`` (both negative, left of the event dims)."""
    batch_rank = jnp.ndim(x) - event_ndim
    rank = max(batch_rank, -src, -dst)
    x = jnp.reshape(x, (1,) * (rank - batch_rank) + jnp.shape(x))
    return jnp.swapaxes(x, src - event_ndim, dst - event_ndim)


class MPSampler(Messenger):
    """Draw ``sizes[name]`` samples for every latent of the proposal; record ``log q_mix``.

    Args:
        fn: the seeded proposal program (guide, or the model when the prior is the proposal).
        proposal: the unseeded proposal program, replayed for sites with proposal parents.
        rng_key: a JAX PRNG key.
        sizes: samples per latent (all ``K`` in a run; pairwise different in the structure
            pass, see :func:`~jaxis.trace._axes.distinct_sizes`).
        structure: the static model structure (latent order and plate depth).
        args, kwargs: the proposal's arguments (for replays).

    Enumerated latents (:mod:`jaxis.trace._enumerate`) get their values from an inner
    :class:`~jaxis.trace._enumerate.EnumerateSites`; they have no ``log_q`` and no parents.

    A site whose distribution has no reparameterised sampler (discrete ones) gets no
    pathwise gradient (its draws are ``stop_gradient``-ed); ``draw_log_q[site]`` is then
    ``sum_k log q(z^k | t_k)``, the log density its draws were made with, for the score
    function term (:func:`score_term`).

    After the run: ``log_q`` (site -> log q_mix, positional), ``parents`` (site -> tuple of
    proposal parents) and ``perms`` (latent -> permutation of its samples, ``(K, *batch)``,
    for every latent that is some site's proposal parent).
    """

    def __init__(self, fn, *, proposal, rng_key, sizes: dict, structure: ModelStructure,
                 args: tuple, kwargs: dict):
        self.rng_key, self.perm_key = jax.random.split(rng_key)
        self.proposal, self.args, self.kwargs = proposal, args, kwargs
        self.sizes = sizes
        self.structure = structure
        self.log_q: dict = {}
        self.parents: dict[str, tuple[str, ...]] = {}
        self.perms: dict[str, jax.Array] = {}
        self.values: dict = {}
        self.params: dict = {}
        self.event_ndim: dict[str, int] = {}
        self.enumerated = structure.enumerated()
        self.draw_log_q: dict[str, jax.Array] = {}
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
        fn = msg["fn"]
        plates = [f.name for f in msg["cond_indep_stack"]]
        site = self.structure.site(name)
        blocks = {d: site.batch_shape[d] for d in site.blocks}
        kvars, _ = read_axes(name, tuple(fn.batch_shape), plates, self.structure, self.sizes,
                             blocks)
        parents = tuple(n for n in self.structure.latents if n in kvars)
        key = jax.random.fold_in(self.rng_key, self.structure.latents.index(name))
        ne = len(fn.event_shape)
        if parents:
            drawn_from = self._paired(key, name, parents)
            value = drawn_from.sample(key)  # one draw per paired tuple, on this site's axis
            # a parent's dim may lie left of this site's (``dim_order``): its size-1 axis goes
            value = jnp.reshape(value, jnp.shape(value)[max(jnp.ndim(value) - ne
                                                            + self._dim(name), 0):])
        else:
            drawn_from = fn
            value = fn.sample(key, (self.sizes[name],) + (1,) * (-self._dim(name) - 1
                                                              - len(fn.batch_shape)))
        value = materialise(value)
        if not fn.has_rsample:  # no pathwise gradient: the score function instead
            value = jax.lax.stop_gradient(value)
            self.draw_log_q[name] = jnp.sum(log_density(drawn_from, value))
        if parents:
            lq = self._mixture_log_q(drawn_from, value, name, ne)
        else:
            lq = log_density(fn, value)
        msg["value"] = value
        self.values[name] = value
        self.log_q[name] = lq
        self.parents[name] = parents
        self.event_ndim[name] = ne

    def postprocess_message(self, msg):
        if msg["type"] == "param":
            self.params[msg["name"]] = msg["value"]
        elif msg["type"] == "sample" and msg["name"] in self.enumerated:
            self.values[msg["name"]] = msg["value"]  # set by EnumerateSites (replays need it)
            self.event_ndim[msg["name"]] = 0

    def _dim(self, name: str) -> int:
        return self.structure.latent_dim(name)

    def paired_perm(self, a: str, n: int, keep: bool = True) -> jax.Array:
        """Parent ``a``'s permutation for a child with ``n`` samples (positional): child
        sample ``k`` is paired with sample ``perm[k]`` of ``a``. ``keep=False`` does not
        store a new permutation (for a caller inside an inner trace; the value is the same)."""
        perm = self._perm(a, keep)
        if self.sizes[a] != n:  # any fixed pairing is unbiased
            perm = jnp.take(perm, jnp.arange(n) % self.sizes[a], axis=0)
        return perm

    def _perm(self, a: str, keep: bool = True) -> jax.Array:
        """Permutation of parent ``a``'s samples, one per plate element (not per block
        element: a block is one sample): positional."""
        if a in self.perms:
            return self.perms[a]
        site = self.structure.site(a)
        rank = -self._dim(a)
        shape = (self.sizes[a],) + (1,) * (rank - 1 - len(site.batch_shape)) + site.index_shape
        key = jax.random.fold_in(self.perm_key, self.structure.latents.index(a))
        perm = jnp.argsort(jax.random.uniform(key, shape), axis=0)
        if keep:
            self.perms[a] = perm
        return perm

    def _paired(self, key, name: str, parents: tuple[str, ...]):
        """The proposal's distribution at the paired tuples ``t_k``, from a replay."""
        d = self._dim(name)
        values = dict(self.values)
        for a in parents:
            na = self.event_ndim[a]
            perm = self.paired_perm(a, self.sizes[name])
            idx = jnp.reshape(perm, perm.shape + (1,) * na)
            paired = jnp.take_along_axis(
                move_axis(self.values[a], self._dim(a), self._dim(a), na), idx,
                axis=self._dim(a) - na)
            values[a] = move_axis(paired, self._dim(a), d, na)
        replay = _Replay(self.proposal, values, self.params, name)
        try:
            handlers.block(handlers.seed(replay, rng_seed=key))(*self.args, **self.kwargs)
        except _Stop:
            pass
        return replay.fn_at_stop

    def _mixture_log_q(self, fn, value, name: str, ne: int) -> jax.Array:
        """``log q_mix(z^k) = logsumexp_k' log q(z^k | t_k') - log K``."""
        d = self._dim(name)
        # q(z^k | t_k') for all k, k': the draws on a fresh axis left of this site's
        lq = log_density(fn, move_axis(value, d, d - 1, ne))
        lq = logsumexp(lq, axis=d, keepdims=True) - math.log(self.sizes[name])
        return jnp.squeeze(move_axis(lq, d - 1, d, 0), axis=d - 1)
