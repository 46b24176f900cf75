"""Inference compilation and amortised IS on a Gamma-Poisson model (analytic evidence)."""
import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import pytest
from jax.scipy.special import gammaln

from jaxis.sbi import amortized_is, train_proposal

A, B = 2.0, 1.0
X_OBS = jnp.array([3.0, 1.0, 4.0, 2.0, 5.0])


def model(x=None):
    lam = numpyro.sample("lam", dist.Gamma(A, B))  # positive support: exp transform
    numpyro.sample("x", dist.Poisson(lam).expand([5]).to_event(1), obs=x)


def log_evidence(x):
    """Gamma-Poisson marginal: prod 1/x_i! * B^A / G(A) * G(A + sum x) / (B + n)^(A + sum x)."""
    n, s = x.shape[0], x.sum()
    return (-gammaln(x + 1).sum() + A * jnp.log(B) - gammaln(A) + gammaln(A + s)
            - (A + s) * jnp.log(B + n))


@pytest.fixture(scope="module")
def q():
    """A two-component mixture (the Gaussian head is its one-component case, same code)."""
    with jax.enable_x64(False):
        return train_proposal(jax.random.PRNGKey(0), model, 1000, X_OBS, num_components=2,
                              hidden=(32, 32), num_steps=500, batch_size=128)


@pytest.fixture(scope="module")
def runs(q):
    """200 independent runs of K = 100 for defensive shares 0 and 0.5 (one jit, vmapped)."""
    keys = jax.random.split(jax.random.PRNGKey(1), 200)
    return jax.jit(jax.vmap(jax.vmap(run, (None, 0, None)), (None, None, 0)))(
        q, keys, jnp.array([0.0, 0.5]))


def run(q, key, defensive, K=100):
    return amortized_is(key, model, q, X_OBS, K, X_OBS, defensive=defensive)


def test_evidence_is_unbiased(runs):
    """E[Z-hat / Z] = 1 over 200 independent runs (4 standard errors computed from them),
    for defensive shares 0 and 0.5. With ``defensive = 0`` this holds only if ``log q`` is
    the density the draws came from, the Jacobian of the log transform included."""
    lz = jax.vmap(jax.vmap(lambda ws: ws.log_evidence()))(runs)
    ratio = jnp.exp(lz - log_evidence(X_OBS))
    assert jnp.all(jnp.abs(ratio.mean(1) - 1) < 4 * ratio.std(1) / jnp.sqrt(200))


def test_proposal_density_integrates_to_one(q):
    """Quadrature of exp(log q(lam | x)) over lam > 0 (the change of variables checked)."""
    lam = jnp.linspace(1e-4, 30.0, 30_001)
    dens = jnp.exp(jax.jit(lambda q, lam: q.log_prob(lam, X_OBS))(q, lam))
    assert jnp.abs(jnp.trapezoid(dens, lam) - 1) < 1e-3


def test_diagnostics_of_a_good_proposal(runs):
    """The learned q is close to the posterior: mean ESS above K/2, a small Pareto k."""
    ws = jax.tree_util.tree_map(lambda a: a[1, 0], runs)  # defensive 0.5, the first seed
    assert ws.samples["lam"].shape == (100,) and jnp.all(ws.samples["lam"] > 0)
    ess = jax.vmap(jax.vmap(lambda w: w.ess()))(runs)
    assert jnp.all(ess.mean(1) > 0.5 * 100)
    assert ws.pareto_k().reliable


def test_density_on_the_support_edge_is_zero_and_nan_stays_nan(q):
    """lam = 0 maps to u = -inf (a float32-saturated draw lands there): q's density is the
    limit 0 there, not inf - inf = NaN; a NaN theta is not turned into a number."""
    log_q = q.log_prob(jnp.array([0.0, jnp.nan, 1.0]), X_OBS)
    assert log_q[0] == -jnp.inf and jnp.isnan(log_q[1]) and jnp.isfinite(log_q[2])


def test_bad_input(q):
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="defensive"):
        amortized_is(key, model, q, X_OBS, 10, X_OBS, defensive=1.5)
    with pytest.raises(ValueError, match="x_obs must have shape"):
        amortized_is(key, model, q, X_OBS[:3], 10, X_OBS)
    with pytest.raises(ValueError, match="num_components"):
        train_proposal(key, model, 10, X_OBS, num_components=0)

    def nuisance(x=None):
        lam = numpyro.sample("lam", dist.Gamma(A, B))
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
        numpyro.sample("x", dist.Poisson(lam * jnp.exp(0.0 * z)).expand([5]).to_event(1), obs=x)

    with pytest.raises(ValueError, match=r"latent sites \['z'\]"):
        amortized_is(key, nuisance, q, X_OBS, 10, X_OBS)
