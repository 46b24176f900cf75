"""Static structure of a numpyro model (+ guide), read without allocating anything.

The model and the proposal are traced once under :func:`jax.eval_shape`, so no array is
materialised. The result names every site, its plates, its batch and event shapes and
whether it is latent, observed or deterministic. Bad input is rejected here, before any
large allocation, with a ``ValueError`` that names the site and the fix.

Each latent ``i`` (in proposal order, or in ``dim_order``: :func:`jaxis.trace._axes.dim_order`)
later gets its own positional sample axis ``dim_i = -(P + 1 + i)`` where ``P`` is the model's
plate nesting depth, in the way numpyro's ``enum`` allocates dims (Obermeyer et al. 2019,
*Tensor variable elimination for plated factor graphs*).

A batch dim of a site that belongs to none of its plates (``Normal(0, 1).expand([9])``
outside a plate, data of shape ``(N,)`` without a plate) is a *block* dim: numpyro sums
the site's log density over it, so the whole block is one joint site, and a latent block
gets one sample index (K draws of the whole vector). Block dims keep their positions, so
``P`` covers them too: it is the deepest plate or block dim of any site.

The sites of a ``numpyro.contrib.control_flow.scan`` body lie in a *time plate* one dim
left of all other plates (:mod:`jaxis.trace._scan_structure`), so ``P`` counts it too.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import numpy as np
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.infer.autoguide import AutoGuide
from numpyro.primitives import Messenger
from numpyro.distributions.distribution import (
    ExpandedDistribution,
    Independent,
    MaskedDistribution,
)

from ._blocks import block_dims, block_ones, check_guide_blocks
from ._enumerate import MODES, enumeration_size
from ._scan_guide import guide_scans
from ._scan_structure import ScanInfo, ScanRecorder, insert_sites, scan_sites
from ._site_checks import check_guide_plates, check_latent, check_observed


class PlateInfo(NamedTuple):
    """A plate: its name, positional dim (negative) and size.

    Plates are identified by name: two sibling plates may share a dim.
    """

    name: str
    dim: int
    size: int


class SiteInfo(NamedTuple):
    """One site of the model; ``kind`` is ``"latent"``, ``"observed"`` or ``"deterministic"``."""

    name: str
    kind: str
    plates: tuple[str, ...]
    batch_shape: tuple[int, ...]
    event_shape: tuple[int, ...]
    blocks: tuple[int, ...] = ()  # block dims (negative): in no plate, summed as one site
    enum_size: int = 0  # support size of an enumerated latent; 0: sampled

    @property
    def index_shape(self) -> tuple[int, ...]:
        """``batch_shape`` with the block dims set to 1: one sample index per element."""
        return block_ones(self.batch_shape, self.blocks)


class ModelStructure(NamedTuple):
    """Sites in execution order, plates sorted outermost first, and the depth ``P``.

    ``plate_depth`` is the deepest plate or block dim of any site: sample axes sit left of it.
    """

    sites: tuple[SiteInfo, ...]
    plates: tuple[PlateInfo, ...]
    plate_depth: int
    latents: tuple[str, ...]  # in proposal (guide, or prior) order
    scans: tuple[ScanInfo, ...] = ()  # numpyro scans, in execution order
    guide_scans: tuple[ScanInfo, ...] = ()  # the guide's, on the model's time plates
    dim_order: tuple[str, ...] = ()  # latents by sample dim, innermost first; () = latents

    def site(self, name: str) -> SiteInfo:
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(name)

    def plate(self, name: str) -> PlateInfo:
        return next(p for p in self.plates if p.name == name)

    def blocks(self) -> dict[str, tuple[int, ...]]:
        """``site -> block dims`` for every sample site that has any."""
        return {s.name: s.blocks for s in self.sites if s.blocks}

    def enumerated(self) -> dict[str, int]:
        """``latent -> support size`` for every enumerated latent."""
        return {s.name: s.enum_size for s in self.sites if s.enum_size}

    def sizes(self, K: int) -> dict[str, int]:
        """Values per latent in a run: K draws, or the support of an enumerated latent."""
        enum = self.enumerated()
        return {n: enum.get(n, K) for n in self.latents}

    def dim_latents(self) -> tuple[str, ...]:
        """The latents by positional sample dim, innermost (next to the plates) first."""
        return self.dim_order or self.latents

    def latent_dim(self, name: str) -> int:
        """Positional sample axis of a latent: ``-(P + 1 + index)`` in ``dim_latents()``."""
        return -(self.plate_depth + 1 + self.dim_latents().index(name))


_SHAPE_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerArrayConversionError,
)


class ConcretizationError(ValueError):
    """Tracing needed a concrete value (a size, ``int(...)``, a Python ``if``) that was traced.

    Raised by the abstract structure pass; the message blames a sampled value, which is
    right when the model's arguments are concrete. ``filter_jit`` catches it when they are
    traced and finds the argument that has to be concrete.
    """


class _SiteLog(handlers.Messenger):
    """Remember the last site seen, to name it when tracing fails."""

    def __init__(self, fn, log: list):
        self.log = log
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] in ("sample", "deterministic"):
            self.log.append(msg["name"])


def _base_dist(fn: dist.Distribution) -> dist.Distribution:
    while isinstance(fn, (ExpandedDistribution, Independent, MaskedDistribution)):
        fn = fn.base_dist
    return fn


def _setup_autoguide(guide: Callable, args: tuple, kwargs: dict) -> None:
    """Run an uninitialised numpyro autoguide (``AutoNormal(model)``) once, concretely.

    An autoguide traces the model on its first call and keeps that prototype; a first call
    inside the abstract pass would keep tracers (``UnexpectedTracerError`` later).
    """
    while isinstance(guide, Messenger):  # handlers around it (substitute, seed, ...)
        guide = guide.fn
    if not isinstance(guide, AutoGuide) or guide.prototype_trace is not None:
        return
    if any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves((args, kwargs))):
        raise ValueError(
            f"The guide {type(guide).__name__} is not initialised yet and the model arguments "
            "are traced (inside jax.jit or jax.vmap), so it cannot trace the model now. Call "
            "it once outside: numpyro.handlers.seed(guide, 0)(*args), or svi.init(...)."
        )
    handlers.block(handlers.seed(guide, rng_seed=0))(*args, **kwargs)


def _abstract_traces(model: Callable, guide: Optional[Callable], args: tuple, kwargs: dict):
    """Trace the guide (if any), then the model on the guide's values, under eval_shape."""
    if guide is not None:
        _setup_autoguide(guide, args, kwargs)
    log: list[str] = []
    out: dict = {"guide": None}
    scans = ScanRecorder(handlers.seed(model, rng_seed=0))
    g = None if guide is None else ScanRecorder(handlers.seed(guide, rng_seed=0))

    def run():
        values = None
        if guide is not None:
            out["stage"] = "guide"
            gtr = handlers.trace(_SiteLog(g, log)).get_trace(*args, **kwargs)
            out["guide"] = gtr
            values = {k: v["value"] for k, v in gtr.items() if v["type"] == "sample"}
        out["stage"] = "model"
        f = scans if values is None else handlers.substitute(scans, data=values)
        out["model"] = handlers.trace(_SiteLog(f, log)).get_trace(*args, **kwargs)
        return 0

    try:
        jax.eval_shape(run)
    except _SHAPE_ERRORS as e:
        after = f" after site {log[-1]!r}" if log else ""
        raise ConcretizationError(
            f"The {out['stage']} could not be traced{after}: a shape or Python branch depends "
            f"on a sampled value ({type(e).__name__}). MP IS needs static shapes: make sizes "
            "arguments of the model, and use jnp.where instead of Python `if` on samples."
        ) from e
    except NotImplementedError as e:
        after = f" at or after site {log[-1]!r}" if log else ""
        if "control flow" in str(e):
            raise ValueError(
                f"The {out['stage']} calls scan inside a numpyro.plate{after}; numpyro does "
                "not support scan under a plate. For many independent chains put the plate "
                "inside the body function, around its sample statements (numpyro's scan "
                "documentation): def step(carry, y_t): with numpyro.plate(...): ..."
            ) from e
        raise ValueError(
            f"The {out['stage']} could not be sampled{after} ({e!r}). An improper distribution "
            "cannot be a proposal; give a guide with a proper distribution for that site."
        ) from e
    return out["guide"], out["model"], scans.records, (g.records if g else [])


def _site_info(msg: dict, kind: str) -> SiteInfo:
    frames = [f for f in msg["cond_indep_stack"]]
    plates = tuple(f.name for f in sorted(frames, key=lambda f: f.dim))
    if kind == "deterministic":
        shape = tuple(np.shape(msg["value"]))
        return SiteInfo(msg["name"], kind, plates, shape, ())
    fn = msg["fn"]
    event = tuple(fn.event_shape)
    # numpyro broadcasts the value against the distribution: data of shape (N,) observed
    # under a scalar Normal(mu, s) are N batch elements (summed by numpyro: a block).
    value_batch = tuple(np.shape(msg["value"]))[:max(np.ndim(msg["value"]) - len(event), 0)]
    batch = tuple(np.broadcast_shapes(tuple(fn.batch_shape), value_batch))
    return SiteInfo(msg["name"], kind, plates, batch, event, block_dims(msg, batch))


def model_structure(
    model: Callable, guide: Optional[Callable], args: tuple, kwargs: dict,
    K: Optional[int] = None, enumerate: str = "auto",
) -> ModelStructure:
    """Trace ``guide`` (if any) and ``model`` abstractly and validate their sites.

    With ``K`` given, discrete latents are enumerated according to ``enumerate``
    (:mod:`jaxis.trace._enumerate`); ``K=None`` samples every latent (global IS).
    """
    if enumerate not in MODES:
        raise ValueError(f"enumerate must be one of {MODES}, got {enumerate!r}.")
    proposal_order: list[str] = []
    gtrace, mtrace, scan_records, guide_records = _abstract_traces(model, guide, args, kwargs)
    in_guide_scan = {n for rec in guide_records for n, _ in rec.sites}
    if gtrace is not None:
        for name, msg in gtrace.items():
            if msg["type"] != "sample":
                continue
            if msg["is_observed"]:
                raise ValueError(
                    f"Guide site {name!r} is observed; a guide may only sample latent sites. "
                    "Move the observation (or numpyro.factor) into the model."
                )
            if isinstance(_base_dist(msg["fn"]), dist.ImproperUniform):
                raise ValueError(
                    f"Guide site {name!r} uses an improper distribution, which cannot be "
                    "sampled as a proposal; use a proper distribution."
                )
            proposal_order.append(name)

    sites, plates = [], {}
    model_latents = []
    subsampled = {n: m["args"] for n, m in mtrace.items()
                  if m["type"] == "plate" and m["args"][1] not in (None, m["args"][0])}
    for name, msg in mtrace.items():
        if msg["type"] == "deterministic":
            sites.append(_site_info(msg, "deterministic"))
        elif msg["type"] != "sample":
            continue
        else:
            kind = "observed" if msg["is_observed"] else "latent"
            if kind == "observed":
                check_observed(msg)
            elif guide is None and isinstance(_base_dist(msg["fn"]), dist.ImproperUniform):
                raise ValueError(
                    f"Model site {name!r} has an improper prior, so the prior cannot be the "
                    "proposal; pass a guide that samples it from a proper distribution."
                )
            else:
                model_latents.append(name)
            info = _site_info(msg, kind)
            if kind == "latent":
                check_latent(msg, gtrace, subsampled)
                info = info._replace(enum_size=enumeration_size(
                    msg, info, K, enumerate, gtrace is not None,
                    gtrace is not None and name in gtrace))
            sites.append(info)
        for f in msg["cond_indep_stack"]:
            plates.setdefault(f.name, PlateInfo(f.name, f.dim, f.size))

    if guide is not None:
        check_guide_plates(gtrace, plates)
        check_guide_blocks(gtrace, sites)
        enumerated = [s.name for s in sites if s.enum_size]
        missing = [n for n in model_latents if n not in proposal_order + enumerated]
        if missing:
            raise ValueError(
                f"The guide does not sample the model's latent site(s) {missing}; every "
                "latent of the model needs a proposal in the guide (a discrete latent with "
                "a finite support left out of the guide is enumerated)."
            )
        in_scan = {m for rec in scan_records for m, _ in rec.sites}  # see guide_scans
        extra = [n for n in proposal_order if n not in model_latents and n not in in_scan]
        if extra:
            raise ValueError(
                f"The guide samples site(s) {extra} that the model does not have as latent "
                "sites; rename them to match the model or remove them."
            )
        proposal_order += enumerated
    else:
        proposal_order = model_latents

    depth = max([-p.dim for p in plates.values()] + [-d for s in sites for d in s.blocks]
                + [0])
    placed, scan_plates, scans, scan_depth = scan_sites(
        scan_records, depth, plates, check_observed,
        lambda msg, info: enumeration_size(msg, info, K, enumerate, guide is not None,
                                           msg["name"] in in_guide_scan))
    if scans:
        sites = insert_sites(sites, placed)
        plates.update({p.name: p for p in scan_plates})
        proposal_order = [s.name for s in sites if s.kind == "latent"]
        depth = scan_depth
    ordered = tuple(sorted(plates.values(), key=lambda p: p.dim))
    return ModelStructure(tuple(sites), ordered, depth, tuple(proposal_order), tuple(scans),
                          guide_scans(guide_records, gtrace, tuple(scans), sites))

