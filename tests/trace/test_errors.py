"""Bad input raises a ValueError naming the site and the fix, before any allocation."""
import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
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


def test_batch_dim_outside_plates():
    def model():
        numpyro.sample("w", dist.Normal(jnp.zeros(3), 1))

    with pytest.raises(ValueError, match=r"'w'.*to_event"):
        jaxis.mpis(model, K=2)(KEY)


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

    with pytest.raises(ValueError, match=r"'y'.*dim -1.*none of its plates"):
        jaxis.mpis(model, K=4)(KEY, jnp.zeros((2, 3)))


def test_observed_site_in_guide():
    def guide(y):
        numpyro.sample("a", dist.Normal(0, 1))
        numpyro.sample("b", dist.Normal(0, 1))
        numpyro.sample("y", dist.Normal(0, 1), obs=y)

    with pytest.raises(ValueError, match=r"Guide site 'y' is observed"):
        jaxis.mpis(two_latents, guide, K=2)(KEY, 1.0)


def test_memory_budget_names_the_largest_K():
    def model(y):
        a = numpyro.sample("a", dist.Normal(0, 1))
        b = numpyro.sample("b", dist.Normal(0, 1))
        c = numpyro.sample("c", dist.Normal(0, 1))
        numpyro.sample("y", dist.Normal(a + b + c, 1), obs=y)

    # the largest step grows like K^3; the error names the largest K that fits 8 kB
    run = jaxis.mpis(model, K=50, memory_budget=8_000)
    with pytest.raises(ValueError, match=r"K=50 needs about .* Use K <= \d+"):
        run(KEY, jnp.float32(1.0))
    K_max = int(__import__("re").search(r"K <= (\d+)", _message(run)).group(1))
    jaxis.mpis(model, K=K_max, memory_budget=8_000)(KEY, jnp.float32(1.0))
    with pytest.raises(ValueError):
        jaxis.mpis(model, K=K_max + 1, memory_budget=8_000)(KEY, jnp.float32(1.0))


def _message(run):
    try:
        run(KEY, jnp.float32(1.0))
    except ValueError as e:
        return str(e)
    raise AssertionError("expected a ValueError")
