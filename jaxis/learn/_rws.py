"""Reweighted wake-sleep as numpyro ``ELBO`` losses: ``RWS(K)`` (global IS), ``MPRWS(K)`` (MP).

RWS (Bornschein & Bengio 2015; Le et al. 2019) updates the model parameters ``theta`` by
ascending the importance-sampling estimate ``log P-hat`` and the guide parameters ``phi`` by
the wake-phase q update, ascending ``E_post[log q_phi(z)]`` under the self-normalised
importance posterior over the samples drawn:

    global:  d_phi = sum_k w-bar_k d log q(z_k),   w-bar_k = w_k / sum_k' w_k'
    MP:      d_phi = E_{MP post}[ sum_i d log q_mix(z_i^{k_i}) ]

where the MP posterior over index tuples is ``prod factors / P-hat`` (Heap, Leech, Aitchison
2023, *Massively parallel reweighted wake-sleep*, section 3) and ``q_mix`` is the density
each sample was drawn from (:mod:`jaxis.trace._mp_sample`). Both come from one identity:
with the draws held fixed, each latent factor carries ``-log q``, so

    d_phi log P-hat |_(draws fixed) = -E_post[ d_phi log q(z) ].

The loss is therefore ``-log P-hat`` evaluated with the guide's draws under
``stop_gradient`` and the guide's parameter values passed through a gradient flip
(identity forward, negated cotangent): its value is the bound, its gradient in a model
parameter is ``-d log P-hat`` and in a guide parameter ``-E_post[d log q]``, the RWS
updates, from a single evaluation of ``P-hat``. Samples need no reparameterisation, so
discrete guide sites (Bernoulli, Categorical) are learned too. A parameter read by both
model and guide receives the sum of the two updates.

Example (numpyro's SVI loop trains the guide; MP IS then uses it at a larger K):
    >>> import jax, jax.numpy as jnp, numpyro, numpyro.distributions as dist, optax, jaxis
    >>> from numpyro.infer import SVI
    >>> from jaxis.models.gaussian_hierarchy import model, guide  # guide: mu, theta ~ N(loc, 1)
    >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
    >>> svi = SVI(model, guide, optax.adam(0.1), loss=jaxis.MPRWS(K=10))
    >>> res = svi.run(jax.random.PRNGKey(0), 20, y, progress_bar=False)
    >>> mpt = jaxis.mpis(model, guide, K=30, params=res.params)(jax.random.PRNGKey(1), y)
    >>> res.losses.shape, bool(jnp.isfinite(jaxis.log_evidence(mpt)))
    ((20,), True)
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from numpyro.distributions import Distribution
from numpyro.primitives import Messenger

from ..trace._global_is import global_is
from ._elbo import _ISBound, _MPBound

__all__ = ["RWS", "MPRWS"]


@jax.custom_vjp
def _flip(x: jax.Array) -> jax.Array:
    """The identity whose cotangent is negated."""
    return x


def _flip_fwd(x):
    return x, None


def _flip_bwd(_, g):
    return (jax.tree_util.tree_map(jnp.negative, g),)


_flip.defvjp(_flip_fwd, _flip_bwd)


class _HeldFixed(Distribution):
    """``base`` with ``stop_gradient`` draws: its log density keeps its parameters' gradient.

    ``has_rsample`` is True: the draws carry no gradient, so there is none to estimate by a
    score function (:func:`jaxis.trace._mp_sample.score_term` stays zero).
    """

    def __init__(self, base: Distribution):
        self.base = base
        super().__init__(base.batch_shape, base.event_shape)

    @property
    def support(self):
        return self.base.support

    @property
    def has_rsample(self) -> bool:
        return True

    @property
    def has_enumerate_support(self) -> bool:
        return self.base.has_enumerate_support

    def enumerate_support(self, expand: bool = True):
        return self.base.enumerate_support(expand)

    def sample(self, key, sample_shape=()):
        return jax.lax.stop_gradient(self.base.sample(key, sample_shape))

    def log_prob(self, value):
        return self.base.log_prob(value)


class _Wake(Messenger):
    """Hold the guide's draws fixed and flip the gradient of its parameter values.

    Placed outside the substitution of the trained values (its ``process_message`` runs
    after it), so the flipped value is the one every later handler and replay sees.
    """

    def process_message(self, msg):
        if msg["type"] == "param" and msg["value"] is not None:
            msg["value"] = jax.tree_util.tree_map(_flip, msg["value"])
        elif msg["type"] == "sample" and not msg["is_observed"] and msg["value"] is None:
            msg["fn"] = _HeldFixed(msg["fn"])


def wake_guide(guide: Callable) -> Callable:
    """``guide`` under :class:`_Wake`, with a fresh handler per call (the MP sampler
    replays the proposal while it runs, and a handler may not sit twice on the stack)."""
    return lambda *args, **kwargs: _Wake(guide)(*args, **kwargs)


class RWS(_ISBound):
    """Global-IS reweighted wake-sleep with K joint samples: value ``-log P-hat``, gradient
    ``-d log P-hat`` for model parameters and ``-sum_k w-bar_k d log q(z_k)`` for guide ones."""

    can_infer_discrete = True  # discrete guide sites are learned: no reparameterisation

    def _log_z_hat(self, model, guide, rng_key, args, kwargs):
        run = global_is(model, wake_guide(guide), K=self.K, check_memory=False)
        return run(rng_key, *args, **kwargs).log_evidence()


class MPRWS(_MPBound):
    """Massively parallel reweighted wake-sleep with K samples per latent: value
    ``-log P-hat_MP``, gradient ``-d log P-hat_MP`` for model parameters and
    ``-E_{MP post}[d log q_mix]`` for guide parameters; ``mesh=`` as in ``mpis``."""

    can_infer_discrete = True  # discrete guide sites are learned: no reparameterisation

    def _log_z_hat(self, model, guide, rng_key, args, kwargs):
        from ..queries._moments import log_evidence  # queries build on the MP trace

        return log_evidence(self._mp_run(model, wake_guide(guide))(rng_key, *args, **kwargs))
