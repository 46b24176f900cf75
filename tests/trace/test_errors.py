"""Bad input raises a ValueError naming the site and the fix, before any allocation."""
import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import numpy as np
import pytest

import jaxis

KEY = jax.random.PRNGKey(0)


def two_latents(y):
    a = numpyro.sample("a", dist.Normal(0, 1))
    b = numpyro.sample("b", dist.Normal(a, 1))
    numpyro.sample("y", dist.Normal(b, 1), obs=y)


def test_guide_missing_a_latent():
    def guide(y):
        numpyro.sample("a", dist.Normal(0, 1))

    with pytest.raises(ValueError, match=r"does not sample .*'b'"):
        jaxis.mpis(two_latents, guide, K=3)(KEY, 1.0)


def test_guide_names_a_site_the_model_lacks():
    def guide(y):
        numpyro.sample("a", dist.Normal(0, 1))
        numpyro.sample("b", dist.Normal(0, 1))
        numpyro.sample("c", dist.Normal(0, 1))

    with pytest.raises(ValueError, match=r"'c'.*does not have"):
        jaxis.mpis(two_latents, guide, K=3)(KEY, 1.0)


def test_non_nested_plates():
    def model(y):
        with numpyro.plate("users", 3, dim=-2):
            u = numpyro.sample("u", dist.Normal(0, 1))
        with numpyro.plate("films", 4, dim=-1):
            f = numpyro.sample("f", dist.Normal(0, 1))
        with numpyro.plate("users", 3, dim=-2), numpyro.plate("films", 4, dim=-1):
            numpyro.sample("y", dist.Normal(u + f, 1), obs=y)

    with pytest.raises(ValueError, match=r"not nested.*'films'|'users'.*not nested"):
        jaxis.mpis(model, K=2)(KEY, jnp.zeros((3, 4)))


def test_shape_depending_on_a_sample():
    def model():
        n = numpyro.sample("n", dist.Poisson(3.0))
        numpyro.sample("x", dist.Normal(jnp.zeros(int(n)), 1).to_event(1))

    with pytest.raises(ValueError, match=r"after site 'n'.*depends on a sampled value"):
        jaxis.mpis(model, K=2)(KEY)


def test_improper_prior_as_proposal():
    def model():
        numpyro.sample("x", dist.ImproperUniform(dist.constraints.real, (), ()))

    with pytest.raises(ValueError, match=r"'x'.*improper"):
        jaxis.mpis(model, K=2)(KEY)


def test_improper_guide():
    def guide(y):
        numpyro.sample("a", dist.Normal(0, 1))
        numpyro.sample("b", dist.ImproperUniform(dist.constraints.real, (), ()))

    with pytest.raises(ValueError, match=r"'b'.*improper"):
        jaxis.mpis(two_latents, guide, K=2)(KEY, 1.0)


@pytest.mark.parametrize("K", [0, -3, 2.5, True, "10"])
def test_bad_K(K):
    with pytest.raises(ValueError, match="K must be a positive integer"):
        jaxis.mpis(two_latents, K=K)
    with pytest.raises(ValueError, match="K must be a positive integer"):
        jaxis.global_is(two_latents, K=K)


def test_non_finite_observed_data():
    def model(y):
        with numpyro.plate("n", 3):
            numpyro.sample("y", dist.Normal(numpyro.sample("m", dist.Normal(0, 1)), 1), obs=y)

    with pytest.raises(ValueError, match=r"'y' has 1 non-finite"):
        jaxis.mpis(model, K=2)(KEY, jnp.array([0.0, jnp.nan, 1.0]))


def test_batch_dim_outside_plates_is_one_block():
    """No longer an error: numpyro sums it, so it is one joint latent (test_batch_dims.py)."""
    def model():
        numpyro.sample("w", dist.Normal(jnp.zeros(3), 1))

    assert jaxis.mpis(model, K=2)(KEY).samples["w"].shape == (2, 3)


def test_dependence_on_plated_latent_outside_its_plate():
    def model(y):
        with numpyro.plate("p", 3):
            z = numpyro.sample("z", dist.Normal(0, 1))
        numpyro.sample("y", dist.Normal(z.sum(-1), 1), obs=y)

    with pytest.raises(ValueError, match=r"'y' uses the samples of latent 'z', but on dim -1"):
        jaxis.mpis(model, K=4)(KEY, 0.5)


def test_child_outside_parent_plate():
    def model(y):
        with numpyro.plate("p", 3, dim=-1):
            z = numpyro.sample("z", dist.Normal(0, 1))
        with numpyro.plate("q", 2, dim=-2):
            numpyro.sample("y", dist.Normal(z, 1), obs=y)

    # y's dim -1 is outside its plates: a block, summed as one site, so y depends on
    # every element of z jointly, from outside z's plate
    with pytest.raises(ValueError, match=r"'y' depends on latent 'z'.*plate\(s\) \['p'\]"):
        jaxis.mpis(model, K=4)(KEY, jnp.zeros((2, 3)))


def test_observed_site_in_guide():
    def guide(y):
        numpyro.sample("a", dist.Normal(0, 1))
        numpyro.sample("b", dist.Normal(0, 1))
        numpyro.sample("y", dist.Normal(0, 1), obs=y)

    with pytest.raises(ValueError, match=r"Guide site 'y' is observed"):
        jaxis.mpis(two_latents, guide, K=2)(KEY, 1.0)


def _plated_with_parent(obs_site):
    """m -> th (plate of 3) and an observation built by ``obs_site(th)`` outside the plate."""
    def model(y):
        m = numpyro.sample("m", dist.Normal(0, 1))
        with numpyro.plate("p", 3):
            th = numpyro.sample("th", dist.Normal(m, 1))
        obs_site(th, y)
    return model


@pytest.mark.parametrize("site, build", [
    ("y", lambda th, y: numpyro.sample("y", dist.Normal(th.sum(-1), 1), obs=y)),
    ("f", lambda th, y: numpyro.factor("f", -0.5 * ((th - y) ** 2).sum(-1))),
    ("y", lambda th, y: numpyro.sample(
        "y", dist.Normal(th[..., jnp.array([0, 2])], 1).to_event(1), obs=jnp.stack([y, y]))),
])
def test_plate_reduction_in_model_code_is_rejected_not_misread(site, build):
    """Reducing or indexing a plate dim shifts th's sample axis onto m's (same size K).

    Read with one K for all latents this looked like a dependence on m, and the estimate
    silently ignored th; sample axes are now identified by a distinct size per latent.
    """
    with pytest.raises(ValueError, match=rf"Site '{site}' uses the samples of latent 'th', but "
                                         r"on dim -\d instead of -3"):
        jaxis.mpis(_plated_with_parent(build), K=4)(KEY, 1.0)


def test_plate_reduction_inside_the_plate_is_rejected():
    def model():
        m = numpyro.sample("m", dist.Normal(0, 1))
        with numpyro.plate("p", 3):
            th = numpyro.sample("th", dist.Normal(m, 1))
            numpyro.factor("f", -0.5 * (th ** 2).sum(-1))

    with pytest.raises(ValueError, match=r"Site 'f' uses the samples of latent 'th'"):
        jaxis.mpis(model, K=4)(KEY)


@pytest.mark.parametrize("prior, proposal", [
    (dist.HalfNormal(1.0), dist.Normal(0.0, 1.0)),
    (dist.Poisson(3.0), dist.Normal(3.0, 1.0)),
    (dist.Beta(2.0, 2.0), dist.Uniform(0.0, 2.0)),
    (dist.Bernoulli(0.3), dist.Poisson(1.0)),
])
def test_guide_with_another_support_is_rejected(prior, proposal):
    def model():
        numpyro.sample("z", prior)

    def guide():
        numpyro.sample("z", proposal)

    with pytest.raises(ValueError, match=r"Guide site 'z' does not propose on the model's "
                                         r"support: the model's support is .* but the guide"):
        jaxis.mpis(model, guide, K=3)(KEY)


@pytest.mark.parametrize("prior, proposal", [
    (dist.HalfNormal(1.0), dist.LogNormal(0.0, 1.0)),
    (dist.Beta(2.0, 2.0), dist.Uniform(0.0, 1.0)),
    (dist.Bernoulli(0.3), dist.Categorical(jnp.array([0.5, 0.5]))),
    (dist.Exponential(1.0), dist.Gamma(2.0, 1.0)),
])
def test_guide_with_the_same_support_in_another_family_is_accepted(prior, proposal):
    def model():
        numpyro.sample("z", prior)

    def guide():
        numpyro.sample("z", proposal)

    assert np.isfinite(jaxis.log_evidence(jaxis.mpis(model, guide, K=3)(KEY)))


def test_subsampled_plate_holding_a_latent_is_rejected():
    def model(y):
        with numpyro.plate("data", 10, subsample_size=3) as idx:
            z = numpyro.sample("z", dist.Normal(0, 1))
            numpyro.sample("y", dist.Normal(z, 1), obs=y[idx])

    with pytest.raises(ValueError, match=r"'z' lies in plate 'data', which subsamples 3 of 10"):
        jaxis.mpis(model, K=3)(KEY, jnp.zeros(10))


def test_subsampled_data_plate_is_scaled_as_in_numpyro():
    """A latent-free subsampled plate: log p of the minibatch scaled by N / M, as numpyro."""
    def model(y):
        m = numpyro.sample("m", dist.Normal(0, 1))
        with numpyro.plate("data", 10, subsample_size=10):
            numpyro.sample("y", dist.Normal(m, 1), obs=y)

    def sub(y):
        m = numpyro.sample("m", dist.Normal(0, 1))
        with numpyro.plate("data", 20, subsample_size=10):
            numpyro.sample("y", dist.Normal(m, 1), obs=y)

    y = jnp.linspace(-1.0, 1.0, 10)
    full = jaxis.mpis(model, K=3)(KEY, y)
    half = jaxis.mpis(sub, K=3)(KEY, y)
    np.testing.assert_allclose(half.log_factors[1], 2.0 * full.log_factors[1], rtol=1e-12)
