"""Guides with ``scan``: the proposal of a scan model's chain latent, one step at a time.

A guide proposes a model's scan latent ``x`` with its own ``scan`` over the same steps,
whose body samples a site of the same name. Its body may depend on the guide's carry
(its own previous-step sample) and on the guide's latents and params sampled before the
scan, e.g. a mean-field ``x_t ~ Normal(loc[t], scale[t])`` (scan over ``(loc, scale)``)
or a Markov guide ``x_t ~ Normal(a x_{t-1} + loc[t], s)``. Under MP IS the guide's scan is
sampled as the prior's would be (:mod:`jaxis.trace._scan_step`: K draws per step from
paired parents, the mixture density ``q_mix`` over the K tuples of the GUIDE's parents
actually paired), and the model's scan then runs on those draws, giving the K x K chain
factor ``log p(x_t^k | x_{t-1}^{k'}, g)``; the step factor is ``log p - log q_mix - log K``.
Declare the guide's params before its scan and pass them in (numpyro's scan, like
jaxis, substitutes sample sites only inside a body, so ``mpis(..., params=...)`` reaches a
param declared outside the body).

Not supported (each raises a ``ValueError`` naming the site and the fix): a guide site
that samples the whole series of a scan latent outside a scan (one joint draw of all
steps has one sample index, not one per step, so it has no K x K chain factor; sample it
with ``scan``), a guide scan with observed sites or several latents, a guide scan whose
latent is no model scan's latent, or whose length or plates differ from the model's.

Reference: Heap, Leech, Aitchison 2023, *Massively parallel reweighted wake-sleep*
(section 3, the MP proposal with proposal parents).
"""
from __future__ import annotations

from typing import Optional

from ._scan_structure import ScanInfo, body_site, ScanRecord


def _fix(x: str) -> str:
    return (f"give the guide a scan over the same steps whose body samples {x!r} one step "
            f"at a time, e.g. scan(lambda c, p: (numpyro.sample({x!r}, "
            "dist.Normal(p[0], p[1])), None), None, (loc, scale))")


def guide_scans(records: list[ScanRecord], gtrace: Optional[dict], model_scans: tuple,
                sites: list) -> tuple[ScanInfo, ...]:
    """The guide's scans as :class:`ScanInfo` on the time plates of the model's scans.

    ``records``: the guide's recorded scans; ``gtrace``: its trace without them (``None``:
    no guide); ``model_scans``: the model's ScanInfos; ``sites``: the model's SiteInfos.
    """
    if gtrace is None:
        return ()
    chains = {s.latent: s for s in model_scans if s.latent}
    for name in chains:
        if name in gtrace:
            raise ValueError(
                f"Guide site {name!r} samples the whole series of the model's scan latent "
                f"{name!r} in one site; jaxis needs one sample index per time step for its "
                f"K x K chain factors: {_fix(name)}."
            )
    out, seen = [], set()
    for rec in records:
        kinds = {n: body_site(n, s)[0] for n, s in rec.sites}
        observed = [n for n, k in kinds.items() if k == "observed"]
        if observed or len(kinds) != 1:
            what = (f"observes {observed}" if observed
                    else f"samples {list(kinds) or 'no site'}")
            raise ValueError(
                f"A scan of the guide {what}; a guide's scan body samples exactly one "
                "latent site, a scan latent of the model (observations belong in the model)."
            )
        (name, site), = rec.sites
        if name not in chains:
            raise ValueError(
                f"The guide's scan samples {name!r}, which is not the latent of a scan of the "
                f"model (those are {sorted(chains)}); name it after the model's scan latent."
            )
        model = chains[name]
        if rec.length != model.length:
            raise ValueError(
                f"The guide's scan over {name!r} has {rec.length} steps, the model's "
                f"{model.length}; scan over the same steps."
            )
        plates = sorted(f.name for f in site["cond_indep_stack"])
        want = sorted(p for p in next(s for s in sites if s.name == name).plates
                      if p != model.plate)
        if plates != want:
            raise ValueError(
                f"Guide scan site {name!r} lies in plates {plates} inside its body, the "
                f"model's in {want}; declare the same plates inside the guide's body."
            )
        seen.add(name)
        out.append(ScanInfo(model.plate, rec.length, (name,), name, rec.carry_event_ndim))
    enumerated = {s.name for s in sites if s.enum_size}
    missing = [x for x in chains if x not in seen and x not in enumerated]
    if missing:
        raise ValueError(
            f"The guide does not sample the model's scan latent(s) {missing}: "
            f"{_fix(missing[0])}."
        )
    return tuple(out)
