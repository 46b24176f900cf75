"""One time step of a scan body under MP IS: K draws of its latent from paired parents.

At step t the body latent ``x_t`` of the proposal (the prior's transition, or the body of
a guide's scan) has the distribution ``q(x_t | x_{t-1}, g)`` (``g``: latents sampled
before the scan). The body runs with the K samples of the previous step on a separate
positional axis ``d_prev`` (left of every latent's axis). Its K draws use paired parents,
as :mod:`jaxis.trace._mp_sample` does for proposal parents: sample ``k`` is drawn given
``x_{t-1}^{pi_t(k)}`` (a uniform random permutation ``pi_t`` per step) and ``g^{pi_g(k)}``
(the sampler's permutation of ``g``, per plate element, shared with its other children),
and its proposal density is the mixture over the K tuples actually paired::

    log q_mix(x_t^k) = logsumexp_{k'} log q(x_t^k | x_{t-1}^{pi_t(k')}, g^{pi_g(k')}) - log K

Both come from one evaluation of the body: the site's distribution has the grid of all
parent samples as batch, one draw per grid element is picked at each paired tuple
(distinct tuples, so the K draws are independent), and ``q_mix`` is read off ``log q`` on
the grid at the paired tuples. Any fixed pairing gives an unbiased estimate as long as
the mixture runs over the tuples used, so ``pi_t`` is shared by the elements of the
body's plates (their draws stay independent).

In the model's run after a guide's (``given``), the step's latent takes the guide's K
draws of step t instead; its ``log p`` on the grid is the K x K chain factor. An
enumerated body latent (:mod:`jaxis.trace._enumerate`) takes its S support values.

References: Heap, Leech, Aitchison 2023, *Massively parallel reweighted wake-sleep*
(section 3, the MP proposal); Bowyer, Heap, Aitchison 2023 (section 2).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from numpyro.primitives import Messenger

from ._enumerate import enumerated_value
from ._kernels import log_density
from ._mp_sample import move_axis
from ._scan_structure import SUPPORTED, ScanInfo

if TYPE_CHECKING:
    from ._scan import ScanSampler


def has_dim(shape: tuple, dim: int) -> bool:
    """Does a positional batch ``shape`` vary along ``dim`` (negative)?"""
    return len(shape) >= -dim and shape[dim] > 1


def _pick(x: jax.Array, axis: int, perm: jax.Array, dst: int, event_ndim: int) -> jax.Array:
    """``x`` at index ``perm[k]`` of batch dim ``axis``, for ``k`` along batch dim ``dst``.

    ``perm`` is positional with its index axis at ``dst`` (and may vary along plate dims).
    """
    rank = jnp.ndim(x) - event_ndim
    full = max(rank, jnp.ndim(perm), -axis, -dst)
    x = jnp.reshape(x, (1,) * (full - rank) + jnp.shape(x))
    perm = jnp.reshape(perm, (1,) * (full - jnp.ndim(perm)) + jnp.shape(perm)
                       + (1,) * event_ndim)
    return jnp.take_along_axis(x, perm, axis=axis - event_ndim)


def at_step(subs_map, t, length: int, kind: str, site: dict):
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


class StepSampler(Messenger):
    """Sample (or, with ``given``, set) the body latent of one time step (see module doc).

    After the body ran: ``value``, ``log_q`` (``None`` for a given or enumerated value),
    ``draw_log_q`` (non-reparameterised draws only) and ``parents`` (global proposal
    parents).
    """

    def __init__(self, fn, *, owner: "ScanSampler", info: ScanInfo, key, prev_perm,
                 given: Optional[jax.Array] = None):
        self.owner, self.info, self.key, self.prev_perm = owner, info, key, prev_perm
        self.given = given
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
        fn = msg["fn"]
        n, d = own.sizes[name], own.structure.latent_dim(name)
        if own.structure.site(name).enum_size:  # its support: no proposal, no parents
            per_step = own.structure.site(name).batch_shape[1:]  # its plates in the body
            msg["value"] = self.value = enumerated_value(fn, n, d, per_step)
        elif self.given is not None:  # the guide's draws of this step
            msg["value"] = self.value = self.given
        else:
            self._sample(msg, fn, n, d)

    def _sample(self, msg, fn, n: int, d: int) -> None:
        own, ne = self.owner, len(fn.event_shape)
        batch = tuple(fn.batch_shape)
        # (parent's dim, its permutation: positional, index axis on the parent's dim)
        axes = [(own.d_prev, move_axis(self.prev_perm, -1, own.d_prev, 0))
                ] if has_dim(batch, own.d_prev) else []
        globals_ = [a for a in own.structure.latents
                    if a not in self.info.sites and has_dim(batch, own.structure.latent_dim(a))]
        axes += [(own.structure.latent_dim(a), own.sampler.paired_perm(a, n, keep=False))
                 for a in globals_]
        if axes:  # one draw per parent tuple; the paired tuples are distinct grid elements
            value = fn.sample(self.key)
            for dim, perm in axes:
                value = _pick(value, dim, move_axis(perm, dim, d, 0), d, ne)
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
                lq = _pick(lq, dim, move_axis(perm, dim, fresh, 0), fresh, 0)
                drawn = _pick(drawn, dim, move_axis(perm, dim, d, 0), d, 0)  # q(x^k | t_k)
            lq = logsumexp(lq, axis=fresh, keepdims=True) - math.log(n)
        if not fn.has_rsample:
            self.draw_log_q = jnp.sum(drawn)
        msg["value"] = value
        self.value, self.log_q, self.parents = value, lq, tuple(globals_)
