"""Exact oracles: brute-force enumeration of every index combination, and closed forms.

``enumerate_mp`` scores each of the K^n combinations of per-instance sample indices (one
index per latent per plate element) with numpyro's own ``log_density`` of the model. Each
instance's proposal density is the mixture over the K parent tuples actually paired when
the samples were drawn: tuple ``k'`` gives every latent ``j`` with a recorded permutation
the sample ``perms[j][k']`` (per plate element), and

    q_mix(z_c^k) = (1/K) sum_{k'} q(z_c^k | tuple k')

with ``q`` read off numpyro's own trace of the proposal with those values substituted.
Latents the proposal of ``c`` does not depend on do not change ``q``, so no parent sets are
needed. It shares no code with jaxis's sampler, factors or contraction.
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


def _gather_perm(s: jnp.ndarray, perm: jnp.ndarray, batch: tuple) -> jnp.ndarray:
    """``s[perm[k', e], e]`` for every tuple ``k'`` and plate element ``e``: (K, *batch, *event)."""
    K, m = s.shape[0], int(np.prod(batch))
    event = s.shape[1 + len(batch):]
    flat = s.reshape((K, m) + event)
    idx = perm.reshape(K, m)
    return flat[idx, np.arange(m)[None, :]].reshape((K,) + tuple(batch) + event)


def proposal_log_qmix(proposal, samples, batch_shapes, perms, args, kwargs) -> dict:
    """``site -> (K, m)``: log q_mix of each sample ``k`` at each flat plate element."""
    names = list(samples)
    K = samples[names[0]].shape[0]
    tuples = {n: (_gather_perm(samples[n], perms[n], tuple(batch_shapes[n])) if n in perms
                  else jnp.broadcast_to(samples[n][:1], samples[n].shape))
              for n in names}

    def log_q(site, kp, k):
        vals = {n: tuples[n][kp] for n in names}
        vals[site] = samples[site][k]
        tr = handlers.trace(handlers.substitute(handlers.seed(proposal, 0), data=vals)).get_trace(
            *args, **kwargs)
        lp = tr[site]["fn"].log_prob(tr[site]["value"])
        return jnp.broadcast_to(lp, tuple(batch_shapes[site])).reshape(-1)

    out = {}
    ks = jnp.arange(K)
    for n in names:
        tbl = jax.vmap(lambda kp: jax.vmap(lambda k: log_q(n, kp, k))(ks))(ks)  # (K', K, m)
        out[n] = np.asarray(logsumexp(tbl, axis=0)) - math.log(K)
    return out


def enumerate_mp(
    model: Callable,
    guide: Optional[Callable],
    samples: dict,
    batch_shapes: dict,
    args: tuple = (),
    kwargs: Optional[dict] = None,
    perms: Optional[dict] = None,
) -> Enumerated:
    """Brute-force MP estimator from the K samples of each latent.

    Args:
        samples: ``site -> (K, *batch_shape, *event_shape)`` (``MPTrace.samples``).
        batch_shapes: ``site -> batch_shape`` (plate elements of each latent).
        perms: ``MPTrace.perms``: the pairing of parent samples used by the sampler.
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

    log_p = jax.vmap(joint)(values)  # (C,)
    proposal = model if guide is None else guide
    qmix = proposal_log_qmix(proposal, samples, batch_shapes, perms or {}, args, kwargs)
    log_qmix = np.concatenate([qmix[n].T for n in names], axis=0)  # (instances, K)
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
