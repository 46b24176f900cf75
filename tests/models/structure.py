"""Read a model's sites (kind, shape, plates) under ``jax.eval_shape``: nothing is compiled."""
from typing import NamedTuple

import jax
from numpyro import handlers


class Site(NamedTuple):
    observed: bool
    shape: tuple
    event_dim: int
    plates: frozenset  # {(plate name, dim, size)}


def sites(fn, kwargs) -> dict:
    """``{name: Site}`` for every sample site of ``fn(**kwargs)``."""
    found = {}

    def run():
        trace = handlers.trace(handlers.seed(fn, 0)).get_trace(**kwargs)
        for name, msg in trace.items():
            if msg["type"] == "sample":
                found[name] = (
                    msg["is_observed"],
                    len(msg["fn"].event_shape),
                    frozenset((f.name, f.dim, f.size) for f in msg["cond_indep_stack"]),
                )
        return {n: m["value"] for n, m in trace.items() if m["type"] == "sample"}

    shapes = jax.eval_shape(run)
    return {
        name: Site(observed, tuple(shapes[name].shape), event_dim, plates)
        for name, (observed, event_dim, plates) in found.items()
    }
