"""The static structure of ``numpyro.contrib.control_flow.scan`` sites (Markov chains).

numpyro's ``scan`` runs its body with ``lax.scan`` and records one site per sample
statement of the body, with a leading time dim. jaxis reads those sites in the abstract
structure pass and gives each scan a *time plate* (named ``_time_<first body site>``, as
numpyro names its time dim) at the positional dim just left of the model's plates: every
time step of a body site is an element of that plate, and a body latent gets K samples per
time step (its own index ``k_t``, like a plate element). The sites are hidden from the
outer trace here and scored by :mod:`jaxis.trace._scan`.

Supported: a body with at most one latent site (scalar or with event dims; it is the
chain latent when the carry depends on it; a discrete one is enumerated by the rule for
sites outside scan, taking its S support values at every step), any number of observed
sites, global latents sampled before the scan used by the body, an initial carry that is
a constant or depends on one latent sampled before the scan. Plates declared inside the
body (numpyro's form for many independent chains; numpyro rejects a plate around a scan)
keep their dims, and a site's batch dims must all be such plates; the time plate sits
left of every plate of the model and of the bodies. The dims of a carry leaf within the
body's plates are plate dims, the rest its event dims. Everything else raises a
``ValueError`` that names the site (see :func:`scan_sites`); a guide's scans are checked
against the model's by :mod:`jaxis.trace._scan_guide`.

Reference: Obermeyer et al. 2019, *Tensor variable elimination for plated factor graphs*
(plated and Markov dims).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple, Optional

import jax
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.ops.pytree import PytreeTrace
from numpyro.primitives import _PYRO_STACK, Messenger

if TYPE_CHECKING:
    from ._structure import SiteInfo

SUPPORTED = ("jaxis supports a scan body with at most one latent site (batch dims only in "
             "numpyro.plate inside the body: use .to_event() for vector states), observed "
             "sites, and latents sampled before the scan")


class ScanInfo(NamedTuple):
    """One scan of the model: its time plate, length, body sites and chain latent.

    ``carry_event_ndim``: the rank of every carry leaf (flattened) in one draw of the
    model; in the MP run the leaves carry sample axes to the left of those dims.
    """

    plate: str
    length: int
    sites: tuple[str, ...]
    latent: Optional[str]
    carry_event_ndim: tuple[int, ...]


class ScanRecord(NamedTuple):
    position: int  # number of sample/deterministic sites of the outer trace before it
    length: int
    sites: tuple  # (name, msg) of the body, time dim leading
    carry_event_ndim: tuple[int, ...]


class ScanRecorder(Messenger):
    """Record every ``scan`` of the traced program (model or guide) and hide its sites
    from the trace."""

    def __init__(self, fn):
        self.records: list[ScanRecord] = []
        self.count = 0
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] in ("sample", "deterministic"):
            self.count += 1
        elif msg["type"] == "control_flow":
            if msg["args"][4]:
                raise ValueError("scan(..., reverse=True) is not supported by jaxis; "
                                 "reverse the data and scan forward.")
            outer = [type(h).__name__ for h in _PYRO_STACK
                     if isinstance(h, (handlers.mask, handlers.scale))]
            if outer:
                raise ValueError(
                    f"A numpyro.handlers.{outer[0]} around a scan is not applied by jaxis to "
                    "the sites of its body (they are scored inside the scan); put the "
                    "handler inside the body function, around its sample statements."
                )

    def postprocess_message(self, msg):
        if msg["type"] != "control_flow":
            return
        (i, key, carry), (ptrace, ys) = msg["value"]
        sites = tuple((n, s) for n, s in ptrace.trace.items() if s["type"] != "plate")
        # dims within the body's plates are plate dims of a carry leaf, not event dims
        depth = max([-f.dim for _, s in sites for f in s["cond_indep_stack"]] + [0])
        ranks = tuple(max(jax.numpy.ndim(c) - depth, 0)
                      for c in jax.tree_util.tree_leaves(carry))
        self.records.append(ScanRecord(self.count, scan_length(msg["args"]), sites, ranks))
        msg["value"] = ((i, key, carry), (PytreeTrace({}), ys))


def scan_length(args: tuple) -> int:
    """The static number of steps of ``scan(f, init, xs, length, reverse)``."""
    length, xs = args[3], args[2]
    return int(length) if length is not None else jax.tree_util.tree_leaves(xs)[0].shape[0]


def body_site(name: str, site: dict) -> tuple[str, tuple]:
    """Check one body site; return its kind and its plates' frames (inside the body)."""
    if site["type"] == "deterministic":
        raise ValueError(
            f"Site {name!r} is a numpyro.deterministic inside a scan body, which jaxis does "
            "not support yet; return the value from the body instead (scan's second output)."
        )
    frames = tuple(site["cond_indep_stack"])
    fn = site["fn"]
    per_step = tuple(fn.batch_shape)[1:]
    value_batch = jax.numpy.shape(site["value"])[1:len(jax.numpy.shape(site["value"]))
                                                    - len(fn.event_shape)]
    shape = tuple(jax.numpy.broadcast_shapes(per_step, tuple(value_batch)))
    sizes = {f.dim: f.size for f in frames}
    loose = [i - len(shape) for i, n in enumerate(shape)
             if n != 1 and sizes.get(i - len(shape)) != n]
    if loose:
        raise ValueError(
            f"Site {name!r} in a scan body has batch shape {shape} per time step, and dim "
            f"{loose[0]} belongs to none of its plates; {SUPPORTED}."
        )
    observed = site["is_observed"]
    if not observed:
        base = fn
        while hasattr(base, "base_dist"):
            base = base.base_dist
        if isinstance(base, dist.ImproperUniform):
            raise ValueError(f"Scan site {name!r} has an improper prior, so the prior cannot "
                             "be its proposal; give it a proper distribution.")
    return ("observed" if observed else "latent"), frames


def _body_plates(records: list[ScanRecord], outer: dict) -> dict:
    """The plates declared inside scan bodies (``name -> PlateInfo``), checked against the
    plates of the same name outside (``outer``)."""
    from ._structure import PlateInfo

    found = dict(outer)
    for rec in records:
        for name, site in rec.sites:
            for f in site["cond_indep_stack"]:
                known = found.setdefault(f.name, PlateInfo(f.name, f.dim, f.size))
                if (known.dim, known.size) != (f.dim, f.size):
                    raise ValueError(
                        f"Scan site {name!r} lies in plate {f.name!r} (dim {f.dim}, size "
                        f"{f.size}), which has dim {known.dim} and size {known.size} "
                        "elsewhere in the model; declare it the same way everywhere."
                    )
    return {n: p for n, p in found.items() if n not in outer}


def scan_sites(records: list[ScanRecord], depth: int, outer_plates: dict,
               check_observed: Callable[[dict], None],
               enum_size: Callable[[dict, "SiteInfo"], int]):
    """SiteInfos (by outer position), PlateInfos, ScanInfos and the plate depth with the
    time plates.

    ``depth`` is the model's plate depth without the scans and ``outer_plates`` its plates
    (``name -> PlateInfo``); the plates declared in scan bodies count too, and every time
    plate gets the dim just left of all of them. ``check_observed`` validates the data of
    an observed site; ``enum_size`` gives the support size of a body latent that is
    enumerated (its S values at every time step, :mod:`jaxis.trace._enumerate`), else 0.
    """
    from ._structure import PlateInfo, SiteInfo

    inner = _body_plates(records, outer_plates)
    depth = max([depth] + [-p.dim for p in inner.values()])
    dim = -(depth + 1)
    placed: list[tuple[int, SiteInfo]] = []
    plates: list[PlateInfo] = list(inner.values())
    infos: list[ScanInfo] = []
    for rec in records:
        if not rec.sites:
            continue
        plate = f"_time_{rec.sites[0][0]}"
        checked = {n: body_site(n, s) for n, s in rec.sites}
        latents = [n for n, (k, _) in checked.items() if k == "latent"]
        if len(latents) > 1:
            raise ValueError(
                f"The scan body samples several latent sites {latents}; {SUPPORTED}. "
                "Combine them into one site (e.g. a vector state with .to_event(1))."
            )
        for name, site in rec.sites:
            kind, frames = checked[name]
            if kind == "observed":
                check_observed(site)
            event = tuple(site["fn"].event_shape)
            batch = [1] * depth
            for f in frames:
                batch[f.dim] = f.size
            own = tuple(f.name for f in sorted(frames, key=lambda f: f.dim))
            info = SiteInfo(name, kind, (plate,) + own, (rec.length,) + tuple(batch), event)
            if kind == "latent":
                info = info._replace(enum_size=enum_size(site, info))
            placed.append((rec.position, info))
        plates.append(PlateInfo(plate, dim, rec.length))
        infos.append(ScanInfo(plate, rec.length, tuple(n for n, _ in rec.sites),
                              latents[0] if latents else None, rec.carry_event_ndim))
    return placed, plates, infos, depth + 1


def insert_sites(sites: list, placed: list) -> list:
    """``sites`` with the scan sites inserted where their scan ran (stable order)."""
    out = list(sites)
    for offset, (pos, site) in enumerate(placed):
        out.insert(pos + offset, site)
    return out


class ChainSpec(NamedTuple):
    """A scan whose body latent is a Markov chain (its time steps are coupled).

    ``latent``: the body latent; ``init``: the latent sampled before the scan that the
    initial carry depends on (the chain's step ``-1``), or ``None`` for a constant initial
    carry; ``factors``: the body sites, whose log factors carry one trailing axis more,
    the sample index of ``latent`` at the previous step (size K, or 1 where unused).
    """

    plate: str
    latent: str
    init: Optional[str]
    factors: tuple[str, ...]
