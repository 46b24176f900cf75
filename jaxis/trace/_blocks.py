"""Block sites: batch dims outside every plate, scored as one joint site.

numpyro sums a site's log density over all its batch dims; a dim that belongs to none of
the site's plates (``Normal(0, 1).expand([9])`` outside a plate, data of shape ``(N,)``
without a plate) therefore makes the whole block one site. MP IS follows it: a latent
block gets one sample index (K draws of the whole vector), and its log p, its log q and
the proposal mixture over parent tuples use the joint block density. The sum is taken
with ``keepdims=True``, so block dims stay in place (size 1) and positional alignment
with the plates and sample axes is kept. Which dims are blocks is decided once, by the
abstract structure pass (where no sample axes exist), and applied here by site name.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.primitives import Messenger

from ._kernels import log_density

if TYPE_CHECKING:
    from ._structure import SiteInfo


def block_ones(shape: tuple[int, ...], blocks: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` (a batch shape, right-aligned) with the dims ``blocks`` set to 1."""
    n = len(shape)
    return tuple(1 if i - n in blocks else s for i, s in enumerate(shape))


def block_dims(msg: dict, batch: tuple[int, ...]) -> tuple[int, ...]:
    """The batch dims (size > 1) that belong to none of the site's plates."""
    own = {f.dim for f in msg["cond_indep_stack"]}
    n = len(batch)
    return tuple(i - n for i, size in enumerate(batch) if size != 1 and i - n not in own)


def check_guide_blocks(gtrace: dict, sites: Sequence["SiteInfo"]) -> None:
    """A guide site must have the model site's block dims (same dims, same sizes)."""
    for site in sites:
        if site.kind != "latent" or site.name not in gtrace:
            continue
        msg = gtrace[site.name]
        batch = tuple(msg["fn"].batch_shape)
        blocks = block_dims(msg, batch)
        sizes = [batch[d] for d in blocks]
        if blocks != site.blocks or sizes != [site.batch_shape[d] for d in site.blocks]:
            raise ValueError(
                f"Guide site {site.name!r} has batch shape {batch} outside its plates, but the "
                f"model site has batch shape {site.batch_shape} (plates {site.plates}): the "
                "dims outside any plate (one joint block) must be the same batch dims in "
                "both. Give the guide distribution the model's batch shape (e.g. "
                "Normal(loc, scale) with loc of that shape, not .to_event())."
            )


class BlockSum(dist.Distribution):
    """``base`` with its log density summed over the batch dims ``dims`` (kept, size 1)."""

    def __init__(self, base: dist.Distribution, dims: tuple[int, ...]):
        self.base, self.dims = base, dims
        super().__init__(base.batch_shape, base.event_shape, validate_args=False)

    @property
    def support(self):
        return self.base.support

    @property
    def is_discrete(self) -> bool:
        return self.base.is_discrete

    @property
    def has_rsample(self) -> bool:
        return self.base.has_rsample

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        return self.base.sample(key, sample_shape)

    def log_prob(self, value) -> jax.Array:
        return block_reduce(jnp.sum, log_density(self.base, value), self.dims)


def block_reduce(op: Callable, x: jax.Array, dims: tuple[int, ...]) -> jax.Array:
    """``op(x, axis=dims, keepdims=True)`` over the block dims that ``x`` has."""
    axes = tuple(d for d in dims if -d <= jnp.ndim(x))
    return op(x, axis=axes, keepdims=True) if axes else x


def sum_blocks(fn: Callable, blocks: Mapping[str, tuple[int, ...]]) -> Callable:
    """``fn`` with every block site scored by its :class:`BlockSum`.

    A fresh handler per call: the proposal is re-entered (replayed) while it runs, and one
    handler instance may not sit on numpyro's stack twice.
    """
    def run(*args, **kwargs):
        return _SumBlocks(fn, blocks)(*args, **kwargs)
    return run


class _SumBlocks(Messenger):
    """Replace the distribution of every block site by its :class:`BlockSum`.

    A mask set inside the model on such a site is applied per element, before the sum.
    """

    def __init__(self, fn: Callable, blocks: Mapping[str, tuple[int, ...]]):
        self.blocks = blocks
        super().__init__(fn)

    def process_message(self, msg):
        dims = self.blocks.get(msg["name"]) if msg["type"] == "sample" else None
        if dims is None or isinstance(msg["fn"], BlockSum):
            return
        fn = msg["fn"]
        if msg.get("mask") is not None:
            fn, msg["mask"] = fn.mask(msg["mask"]), None
        msg["fn"] = BlockSum(fn, dims)
