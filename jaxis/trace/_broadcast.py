"""Model code that is not broadcast-safe: name the site and show the rewrite.

The one-draw structure pass has already run the model on the same arguments, so when it
fails under MP IS's sample shapes (each latent with its own leading sample axis), the
sample axes are the cause: ``jnp.dot(x, beta)``, ``loc[z]``, ``beta.reshape(...)``. JAX's
own error ("dot_general requires contracting dimensions ...") does not say so;
:func:`broadcast_errors` re-raises it as a ``ValueError`` that names the site, explains the
sample axes and shows the broadcast-safe rewrite, with the original exception chained.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

import numpyro.primitives

from ._structure import _SiteLog

_SAMPLE_CODE = numpyro.primitives.sample.__code__
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BROADCAST_FIX = (
    "Write the model broadcast-safe: for a latent vector beta with .to_event(1) use "
    "(x * beta).sum(-1), for one with batch shape (D,) outside any plate use "
    "(x @ beta[..., None])[..., 0], never jnp.dot(x, beta); index an array of latents with "
    "a sampled index by Vindex(loc)[..., z] (from numpyro.ops.indexing), not loc[z]; "
    "index, reduce and reshape latents from the right only (w[..., i], w.sum(-1), "
    "w.reshape(w.shape[:-1] + (2, 2)); never w.reshape(2, 2) or w.shape[0])."
)


SAMPLE_AXES = (
    "MP IS draws K samples of every latent on its own leading axis, one axis per latent, "
    "left of the plate dims, so a latent of numpyro shape (D,) arrives as (K, ..., D) and "
    "every value computed from it carries those axes."
)


def logging_sites(fn: Callable, log: list) -> Callable:
    """``fn`` appending each site's name to ``log`` as it is reached.

    A fresh handler per call: the proposal is re-entered (replayed) while it runs.
    """
    def run(*args, **kwargs):
        return _SiteLog(fn, log)(*args, **kwargs)
    return run


def _frames(error: BaseException) -> list:
    frames, tb = [], error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


def _raised_by_jaxis(frames: list) -> bool:
    """Whether the innermost frame is in jaxis (its own errors, already clear)."""
    return bool(frames) and os.path.abspath(frames[-1].f_code.co_filename).startswith(
        _PACKAGE + os.sep)


def _failing_site(frames: list) -> str | None:
    """The site whose ``numpyro.sample`` call raised (its plates broadcast its shapes)."""
    names = [f.f_locals.get("name") for f in frames if f.f_code is _SAMPLE_CODE]
    return names[-1] if names and isinstance(names[-1], str) else None


@contextlib.contextmanager
def broadcast_errors(where: Callable[[], str]) -> Iterator[None]:
    """Re-raise JAX's shape errors as a ``ValueError`` naming the site and the fix.

    The site is the one whose ``numpyro.sample`` statement raised, else ``where()`` (the
    model code after the last site reached, or a site's log density).
    """
    try:
        yield
    except (TypeError, ValueError, IndexError) as e:
        frames = _frames(e)
        if _raised_by_jaxis(frames):
            raise
        site = _failing_site(frames)
        raise ValueError(
            f"The model is not broadcast-safe "
            f"{f'at site {site!r}' if site else where()}: {type(e).__name__}: "
            f"{(str(e).splitlines() or [''])[0].rstrip('.')}. {SAMPLE_AXES} "
            f"{BROADCAST_FIX}"
        ) from e
