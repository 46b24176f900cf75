"""The marginalisation trick on Gaussians: keep phi, redraw eta, reweight per sample.

Old posterior ``N(0, [[1, rho], [rho, 1]])`` over ``(phi, eta)``, drawn exactly with equal
weights; ``eta`` is replaced by draws from ``g = N(0, 2^2)``; the old ``phi``-marginal is
``N(0, 1)`` (checked against quadrature). The target is ``c N((phi, eta); m, diag(s^2))``,
so ``log Z = log c`` and the target means are ``m``; 5 standard errors from the draws.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxis.transforms import log_marginal_quadrature, marginal_replace
from jaxis.weighted import WeightedSamples

RHO, G_SCALE, LOG_C = 0.6, 2.0, 0.7
M_T, S_T = np.array([0.3, -0.5]), np.array([0.8, 0.7])
NODES = jnp.linspace(-10.0, 10.0, 401)


def log_normal(x, m, s):
    return -0.5 * ((x - m) / s) ** 2 - 0.5 * jnp.log(2 * jnp.pi * s**2)


def log_old_joint(s):
    phi, eta = s["phi"], s["eta"]
    quad = (phi**2 - 2 * RHO * phi * eta + eta**2) / (1 - RHO**2)
    return -0.5 * quad - jnp.log(2 * jnp.pi) - 0.5 * jnp.log(1 - RHO**2)


def log_target(s):
    return LOG_C + log_normal(s["phi"], M_T[0], S_T[0]) + log_normal(s["eta"], M_T[1], S_T[1])


def log_old_marginal(s):
    return log_marginal_quadrature(
        log_old_joint, {"phi": s["phi"]}, site="eta", nodes=NODES,
        log_node_weights=jnp.full(NODES.shape, jnp.log(NODES[1] - NODES[0])),
    )


@jax.jit
def replaced(key):
    k_old, k_new = jax.random.split(key)
    n = 20_000
    z = jax.random.normal(k_old, (n, 2))
    phi = z[:, 0]
    eta = RHO * phi + jnp.sqrt(1 - RHO**2) * z[:, 1]
    ws = WeightedSamples.from_posterior({"phi": phi, "eta": eta})
    new_eta = G_SCALE * jax.random.normal(k_new, (n,))
    return ws, marginal_replace(
        ws, {"eta": new_eta},
        log_replacement_density=lambda s: log_normal(s["eta"], 0.0, G_SCALE),
        log_old_marginal=log_old_marginal,
        log_target=log_target,
    )


def test_quadrature_marginal_is_exact_for_gaussians():
    phi = jnp.linspace(-3.0, 3.0, 7)
    np.testing.assert_allclose(log_old_marginal({"phi": phi}), log_normal(phi, 0.0, 1.0), atol=1e-10)


def test_marginal_replace_matches_closed_forms():
    old, ws = replaced(jax.random.key(0))
    n = ws.num_samples
    np.testing.assert_array_equal(ws.samples["phi"], old.samples["phi"])
    log_r = np.asarray(ws.log_weights) + np.log(n)
    r = np.exp(log_r - log_r.max())
    se = r.std(ddof=1) / (np.sqrt(n) * r.mean())
    assert abs(float(ws.log_evidence()) - LOG_C) < 5 * se
    w = np.asarray(ws.normalized_weights())
    for site, truth in zip(("phi", "eta"), M_T):
        x = np.asarray(ws.samples[site])
        mean = float(np.sum(w * x))
        assert abs(mean - truth) < 5 * np.sqrt(np.sum(w**2 * (x - mean) ** 2))


def test_bad_inputs():
    ws = WeightedSamples.from_posterior({"phi": jnp.zeros(5), "eta": jnp.zeros(5)})
    ok = dict(log_replacement_density=jnp.zeros(5), log_old_marginal=jnp.zeros(5), log_target=jnp.zeros(5))
    with pytest.raises(ValueError, match="replacements\\['eta'\\] has 4 rows"):
        marginal_replace(ws, {"eta": jnp.zeros(4)}, **ok)
    with pytest.raises(ValueError, match="log_target"):
        marginal_replace(ws, {"eta": jnp.zeros(5)}, **{**ok, "log_target": jnp.zeros(3)})
    with pytest.raises(ValueError, match="log_node_weights must have shape \\(3,\\)"):
        log_marginal_quadrature(log_old_joint, {"phi": jnp.zeros(5)}, site="eta",
                                nodes=jnp.zeros(3), log_node_weights=jnp.zeros(2))
