"""numpyro's documented patterns, written here in numpyro's example style, against NUTS.

An AR(2) written as numpyro's ``ar2`` example (``scan`` over time, observations through
``handlers.condition``, a carry of observed values): MP IS posterior means of the
coefficients agree with NUTS within 4 standard errors, computed from the NUTS chain's
effective sample size and from the spread of MP IS over seeds.
"""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.contrib.control_flow import scan
from numpyro.infer import MCMC, NUTS

import jaxis
from tests import tiny_models as tm

Z_SE = 4.0


def ar2(y):
    alpha_1 = numpyro.sample("alpha_1", dist.Normal(0.0, 1.0))
    alpha_2 = numpyro.sample("alpha_2", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))

    def transition(carry, _):
        y_prev, y_prev_prev = carry
        y_t = numpyro.sample("y", dist.Normal(alpha_1 * y_prev + alpha_2 * y_prev_prev, sigma))
        return (y_t, y_prev), None

    with numpyro.handlers.condition(data={"y": y[2:]}):
        scan(transition, (y[1], y[0]), jnp.arange(y.shape[0] - 2))


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(3)
    y = [0.0, 0.5]
    for _ in range(38):
        y.append(0.6 * y[-1] - 0.3 * y[-2] + 0.8 * rng.normal())
    return jnp.asarray(y)


@pytest.mark.slow
def test_ar2_with_scan_matches_nuts(series):
    mcmc = MCMC(NUTS(ar2), num_warmup=500, num_samples=4000, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), series)
    draws = mcmc.get_samples()

    run = jaxis.mpis(ar2, K=20)
    fns = {n: (n, lambda v: v) for n in ("alpha_1", "alpha_2", "sigma")}
    keys = jax.random.split(jax.random.PRNGKey(1), 64)
    means = jax.vmap(lambda k: jaxis.moments(run(k, series), fns))(keys)
    for name in fns:
        d = np.asarray(draws[name])
        ess = float(numpyro.diagnostics.effective_sample_size(d[None]))
        se_nuts = d.std() / np.sqrt(ess)
        m = np.asarray(means[name])
        se_mp = m.std(ddof=1) / np.sqrt(m.size)
        assert abs(m.mean() - d.mean()) < Z_SE * np.hypot(se_nuts, se_mp), (
            name, m.mean(), d.mean(), se_nuts, se_mp)


def test_condition_on_part_of_a_scan_series_is_named(series):
    def ar1_partly_observed(y):
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))

        def transition(carry, _):
            y_t = numpyro.sample("y", dist.Normal(0.5 * carry, sigma))
            return y_t, None

        with numpyro.handlers.condition(data={"y": y[2:5]}):  # 3 of 38 steps
            scan(transition, y[1], jnp.arange(y.shape[0] - 2))

    with pytest.raises(ValueError, match=r"scan site 'y' a value of shape \(3,\).*length 38"):
        jaxis.mpis(ar1_partly_observed, K=3)(jax.random.PRNGKey(0), series)


@pytest.mark.parametrize("handler", ["mask", "scale"])
def test_mask_or_scale_around_a_scan_is_rejected(handler):
    """Body sites are scored inside the scan: an outer handler would be silently lost."""
    wrapped = (numpyro.handlers.mask(tm.markov_chain, mask=False) if handler == "mask"
               else numpyro.handlers.scale(tm.markov_chain, scale=3.0))
    with pytest.raises(ValueError, match=f"handlers.{handler} around a scan"):
        jaxis.mpis(wrapped, K=3)(jax.random.PRNGKey(0), jnp.arange(4.0))
