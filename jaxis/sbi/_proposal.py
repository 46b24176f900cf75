"""An amortised proposal ``q_phi(theta | x)``: a Gaussian-mixture head on an MLP.

Each parameter site is mapped to the real line, ``u = T^{-1}(theta)`` with
``T = biject_to(support)``; the flattened ``u`` is z-scored, ``v = (u - m) / s``, and

    q(v | x) = sum_c pi_c(x) N(v; mu_c(x), L_c(x) L_c(x)^T)

with ``(logits pi, mu, L)`` read off one MLP of the z-scored ``x``; ``L_c`` is lower
triangular with a softplus diagonal. The density of ``theta`` accounts for both maps:

    log q(theta | x) = log q(v | x) - sum log s - log |det J_T(u)|.

Training maximises ``E_{p(theta, x)}[log q(theta | x)]`` on prior-predictive pairs, which
is ``E_x[KL(p(theta | x) || q(theta | x))]`` up to a constant: inference compilation.

Reference: Le, Baydin, Wood (2017), *Inference compilation and universal probabilistic
programming*; Papamakarios, Murray (2016), *Fast epsilon-free inference of simulation
models with Bayesian conditional density estimation* (the mixture-density head).
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import optax
from numpyro import handlers
from numpyro.distributions.transforms import biject_to

from ._mlp import Standardizer, apply_mlp, fit, init_mlp
from ._simulator import SimulatorSpec, simulate, simulator_spec

Array = jax.Array


def _head(params, x: Array, dim: int, num_components: int):
    """Mixture log weights ``(..., C)``, means ``(..., C, d)``, Cholesky factors ``(..., C, d, d)``.
    """
    out = apply_mlp(params, x)
    c, d = num_components, dim
    logits, rest = out[..., :c], out[..., c:]
    means = rest[..., :c * d].reshape(out.shape[:-1] + (c, d))
    tril = rest[..., c * d:].reshape(out.shape[:-1] + (c, d * (d + 1) // 2))
    rows, cols = jnp.tril_indices(d)
    chol = jnp.zeros(out.shape[:-1] + (c, d, d), out.dtype).at[..., rows, cols].set(tril)
    diag = jax.nn.softplus(jnp.diagonal(chol, axis1=-2, axis2=-1)) + 1e-4
    chol = chol.at[..., jnp.arange(d), jnp.arange(d)].set(diag)
    return jax.nn.log_softmax(logits, axis=-1), means, chol


def _mixture_log_prob(logits: Array, means: Array, chol: Array, v: Array) -> Array:
    """``log sum_c pi_c N(v; mu_c, L_c L_c^T)`` for ``v`` of shape ``(..., d)``."""
    d = v.shape[-1]
    white = jax.scipy.linalg.solve_triangular(chol, (v[..., None, :] - means)[..., None],
                                              lower=True)[..., 0]
    log_det = jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    comp = -0.5 * jnp.sum(white**2, -1) - log_det - 0.5 * d * jnp.log(2 * jnp.pi)
    return jax.nn.logsumexp(logits + comp, axis=-1)


@jax.tree_util.register_pytree_node_class
class Proposal:
    """A trained ``q(theta | x)``: :meth:`log_prob` and :meth:`sample` (a pytree)."""

    def __init__(self, params: list, x_scale: Standardizer, u_scale: Standardizer,
                 spec: SimulatorSpec, u_spec: SimulatorSpec, transforms: tuple,
                 num_components: int, losses: Optional[Array] = None):
        self.params, self.x_scale, self.u_scale = params, x_scale, u_scale
        self.spec, self.u_spec, self.transforms = spec, u_spec, transforms
        self.num_components = num_components
        self.losses = losses  # the training loss at each step

    def _to_u(self, theta) -> tuple[Array, Array]:
        """Flat unconstrained ``u`` and ``log |det J_T(u)|`` for constrained ``theta``."""
        theta = theta if isinstance(theta, Mapping) else {self.spec.theta_sites[0]: theta}
        us, log_det = {}, 0.0
        for site, shape, t in zip(self.spec.theta_sites, self.spec.theta_shapes, self.transforms):
            value = jnp.asarray(theta[site])
            batch = value.shape[:value.ndim - len(shape)]
            us[site] = t.inv(value)
            ldj = t.log_abs_det_jacobian(us[site], value)
            log_det = log_det + jnp.sum(ldj.reshape(batch + (-1,)), axis=-1)
        return self.u_spec.flat_theta(us), log_det

    def _from_u(self, u: Array) -> dict[str, Array]:
        us = self.u_spec.unflat_theta(u)
        return {s: t(us[s]) for s, t in zip(self.spec.theta_sites, self.transforms)}

    def log_prob(self, theta, x: Array) -> Array:
        """``log q(theta | x)`` for theta ``{site: (..., *shape)}`` and x ``(..., *x_shape)``."""
        u, log_det = self._to_u(theta)
        head = _head(self.params, self.x_scale(self.spec.flat_x(x)), u.shape[-1],
                     self.num_components)
        log_q = _mixture_log_prob(*head, self.u_scale(u)) - jnp.sum(jnp.log(self.u_scale.std))
        # theta on the support's edge (u = +-inf, e.g. a float32-saturated draw): the density
        # there is the limit q_u(u) / |J(u)| -> 0, not inf - inf; a NaN theta stays NaN.
        edge = jnp.any(jnp.isinf(u), -1) & ~jnp.any(jnp.isnan(u), -1)
        return jnp.where(edge, -jnp.inf, log_q - log_det)

    def sample(self, rng_key: Array, x: Array, num_samples: int) -> dict[str, Array]:
        """``num_samples`` draws ``theta ~ q(theta | x)`` for one ``x``: dict site -> ``(N, ...)``.
        """
        x = jnp.asarray(x)
        if x.shape != self.spec.x_shape:
            raise ValueError(
                f"x must have shape {self.spec.x_shape} (one data set); got {x.shape}."
            )
        d = self.u_spec.theta_dim
        logits, means, chol = _head(self.params, self.x_scale(self.spec.flat_x(x)), d,
                                    self.num_components)
        k_c, k_z = jax.random.split(rng_key)
        comp = jax.random.categorical(k_c, logits, shape=(int(num_samples),))
        z = jax.random.normal(k_z, (int(num_samples), d), means.dtype)
        v = means[comp] + jnp.einsum("nij,nj->ni", chol[comp], z)
        return self._from_u(self.u_scale.inverse(v))

    def tree_flatten(self):
        return ((self.params, self.x_scale, self.u_scale, self.transforms, self.losses),
                (self.spec, self.u_spec, self.num_components))

    @classmethod
    def tree_unflatten(cls, aux, children):
        params, x_scale, u_scale, transforms, losses = children
        spec, u_spec, num_components = aux
        return cls(params, x_scale, u_scale, spec, u_spec, transforms, num_components, losses)


def train_proposal(
    rng_key: Array,
    model: Callable,
    num_simulations: int,
    *args,
    optimizer: optax.GradientTransformation = optax.adam(1e-3),
    num_components: int = 1,
    hidden: Sequence[int] = (64, 64),
    num_steps: int = 3000,
    batch_size: int = 256,
    theta_sites: Optional[Sequence[str]] = None,
    x_site: Optional[str] = None,
    **kwargs,
) -> Proposal:
    """Fit ``q(theta | x)`` by maximum likelihood on prior-predictive draws.

    ``num_components = 1`` is a full-covariance Gaussian in the unconstrained space; more
    components give a Gaussian mixture. Other arguments as in :func:`train_nre`. Returns
    the :class:`Proposal`; ``q.losses`` holds the loss at each training step.

    Example (schematic)::

        q = train_proposal(key, model, 10_000)
        ws = amortized_is(key, model, q, x_obs, 10_000)
    """
    if int(num_components) < 1:
        raise ValueError(f"num_components must be >= 1; got {num_components}.")
    spec = simulator_spec(model, args, kwargs, theta_sites, x_site)
    trace = handlers.trace(handlers.seed(model, 0)).get_trace(*args, **kwargs)
    transforms = tuple(biject_to(trace[s]["fn"].support) for s in spec.theta_sites)
    u_shapes = tuple(tuple(t.inverse_shape(shape))
                     for t, shape in zip(transforms, spec.theta_shapes))
    u_spec = spec._replace(theta_shapes=u_shapes)
    k_sim, k_init, k_fit = jax.random.split(rng_key, 3)
    theta, x = simulate(k_sim, model, spec, num_simulations, args, kwargs)
    stub = Proposal(None, None, None, spec, u_spec, transforms, int(num_components))
    u, _ = stub._to_u(theta)
    x = spec.flat_x(x)
    x_scale, u_scale = Standardizer.fit(x), Standardizer.fit(u)
    d, c = u.shape[-1], int(num_components)
    params = init_mlp(k_init, (x.shape[-1], *hidden, c + c * d + c * d * (d + 1) // 2))

    def loss(p, key, batch):
        v, xb = batch
        return -jnp.mean(_mixture_log_prob(*_head(p, xb, d, c), v))

    params, info = jax.jit(fit, static_argnums=(1, 4, 5, 6))(
        k_fit, loss, params, (u_scale(u), x_scale(x)), optimizer, int(num_steps),
        int(batch_size))
    return Proposal(params, x_scale, u_scale, spec, u_spec, transforms, c, info.losses)

