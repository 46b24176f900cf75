"""numpyro autoguides as MP IS proposals: ``jaxis.mpis(model, AutoNormal(model), K)``.

AutoNormal proposes a constrained latent (a scale) through ``biject_to(support)``; the
oracle is log Z by numerical quadrature over the scale, and the MP estimate Z-hat must be
unbiased: ``E[Z-hat / Z] = 1`` within 4 standard errors over vmapped seeds.
"""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from numpyro.infer import SVI
from numpyro.infer.autoguide import AutoNormal

import jaxis

Y = jnp.array([0.8, -1.9, 0.4])


def model(y):
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, s), obs=y)


def quadrature_log_z() -> float:
    s = np.linspace(1e-4, 12.0, 4001)[:, None]
    mu = np.linspace(-8.0, 8.0, 1601)[None, :]
    y = np.asarray(Y)[:, None, None]
    log_lik = (-0.5 * ((y - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)).sum(0)
    log_prior = (np.log(2 / np.pi) / 2 - 0.5 * s**2) + (-0.5 * mu**2 - 0.5 * np.log(2 * np.pi))
    dens = np.exp(log_lik + log_prior)
    return float(np.log(np.trapezoid(np.trapezoid(dens, mu[0], axis=1), s[:, 0])))


def test_uninitialised_autonormal_is_an_unbiased_mp_proposal():
    guide = AutoNormal(model, init_scale=0.5)  # first called inside jaxis
    run = jaxis.mpis(model, guide, K=4)
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    lz = np.asarray(jax.vmap(lambda k: jaxis.log_evidence(run(k, Y)))(keys), np.float64)
    ratio = np.exp(lz - quadrature_log_z())
    se = ratio.std() / np.sqrt(ratio.size)
    assert abs(ratio.mean() - 1.0) < 4 * se, (ratio.mean(), se)


@pytest.mark.slow
@pytest.mark.parametrize("loss", [jaxis.MPELBO(K=4), jaxis.MPRWS(K=4)], ids=["MPELBO", "MPRWS"])
def test_autonormal_trained_with_svi_feeds_mpis(loss):
    guide = AutoNormal(model)
    res = SVI(model, guide, optax.adam(0.05), loss=loss).run(
        jax.random.PRNGKey(1), 30, Y, progress_bar=False)
    assert np.all(np.isfinite(res.losses))
    mpt = jaxis.mpis(model, guide, K=4, params=res.params)(jax.random.PRNGKey(2), Y)
    assert np.isfinite(float(jaxis.log_evidence(mpt)))


def test_uninitialised_autoguide_under_jit_is_a_named_error():
    guide = AutoNormal(model)
    run = jaxis.mpis(model, guide, K=4)
    with pytest.raises(ValueError, match="AutoNormal is not initialised"):
        jax.jit(lambda y: jaxis.log_evidence(run(jax.random.PRNGKey(0), y)))(Y)
