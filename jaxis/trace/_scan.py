"""MP sampling of a numpyro ``scan``: K samples per time step, drawn from paired parents.

The body of ``scan(f, init, xs)`` runs under ``lax.scan``, one time step per iteration,
with the K samples of the previous step's latent on a separate positional axis ``d_prev``
(left of every latent's axis). At step t the body latent ``x_t`` has the prior proposal
``q(x_t | x_{t-1}, g)`` (``g``: global latents sampled before the scan). Its K draws use
paired parents, as :mod:`jaxis.trace._mp_sample` does for proposal parents: sample ``k``
is drawn given ``x_{t-1}^{pi_t(k)}`` (a uniform random permutation ``pi_t`` per step) and
``g^{pi_g(k)}`` (the sampler's permutation of ``g``, shared with its other children), and
its proposal density is the mixture over the K tuples actually paired::

    log q_mix(x_t^k) = logsumexp_{k'} log q(x_t^k | x_{t-1}^{pi_t(k')}, g^{pi_g(k')}) - log K

Both come from one evaluation of the body with the previous samples on ``d_prev``: the
site's distribution then has the grid of all parent samples as batch, one draw per grid
element is picked at each paired tuple (distinct tuples, so the K draws are independent),
and ``q_mix`` is read off ``log q`` on the grid at the paired tuples. The same grid is the
chain factor ``log p(x_t^{k_t} | x_{t-1}^{k_{t-1}}, g)``: a K x K matrix per step (per
global index), stored with the previous step's index as one trailing axis (also on the
body's observed sites, of size 1 where they do not use it). The time axis is then reduced
by :mod:`jaxis.contract._chain`. The carry passes ``x_t`` to the next step by moving its
sample axis onto ``d_prev``; a constant initial carry is broadcast, and one that depends
on a latent sampled before the scan puts that latent's samples on ``d_prev`` (step -1).

An enumerated body latent (:mod:`jaxis.trace._enumerate`: marked, or a small finite
support) takes its S support values at every step instead (no parents, no proposal term:
the uniform proposal on S values with ``K_i = S`` cancels), so the chain factor is the
S x S transition matrix ``log p(z_t = j | z_{t-1} = i, g)`` and the chain product is the
forward algorithm (Rabiner 1989). Its initial state, if a latent, must be enumerated
with the same support (both share ``d_prev``).

References: Heap, Leech, Aitchison 2023, *Massively parallel reweighted wake-sleep*
(section 3, the MP proposal); Bowyer, Heap, Aitchison 2023 (section 2).
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from numpyro import handlers
from numpyro.ops.pytree import PytreeTrace
from numpyro.primitives import Messenger

from ._enumerate import enumerated_value
from ._kernels import log_density
from ._mp_sample import move_axis
from ._scan_structure import SUPPORTED, ChainSpec, ScanInfo
from ._structure import ModelStructure


def _has(shape: tuple, dim: int) -> bool:
    """Does a positional batch ``shape`` vary along ``dim`` (negative)?"""
    return len(shape) >= -dim and shape[dim] > 1


def _pick(x: jax.Array, axis: int, perm: jax.Array, dst: int, event_ndim: int) -> jax.Array:
    """``x`` at index ``perm[k]`` of batch dim ``axis``, for ``k`` along batch dim ``dst``."""
    rank = jnp.ndim(x) - event_ndim
    full = max(rank, -axis, -dst)
    x = jnp.reshape(x, (1,) * (full - rank) + jnp.shape(x))
    shape = [1] * (full + event_ndim)
    shape[dst - event_ndim] = perm.shape[0]
    return jnp.take_along_axis(x, jnp.reshape(perm, shape), axis=axis - event_ndim)


def _at_step(subs_map, t, length: int, kind: str, site: dict):
    """The value a ``condition``/``substitute`` around a scan gives a body site at step
    ``t``: the site's series (time axis first, numpyro's convention) at ``t``.

    numpyro's own wrapper compares the value's rank with the distribution's, which under
    MP IS carries the sample axes of the latents; the series' length is what counts.
    """
    if site["type"] != "sample":
        return None
    value = subs_map.get(site["name"]) if isinstance(subs_map, dict) else subs_map(site)
    if value is None:
        return None
    if jnp.shape(value)[:1] != (length,):
        raise ValueError(
            f"numpyro.handlers.{kind} gives scan site {site['name']!r} a value of shape "
            f"{jnp.shape(value)}; jaxis needs its whole series, with the scan's time axis "
            f"(length {length}) first."
        )
    return value[t]


def _prev_last(x: jax.Array, d_prev: int) -> jax.Array:
    """Move the previous step's sample axis of a log density to a trailing axis."""
    if jnp.ndim(x) >= -d_prev:
        return jnp.moveaxis(x, d_prev, -1)
    return x[..., None]


def _time_in_place(x: jax.Array, d_time: int, event_ndim: int) -> jax.Array:
    """A step-stacked array ``(T, *per-step positional)``: put T on the time plate's dim."""
    rest = jnp.shape(x)[1:]
    rank = len(rest) - event_ndim
    full = max(rank, -d_time)
    x = jnp.reshape(x, jnp.shape(x)[:1] + (1,) * (full - rank) + rest)
    x = jnp.squeeze(x, axis=d_time - event_ndim)  # the step's own (size 1) time dim
    return jnp.moveaxis(x, 0, d_time - event_ndim)


class _StepSampler(Messenger):
    """Sample the body latent of one time step from paired parents (see module doc)."""

    def __init__(self, fn, *, owner: "ScanSampler", info: ScanInfo, key, prev_perm):
        self.owner, self.info, self.key, self.prev_perm = owner, info, key, prev_perm
        self.value = self.log_q = self.draw_log_q = None
        self.parents: tuple[str, ...] = ()
        super().__init__(fn)

    def process_message(self, msg):
        name = msg.get("name")
        if msg["type"] == "control_flow":
            raise ValueError(f"A scan inside the body of the scan over {self.info.plate!r} "
                             "(nested scan) is not supported.")
        if msg["type"] != "sample" or msg["is_observed"]:
            return
        if msg["value"] is not None:
            raise ValueError(f"Latent site {name!r} of a scan body has a substituted value; "
                             "jaxis samples body latents itself. Remove the substitution, or "
                             "condition on it (numpyro.handlers.condition) to observe it.")
        if msg["kwargs"].get("sample_shape", ()):
            raise ValueError(f"Scan site {name!r} uses sample_shape; {SUPPORTED}.")
        own = self.owner
        fn, ne = msg["fn"], len(msg["fn"].event_shape)
        batch = tuple(fn.batch_shape)
        n, d = own.sizes[name], own.structure.latent_dim(name)
        if own.structure.site(name).enum_size:  # its support: no proposal, no parents
            msg["value"] = self.value = enumerated_value(fn, n, d, ())
            return
        axes = [(own.d_prev, self.prev_perm)] if _has(batch, own.d_prev) else []
        globals_ = [a for a in own.structure.latents
                    if a not in self.info.sites and _has(batch, own.structure.latent_dim(a))]
        axes += [(own.structure.latent_dim(a),
                  jnp.reshape(own.sampler.paired_perm(a, n, keep=False), (n,)))
                 for a in globals_]
        if axes:  # one draw per parent tuple; the paired tuples are distinct grid elements
            value = fn.sample(self.key)
            for dim, perm in axes:
                value = _pick(value, dim, perm, d, ne)
        else:
            shape = jnp.broadcast_shapes(batch, (n,) + (1,) * (-d - 1))
            value = fn.expand(shape).sample(self.key)
        if not fn.has_rsample:  # the score function instead of a pathwise gradient
            value = jax.lax.stop_gradient(value)
        grid = log_density(fn, value)
        drawn, lq = grid, grid
        if axes:
            fresh = own.d_prev - 1
            for dim, perm in axes:
                lq = _pick(lq, dim, perm, fresh, 0)
                drawn = _pick(drawn, dim, perm, d, 0)  # q(x^k | t_k): the draw's own density
            lq = logsumexp(lq, axis=fresh, keepdims=True) - math.log(n)
        if not fn.has_rsample:
            self.draw_log_q = jnp.sum(drawn)
        msg["value"] = value
        self.value, self.log_q, self.parents = value, lq, tuple(globals_)


class ScanSampler(Messenger):
    """Run every ``scan`` of the proposal with K samples per time step of its latent.

    Sits inside :class:`~jaxis.trace._mp_sample.MPSampler` (set ``sampler`` before the
    run: the permutations of global parents are shared with it). After the run:
    ``values``, ``log_p`` (latent: the chain factor grid, observed: the log-likelihood),
    ``log_q`` and ``parents`` of the body sites, positional with the time plate in place,
    and ``chains`` (a :class:`ChainSpec` per scan with a body latent).

    Args:
        score: ``site -> log density`` with numpyro's mask and scale (``site_log_prob``).
    """

    def __init__(self, fn, *, structure: ModelStructure, sizes: dict, rng_key,
                 score: Callable[[dict], jax.Array]):
        self.structure, self.sizes, self.rng_key, self.score = structure, sizes, rng_key, score
        self.d_prev = -(structure.plate_depth + 1 + len(structure.latents))
        self.sampler = None
        self.values, self.log_p, self.log_q, self.parents = {}, {}, {}, {}
        self.draw_log_q: dict = {}  # body latent -> sum of log q of its non-reparam. draws
        self.chains: list[ChainSpec] = []
        self._next = 0
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] != "control_flow":
            return
        info = self.structure.scans[self._next]
        key = jax.random.fold_in(self.rng_key, self._next)
        self._next += 1
        f, init, xs = msg["args"][:3]
        msg["value"] = self._scan(info, f, init, xs, msg["kwargs"]["substitute_stack"], key)

    def _step(self, info: ScanInfo, f, subs, carry, x_t, t, key):
        """One body run: ``(carry_out, y, {site: per-step array}, parents)``."""
        k_seed, k_draw, k_perm = jax.random.split(key, 3)
        n = self.sizes[info.latent] if info.latent else 1
        prev_perm = jnp.argsort(jax.random.uniform(k_perm, (n,)))
        fn = handlers.seed(f, rng_seed=k_seed)
        for kind, subs_map in subs:  # the handlers numpyro re-applies inside the body
            subs_fn = functools.partial(_at_step, subs_map, t, info.length, kind)
            if kind == "condition":
                fn = handlers.condition(fn, condition_fn=subs_fn)
            elif kind == "substitute":
                fn = handlers.substitute(fn, substitute_fn=subs_fn)
            else:
                raise ValueError(f"A {kind!r} handler around a scan is not supported by jaxis.")
        step = _StepSampler(fn, owner=self, info=info, key=k_draw, prev_perm=prev_perm)
        with handlers.block(), handlers.trace() as tr:
            carry_out, y = step(carry, x_t)
        chain = info.latent is not None
        out = {s: (_prev_last(self.score(tr[s]), self.d_prev) if chain else self.score(tr[s]))
               for s in info.sites}
        if chain:
            out["value"] = step.value
            if step.log_q is not None:  # None: enumerated
                out["log_q"] = step.log_q[..., None]
            if step.draw_log_q is not None:
                out["draw_log_q"] = step.draw_log_q
        return carry_out, y, out, step.parents

    def _scan(self, info: ScanInfo, f, init, xs, subs, key):
        T, x = info.length, info.latent
        xs_0 = jax.tree_util.tree_map(lambda a: a[0], xs)
        leaves, tree = jax.tree_util.tree_flatten(init)
        events = info.carry_event_ndim
        d_x = self.structure.latent_dim(x) if x else None

        def shift(leaves, src, dst):
            return [move_axis(jnp.asarray(c), src, dst, e) for c, e in zip(leaves, events)]

        found: dict = {}

        def probe(carry_leaves):
            """The body's carry output at step 0, as the next step's carry."""
            carry = jax.tree_util.tree_unflatten(tree, carry_leaves)
            new, _, _, found["parents"] = self._step(info, f, subs, carry, xs_0, 0, key)
            out = jax.tree_util.tree_leaves(new)
            return out if x is None else shift(out, d_x, self.d_prev)

        init_latent = None
        if x is not None:
            init_latent, init_dim = self._initial_state(info, leaves, probe)
            self._check_init_size(info, init_latent)
            leaves = shift(leaves, init_dim, self.d_prev)
            leaves = [self._resize(c, e, self.sizes[x]) for c, e in zip(leaves, events)]
        out = jax.eval_shape(probe, leaves)
        for a in found["parents"]:  # shared with the sampler: made at this trace level
            self.sampler.paired_perm(a, self.sizes[x])
        leaves = [jnp.broadcast_to(jnp.asarray(a, o.dtype), jnp.broadcast_shapes(
            jnp.shape(a), o.shape)) for a, o in zip(leaves, out)]
        self._check_carry(info, leaves, jax.eval_shape(probe, leaves))
        carry0 = jax.tree_util.tree_unflatten(tree, leaves)

        def body(carry, inp):
            t, x_t = inp
            new, y, out, parents = self._step(info, f, subs, carry, x_t, t,
                                              jax.random.fold_in(key, t))
            found["parents"] = parents
            if x is not None:
                new = jax.tree_util.tree_unflatten(
                    tree, shift(jax.tree_util.tree_leaves(new), d_x, self.d_prev))
            return new, (out, y)

        last, (out, ys) = jax.lax.scan(body, carry0, (jnp.arange(T), xs), length=T)
        d_time = self.structure.plate(info.plate).dim
        chain = 1 if x is not None else 0
        for s in info.sites:
            self.log_p[s] = _time_in_place(out[s], d_time, chain)
        if x is not None:
            ne = len(self.structure.site(x).event_shape)
            self.values[x] = _time_in_place(out["value"], d_time, ne)
            if "log_q" in out:
                self.log_q[x] = _time_in_place(out["log_q"], d_time, 1)
            self.parents[x] = found["parents"]
            if "draw_log_q" in out:
                self.draw_log_q[x] = jnp.sum(out["draw_log_q"])
            last = jax.tree_util.tree_unflatten(
                tree, shift(jax.tree_util.tree_leaves(last), self.d_prev, d_x))
            self.chains.append(ChainSpec(info.plate, x, init_latent, info.sites))
        return (T, None, last), (PytreeTrace({}), ys)

    def _initial_state(self, info: ScanInfo, leaves, probe) -> tuple[Optional[str], int]:
        """The latent the initial carry depends on and its dim (moved onto ``d_prev``);
        ``(None, d_prev)`` for a constant initial carry.

        Latents whose samples the body's carry output keeps on their own axis are global
        parents passed along, not the chain's initial state.
        """
        out = jax.eval_shape(probe, leaves)
        own = [a for a in self.structure.latents if a not in info.sites]
        dims = {a: self.structure.latent_dim(a) for a in own}
        held = lambda arrs, a: any(_has(self._batch(c, e), dims[a])
                                   for c, e in zip(arrs, info.carry_event_ndim))
        init = [a for a in own if held(leaves, a) and not held(out, a)]
        if len(init) > 1:
            raise ValueError(
                f"The initial carry of the scan over {info.plate!r} depends on several latents "
                f"{init}; it may depend on at most one latent sampled before the scan (the "
                "chain's initial state)."
            )
        return (init[0], dims[init[0]]) if init else (None, self.d_prev)

    def _check_init_size(self, info: ScanInfo, init: Optional[str]) -> None:
        """The initial state and the chain latent must have as many values each (K, or
        the same support size when both are enumerated): they share the axis ``d_prev``."""
        if init is None:
            return
        enum = self.structure.enumerated()
        if enum.get(init) != enum.get(info.latent):
            def what(a):
                return f"its {enum[a]} support values" if a in enum else "K samples"
            raise ValueError(
                f"The initial carry of the scan over {info.plate!r} depends on latent "
                f"{init!r} ({what(init)}), but the chain latent {info.latent!r} takes "
                f"{what(info.latent)} per step; jaxis needs both sampled or both enumerated "
                "with the same support. Mark both infer={'enumerate': 'parallel'} (same "
                "support), or neither and pass enumerate='marked'."
            )

    def _resize(self, leaf: jax.Array, event_ndim: int, n: int) -> jax.Array:
        """The initial state's samples on ``d_prev``, cycled to the chain's ``n`` samples
        (only in the structure pass, where every latent has its own sample count)."""
        size = jnp.shape(leaf)[self.d_prev - event_ndim]
        if size in (1, n):
            return leaf
        return jnp.take(leaf, jnp.arange(n) % size, axis=self.d_prev - event_ndim)

    @staticmethod
    def _batch(leaf, event_ndim: int) -> tuple:
        shape = tuple(jnp.shape(leaf))
        return shape[:len(shape) - event_ndim]

    def _check_carry(self, info: ScanInfo, leaves, out) -> None:
        """The carry must keep its shape and hold the current step's latent only.

        ``out``: the carry output given ``leaves``, with the latent moved onto ``d_prev``
        (so the previous step's samples, if the output kept them, are on the latent's dim).
        """
        for c, o, e in zip(leaves, out, info.carry_event_ndim):
            if info.latent and _has(self._batch(o, e), self.structure.latent_dim(info.latent)):
                raise ValueError(
                    f"The carry of the scan over {info.plate!r} passes on the previous "
                    f"step's value of {info.latent!r} (e.g. carry = (x_t, x_prev)): a "
                    "second-order chain, which jaxis does not support. The carry may depend "
                    f"on the current {info.latent!r}, global latents and data only."
                )
            if tuple(o.shape) != tuple(jnp.shape(c)):
                raise ValueError(
                    f"The carry of the scan over {info.plate!r} changes shape from step to "
                    f"step ({jnp.shape(c)} -> {tuple(o.shape)} with the sample axes); give "
                    "the initial carry the shape of the body's carry output."
                )
