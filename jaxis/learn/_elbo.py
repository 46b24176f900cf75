"""Importance-weighted bounds as numpyro ``ELBO`` losses, for ``numpyro.infer.SVI``.

``MPELBO(K)`` is the massively parallel bound (Bowyer, Heap, Aitchison 2023, eq. 9 and
Sec. 4 "MP VI"):

    L_MP(phi, theta) = E_q[ log P_MP ],   P_MP = (1/K^n) sum_k p_theta(x, z^k) / prod_i q_phi(z_i^{k_i} | ...)

with every latent drawn K times from the guide (the prior without one) and the sum over
all K^n index combinations contracted exactly (``jaxis.mpis`` then ``jaxis.log_evidence``).
``IWELBO(K)`` is the global importance-weighted bound of Burda et al. 2016,
``E log (1/K) sum_k p(x, z_k) / q(z_k)``, from ``jaxis.global_is``. Both are lower bounds of
``log p(x)`` (Jensen), equal to the ELBO at ``K = 1``, and tight (zero variance) when the
guide is the exact posterior. Gradients are reparameterised: guide sites must have
``has_rsample`` distributions; parameters are ordinary ``numpyro.param`` sites (constraints
handled by numpyro), in the guide or the model.

Example (runnable versions in :class:`MPELBO` and :class:`IWELBO`)::

    svi = SVI(model, guide, optax.adam(0.03), loss=jaxis.MPELBO(K=10))
    res = svi.run(key, 2000, *args)
    mpt = jaxis.mpis(model, guide, K=30, params=res.params)(key, *args)
"""
from __future__ import annotations

from typing import Callable, Optional

import jax
from numpyro import handlers
from numpyro.infer.elbo import ELBO

from .._mpis import _check_K, mpis
from .._sharding import plate_sharding
from ..trace._global_is import global_is

__all__ = ["MPELBO", "IWELBO"]


class _ISBound(ELBO):
    """A numpyro ELBO whose loss is ``-log Z-hat`` of an importance-sampling estimator."""

    def __init__(self, K: int):
        super().__init__(num_particles=1)
        self.K = _check_K(K)

    def loss_with_mutable_state(self, rng_key, param_map, model, guide, *args, **kwargs):
        """``-log Z-hat`` of the subclass's estimator (``_log_z_hat``) at ``param_map``."""
        if guide is None:
            raise ValueError(f"{type(self).__name__}: SVI needs a guide to train; for MP IS "
                             "from the prior use jaxis.mpis(model, K=...) directly.")
        lz = self._log_z_hat(handlers.substitute(model, data=param_map),
                             handlers.substitute(guide, data=param_map), rng_key, args, kwargs)
        return {"loss": -lz, "mutable_state": None}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(K={self.K})"


class _MPBound(_ISBound):
    """A bound from one :func:`jaxis.mpis` run per step; ``mesh`` (a
    ``jax.sharding.Mesh``) splits a plate of each run over its devices, as in ``mpis``."""

    layout = "forward"  # mpis's layout= ("reverse" in MPELBO)

    def __init__(self, K: int, *, mesh: Optional[jax.sharding.Mesh] = None):
        super().__init__(K)
        plate_sharding(mesh, None)  # a ValueError naming mesh= if it is not a Mesh
        self.mesh = mesh

    def _mp_run(self, model: Callable, guide: Callable) -> Callable:
        return mpis(model, guide, K=self.K, check_memory=False, mesh=self.mesh,
                    layout=self.layout)


class MPELBO(_MPBound):
    """``-E_q log P_MP`` with K samples per latent: the MP bound as an SVI loss.

    ``log P_MP`` is the log of the MP estimate of ``p(x)`` from one :func:`jaxis.mpis` run
    of the guide (K samples per latent, all K^n combinations); each SVI step uses one run.
    ``MPELBO(K, mesh=mesh)`` splits a plate of each run over a device mesh (``mpis``'s
    ``mesh=``).

    Example:
        >>> import jax, jax.numpy as jnp, numpyro, numpyro.distributions as dist, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model, guide  # guide: mu, theta ~ N(loc, 1)
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> loss_fn = lambda params: jaxis.MPELBO(K=5).loss(
        ...     jax.random.PRNGKey(0), params, model, guide, y)       # -log P_MP, one run
        >>> loss, grad = jax.value_and_grad(loss_fn)({"loc": 0.0})
        >>> loss.shape, bool(jnp.isfinite(grad["loc"]))
        ((), True)

    Trained with SVI (``numpyro.infer.SVI``, any numpyro or optax optimiser), then MP IS
    with the trained guide::

        svi = SVI(model, guide, numpyro.optim.Adam(0.05), loss=jaxis.MPELBO(K=5))
        res = svi.run(jax.random.PRNGKey(0), 1000, y)
        mpt = jaxis.mpis(model, guide, K=10, params=res.params)(jax.random.PRNGKey(1), y)
    """

    layout = "reverse"  # reparameterised gradients: a reverse pass through the draws

    def _log_z_hat(self, model, guide, rng_key, args, kwargs):
        from ..queries._moments import log_evidence  # queries build on the MP trace

        mpt = self._mp_run(model, guide)(rng_key, *args, **kwargs)
        # log_evidence carries the score of discrete draws for d Z-hat; the bound needs
        # d log Z-hat + log Z-hat * dL instead (the same term, weighted by the value)
        lz = log_evidence(mpt) - mpt.score
        return lz + jax.lax.stop_gradient(lz) * mpt.score


class IWELBO(_ISBound):
    """``-E_q log (1/K) sum_k w_k``: the global importance-weighted bound as an SVI loss.

    ``w_k = p(x, z_k) / q(z_k)`` for K joint draws ``z_k ~ q`` (one :func:`jaxis.global_is`
    run of the guide per step).

    Example:
        >>> import jax, jax.numpy as jnp, numpyro, numpyro.distributions as dist, jaxis
        >>> from jaxis.models.gaussian_hierarchy import model, guide  # guide: mu, theta ~ N(loc, 1)
        >>> y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])  # 2 groups x 3 observations
        >>> loss = jaxis.IWELBO(K=100).loss(jax.random.PRNGKey(0), {"loc": 0.0}, model, guide, y)
        >>> loss.shape, bool(jnp.isfinite(loss))           # -log of a lower bound on p(y)
        ((), True)
    """

    def _log_z_hat(self, model, guide, rng_key, args, kwargs):
        run = global_is(model, guide, K=self.K, check_memory=False)
        return run(rng_key, *args, **kwargs).log_evidence()

