"""Exact oracles: brute-force enumeration of every index combination, and closed forms.

``enumerate_mp`` scores each of the K^n combinations of per-instance sample indices (one
index per latent per plate element) with numpyro's own ``log_density`` of the model, and
computes each instance's parent-mixture proposal density by averaging the proposal density
over every combination of the other instances' indices (averaging over non-parents is the
identity, so this is the mixture over parents). It shares no code with jaxis's contraction.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp
from numpyro import handlers
from numpyro.infer.util import log_density


class Enumerated(NamedTuple):
    log_z: float
    weights: np.ndarray  # (C,) normalised P_z(k) over combinations
    values: dict  # site -> (C, *batch, *event) value of each combination
    combos: np.ndarray  # (C, n_instances) sample index per instance
    instances: list  # (site, flat element index) per instance column


def enumerate_mp(
    model: Callable,
    guide: Optional[Callable],
    samples: dict,
    batch_shapes: dict,
    args: tuple = (),
    kwargs: Optional[dict] = None,
) -> Enumerated:
    """Brute-force MP estimator from the K samples of each latent.

    Args:
        samples: ``site -> (K, *batch_shape, *event_shape)`` (``MPTrace.samples``).
        batch_shapes: ``site -> batch_shape`` (plate elements of each latent).
    """
    kwargs = kwargs or {}
    names = list(samples)
    K = samples[names[0]].shape[0]
    instances = [(n, e) for n in names for e in range(int(np.prod(batch_shapes[n])))]
    combos = np.array(list(itertools.product(range(K), repeat=len(instances))))
    C = combos.shape[0]

    values = {}
    col = 0
    for n in names:
        B = tuple(batch_shapes[n])
        m = int(np.prod(B))
        s = jnp.asarray(samples[n])
        event = s.shape[1 + len(B):]
        flat = s.reshape((K, m) + event)
        idx = combos[:, col:col + m]  # (C, m)
        v = flat[idx, np.arange(m)[None, :]]  # (C, m, *event)
        values[n] = v.reshape((C,) + B + event)
        col += m

    def joint(vals):
        return log_density(model, args, kwargs, vals)[0]

    proposal = model if guide is None else guide

    def proposal_logq(vals):
        tr = handlers.trace(handlers.substitute(handlers.seed(proposal, 0), data=vals)).get_trace(
            *args, **kwargs
        )
        out = []
        for n in names:
            lp = tr[n]["fn"].log_prob(tr[n]["value"])
            out.append(jnp.broadcast_to(lp, tuple(batch_shapes[n])).reshape(-1))
        return jnp.concatenate(out)

    log_p = jax.vmap(joint)(values)  # (C,)
    log_q_all = jax.vmap(proposal_logq)(values)  # (C, n_instances)
    # q_mix(instance, k) = mean over the other instances' indices of q(z_inst^k | others)
    log_qmix = np.zeros((len(instances), K))
    for j in range(len(instances)):
        for k in range(K):
            sel = combos[:, j] == k
            log_qmix[j, k] = float(logsumexp(log_q_all[sel, j])) - math.log(sel.sum())
    log_q = log_qmix[np.arange(len(instances))[None, :], combos].sum(axis=1)
    log_r = np.asarray(log_p) - log_q
    log_z = float(logsumexp(log_r)) - len(instances) * math.log(K)
    w = np.exp(log_r - logsumexp(log_r))
    return Enumerated(log_z, w, {k: np.asarray(v) for k, v in values.items()}, combos, instances)


def marginal(en: Enumerated, site: str, K: int, batch_shape) -> np.ndarray:
    """``P_z(k_{site,e})`` as ``(K, *batch_shape)``."""
    m = int(np.prod(batch_shape))
    out = np.zeros((K, m))
    for col, (n, e) in enumerate(en.instances):
        if n == site:
            np.add.at(out[:, e], en.combos[:, col], en.weights)
    return out.reshape((K,) + tuple(batch_shape))


def expectation(en: Enumerated, fn: Callable, *sites: str) -> np.ndarray:
    """``sum_k P_z(k) fn(z^k)`` with ``fn`` applied to one combination's values."""
    vals = jax.vmap(fn)(*(jnp.asarray(en.values[s]) for s in sites))
    return np.tensordot(en.weights, np.asarray(vals), axes=(0, 0))
