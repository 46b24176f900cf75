"""Neural ratio estimation: a classifier that learns ``log r(theta, x) = log p(x | theta) / p(x)``.

Pairs ``(theta_i, x_i)`` from the prior predictive are *joint* draws; pairing ``x_i`` with
another draw's ``theta_j`` gives *marginal* draws ``p(theta) p(x)``. With the network's
output ``f(theta, x)``:

- **NRE-A** (Hermans et al. 2020) minimises the binary cross-entropy
  ``E_joint[softplus(-f)] + E_marginal[softplus(f)]``; the optimum is ``f = log r``.
- **NRE-B** (Durkan et al. 2020) is contrastive over ``K`` atoms, the true ``theta_i`` and
  ``K - 1`` others: ``E[-f(theta_i, x_i) + logsumexp_k f(theta_k, x_i)]``; the optimum is
  ``f = log r + c(x)``, exact up to a function of ``x`` alone (which cancels in a posterior
  given one ``x``, but not in an evidence).
- **Balanced NRE** (Delaunoy et al. 2022) adds ``lambda (E_joint[s(f)] + E_marginal[s(f)] -
  1)^2`` (``s`` the logistic function) to NRE-A, which pushes the classifier towards
  conservative (not over-confident) posteriors.

The posterior is ``p(theta | x) = p(theta) r(theta, x)``: :func:`nre_posterior` weights
prior draws by ``r`` (a :class:`jaxis.WeightedSamples`), and inside a numpyro model
``numpyro.factor("log_r", ratio(theta, x_obs))`` turns the prior into the posterior for NUTS.

References: Hermans, Begy, Louppe (2020), *Likelihood-free MCMC with amortized approximate
ratio estimators*; Durkan, Murray, Papamakarios (2020), *On contrastive learning for
likelihood-free inference*; Delaunoy et al. (2022), *Towards reliable simulation-based
inference with balanced neural ratio estimation*.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import optax

from ..weighted import WeightedSamples
from ._mlp import Standardizer, apply_mlp, fit, init_mlp
from ._simulator import SimulatorSpec, simulate, simulator_spec

Array = jax.Array
METHODS = ("A", "B", "balanced")


@jax.tree_util.register_pytree_node_class
class Ratio:
    """A trained log ratio ``log r(theta, x)``: MLP on z-scored ``(theta, x)``.

    ``ratio(theta, x)`` takes ``theta`` as a dict site -> ``(..., *shape)`` (or one site's
    array) and ``x`` of shape ``(..., *x_shape)``; the batch shapes broadcast. It is a
    pytree, so it can be passed through ``jax.jit`` and ``jax.vmap``.
    """

    def __init__(self, params: list, theta_scale: Standardizer, x_scale: Standardizer,
                 spec: SimulatorSpec, losses: Optional[Array] = None):
        self.params, self.theta_scale, self.x_scale, self.spec = params, theta_scale, x_scale, spec
        self.losses = losses  # the training loss at each step

    def __call__(self, theta, x: Array) -> Array:
        t = self.theta_scale(self.spec.flat_theta(theta))
        u = self.x_scale(self.spec.flat_x(x))
        batch = jnp.broadcast_shapes(t.shape[:-1], u.shape[:-1])
        t = jnp.broadcast_to(t, batch + t.shape[-1:])
        u = jnp.broadcast_to(u, batch + u.shape[-1:])
        return apply_mlp(self.params, jnp.concatenate([t, u], axis=-1))[..., 0]

    def tree_flatten(self):
        return (self.params, self.theta_scale, self.x_scale, self.losses), self.spec

    @classmethod
    def tree_unflatten(cls, spec, children):
        params, theta_scale, x_scale, losses = children
        return cls(params, theta_scale, x_scale, spec, losses)


def nre_loss(logits: Callable[[Array, Array], Array], rng_key: Array,
             batch: tuple[Array, Array], *, method: str = "A", num_atoms: int = 10,
             balance: float = 100.0) -> Array:
    """The NRE-A / NRE-B / balanced NRE loss of a classifier ``logits(theta, x) -> f``.

    ``batch = (theta (B, d), x (B, e))`` are joint pairs; ``logits`` maps ``(..., d)`` and
    ``(..., e)`` to ``(...)``. Marginal pairs (and NRE-B's atoms) pair ``x_i`` with the
    ``theta`` of other rows, ``theta_{(i + s) mod B}`` for random shifts ``s != 0``.
    """
    theta, x = batch
    size = theta.shape[0]
    if method == "B":
        shifts = jax.random.choice(rng_key, jnp.arange(1, size), (num_atoms - 1,), replace=False)
        others = jax.vmap(lambda s: jnp.take(theta, (jnp.arange(size) + s) % size, axis=0))(shifts)
        atoms = jnp.concatenate([theta[None], others], axis=0)  # (K, B, d)
        f = logits(atoms, jnp.broadcast_to(x, (num_atoms,) + x.shape))
        return jnp.mean(jax.nn.logsumexp(f, axis=0) - f[0])
    shift = jax.random.randint(rng_key, (), 1, size)
    f_joint = logits(theta, x)
    f_marg = logits(jnp.take(theta, (jnp.arange(size) + shift) % size, axis=0), x)
    loss = jnp.mean(jax.nn.softplus(-f_joint)) + jnp.mean(jax.nn.softplus(f_marg))
    if method == "balanced":
        gap = jnp.mean(jax.nn.sigmoid(f_joint)) + jnp.mean(jax.nn.sigmoid(f_marg)) - 1.0
        loss = loss + balance * gap**2
    return loss


def train_nre(
    rng_key: Array,
    model: Callable,
    num_simulations: int,
    *args,
    optimizer: optax.GradientTransformation = optax.adam(1e-3),
    method: str = "A",
    num_atoms: int = 10,
    balance: float = 100.0,
    hidden: Sequence[int] = (64, 64),
    num_steps: int = 3000,
    batch_size: int = 256,
    validation_fraction: float = 0.0,
    theta_sites: Optional[Sequence[str]] = None,
    x_site: Optional[str] = None,
    **kwargs,
) -> Ratio:
    """Train a neural ratio estimator on ``num_simulations`` prior-predictive draws.

    Args:
        rng_key: PRNG key (simulations, initialisation, minibatches).
        model: the numpyro model; ``*args, **kwargs`` are passed to it.
        num_simulations: number of ``(theta, x)`` draws from the prior predictive.
        optimizer: any optax optimiser.
        method: ``"A"`` (binary classifier), ``"B"`` (contrastive, ``num_atoms`` atoms) or
            ``"balanced"`` (NRE-A plus ``balance`` times the balancing penalty).
        hidden: widths of the hidden layers (SiLU activations).
        num_steps, batch_size: minibatch optimiser steps and their size. The default suits
            smooth posteriors; sharp ones need more (two_moons at 10,000 simulations:
            C2ST 0.84 after 3000 steps, 0.60 after 30,000; ``bench_sbi_c2st.py``), while
            30,000 steps overfit gaussian_linear (10-d) unless ``validation_fraction`` is set.
        validation_fraction: share of the simulations held out; if positive, the network
            with the lowest held-out loss (scored every 100 steps) is returned, as sbi's
            early stopping (which holds out 0.1).
        theta_sites, x_site: the parameter sites and the data site (see ``simulator_spec``).

    Returns:
        The :class:`Ratio`; ``ratio.losses`` holds the loss at each training step.

    Example (schematic)::

        ratio = train_nre(key, model, 10_000, method="B")
        ws = nre_posterior(key, ratio, model, x_obs, 100_000)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if method == "B" and not 2 <= int(num_atoms) <= int(batch_size):
        raise ValueError(f"num_atoms must be in [2, batch_size={batch_size}]; got {num_atoms}.")
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1); got {validation_fraction}.")
    spec = simulator_spec(model, args, kwargs, theta_sites, x_site)
    k_sim, k_init, k_fit = jax.random.split(rng_key, 3)
    theta, x = simulate(k_sim, model, spec, num_simulations, args, kwargs)
    theta, x = spec.flat_theta(theta), spec.flat_x(x)
    num_val = round(validation_fraction * int(num_simulations))
    cut = int(num_simulations) - num_val
    theta_scale, x_scale = Standardizer.fit(theta[:cut]), Standardizer.fit(x[:cut])
    scaled = theta_scale(theta), x_scale(x)
    train = tuple(a[:cut] for a in scaled)
    held_out = tuple(a[cut:] for a in scaled) if num_val > 0 else None
    params = init_mlp(k_init, (spec.theta_dim + spec.x_dim, *hidden, 1))

    def loss(p, key, batch):
        def logits(t, u):
            return apply_mlp(p, jnp.concatenate([t, u], axis=-1))[..., 0]

        return nre_loss(logits, key, batch, method=method, num_atoms=int(num_atoms),
                        balance=balance)

    params, info = jax.jit(fit, static_argnums=(1, 4, 5, 6))(
        k_fit, loss, params, train, optimizer, int(num_steps), int(batch_size), held_out)
    return Ratio(params, theta_scale, x_scale, spec, info.losses)


def nre_posterior(
    rng_key: Array,
    ratio: Ratio,
    model: Callable,
    x_obs: Array,
    num_samples: int,
    *args,
    **kwargs,
) -> WeightedSamples:
    """Prior draws weighted by the learned ratio: ``log_weights = log r(theta_n, x_obs) - log N``.

    Self-normalised moments estimate the posterior's; ``log_evidence()`` estimates
    ``log E_prior[r(theta, x_obs)]``, which is 0 for an exact ratio (NRE-A) and is
    arbitrary for NRE-B (its ratio is known up to a function of ``x``).
    """
    theta, _ = simulate(rng_key, model, ratio.spec, num_samples, args, kwargs)
    return WeightedSamples.from_log_ratios(theta, ratio(theta, jnp.asarray(x_obs)))

