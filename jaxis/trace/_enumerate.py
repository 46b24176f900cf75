"""Exact enumeration of discrete latents with finite support.

A discrete latent ``z`` with support ``{s_1, ..., s_S}`` needs no sampling: its S support
values take the place of its samples, and its proposal is the uniform distribution on them
with ``K_z = S``. The latent's MP factor ``log p(z^k | pa) - log q(z^k) - log K_z`` is then
``log p(s_k | pa)``, and the sum over its index is the exact sum over its support,
``sum_s p(s | pa)``: the discrete part of the model is marginalised exactly, as numpyro's
``TraceEnum_ELBO`` and funsor do, while continuous latents keep their K samples.

Which sites are enumerated (``mode``):

- ``"auto"`` (default): sites marked ``infer={"enumerate": "parallel"}`` and every other
  enumerable site whose support has at most K values; with a guide, also every enumerable
  model latent the guide does not sample (numpyro's convention for enumerated sites);
- ``"marked"``: only the marked sites (and, with a guide, the ones it leaves out).

A site is enumerable when its distribution has ``enumerate_support``, its event shape is
``()``, it has no block dims (a joint block would have ``S^n`` values), and its support
does not depend on its batch element or on another latent (``Binomial(total_count=n)``
with a sampled ``n`` is sampled, or rejected when marked).

References: Obermeyer et al. 2019, *Tensor variable elimination for plated factor graphs*
(parallel enumeration); Bowyer, Heap, Aitchison 2023, section 2 (the MP estimator).
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
from numpyro.primitives import Messenger

MODES = ("auto", "marked")


def support_size(msg: dict) -> tuple[int, Optional[str]]:
    """``(S, None)`` for an enumerable latent site, else ``(0, why not)``."""
    fn = msg["fn"]
    if not getattr(fn, "has_enumerate_support", False):
        return 0, f"{type(fn).__name__} has no finite support to enumerate"
    if tuple(fn.event_shape):
        return 0, f"its event shape {tuple(fn.event_shape)} would be enumerated jointly"
    try:
        support = jax.eval_shape(lambda: fn.enumerate_support(expand=False))
    except (jax.errors.ConcretizationTypeError, TypeError, ValueError):
        return 0, "its support depends on a sampled value"
    shape = tuple(support.shape)
    if not shape or math.prod(shape[1:]) != 1:
        return 0, "its support differs between batch elements"
    return shape[0], None


def enumeration_size(msg: dict, info, K: Optional[int], mode: str, guided: bool,
                     in_guide: bool) -> int:
    """Support size if the latent site is enumerated (the rules above), else 0.

    ``info``: the site's ``SiteInfo``; ``guided``: a guide is given; ``in_guide``: the
    guide samples this site (it then proposes it: no enumeration). ``K=None``: none.
    """
    if K is None or in_guide:
        return 0
    size, why = support_size(msg)
    if info.blocks:  # a joint block of n values would have S^n
        size, why = 0, (f"its batch dims {info.blocks} lie in no plate, so it is one joint "
                        "block; put them in a numpyro.plate to enumerate per element")
    if marked(msg) and not size:
        raise ValueError(
            f"Site {msg['name']!r} is marked infer={{'enumerate': 'parallel'}} but cannot "
            f"be enumerated: {why}. Remove the mark to sample it, or give it a discrete "
            "distribution with a fixed, finite support and event shape ()."
        )
    if size and (marked(msg) or guided or (mode == "auto" and size <= K)):
        return size
    return 0


def marked(msg: dict) -> bool:
    """Is the site marked ``infer={"enumerate": "parallel"}``?"""
    return (msg.get("infer") or {}).get("enumerate") == "parallel"


def enumerated_value(fn, size: int, dim: int, batch_shape: tuple[int, ...]) -> jax.Array:
    """The support values of ``fn`` on positional axis ``dim``, repeated to ``size`` and
    broadcast over the site's own ``batch_shape`` (its plate elements).

    In a run ``size`` is the support size; the structure pass asks for a distinct size
    (to identify the axis) and gets the support repeated, every value still valid.
    """
    support = jnp.reshape(fn.enumerate_support(expand=False), (-1,))
    values = jnp.take(support, jnp.arange(size) % support.shape[0])
    pad = (1,) * (-dim - 1 - len(batch_shape))
    return jnp.broadcast_to(jnp.reshape(values, (size,) + (1,) * (-dim - 1)),
                            (size,) + pad + tuple(batch_shape))


class EnumerateSites(Messenger):
    """Set each enumerated latent's value to its support on its own sample axis.

    Args:
        fn: the model.
        sites: ``site -> (number of values, positional sample dim, batch shape)`` of the
            enumerated latents (the number of values is the support size in a run).
    """

    def __init__(self, fn, sites: dict[str, tuple[int, int, tuple[int, ...]]]):
        self.sites = sites
        super().__init__(fn)

    @classmethod
    def wrap(cls, fn, sites: dict) -> Callable:
        """``fn`` with a fresh handler per call: a program may be replayed while it runs
        (proposal replays), and one Messenger instance may not sit twice on the stack."""
        return lambda *args, **kwargs: cls(fn, sites)(*args, **kwargs)

    def process_message(self, msg):
        name = msg.get("name")  # a scan's control_flow message has none
        if msg["type"] == "sample" and name in self.sites and msg["value"] is None:
            msg["value"] = enumerated_value(msg["fn"], *self.sites[name])
