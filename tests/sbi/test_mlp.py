"""The MLP, z-scoring and the optax loop: shapes, errors, jit/vmap, and least squares."""
import jax
import jax.numpy as jnp
import optax
import pytest

from jaxis.sbi import Standardizer, apply_mlp, fit, init_mlp


def test_shapes_and_initial_scale():
    params = init_mlp(jax.random.PRNGKey(0), (3, 16, 2))
    assert [w.shape for w, _ in params] == [(3, 16), (16, 2)]
    x = jnp.ones((5, 7, 3))
    assert apply_mlp(params, x).shape == (5, 7, 2)
    assert jax.jit(apply_mlp)(params, x).shape == (5, 7, 2)


def test_bad_input():
    with pytest.raises(ValueError, match="sizes"):
        init_mlp(jax.random.PRNGKey(0), (3,))
    with pytest.raises(ValueError, match="trailing size 3"):
        apply_mlp(init_mlp(jax.random.PRNGKey(0), (3, 2)), jnp.ones(4))
    with pytest.raises(ValueError, match="N >= 2"):
        Standardizer.fit(jnp.ones(4))
    with pytest.raises(ValueError, match="leading size"):
        fit(jax.random.PRNGKey(0), lambda p, k, b: 0.0, {}, (jnp.ones(3), jnp.ones(4)),
            optax.adam(1e-3), 10)


def test_standardizer_moments_and_constant_column():
    data = jnp.stack([jnp.arange(10.0), jnp.full(10, 3.0)], axis=1)
    s = Standardizer.fit(data)
    z = s(data)
    assert jnp.allclose(z.mean(0), 0.0, atol=1e-12)
    assert jnp.allclose(z.std(0), jnp.array([1.0, 0.0]), atol=1e-12)
    assert jnp.allclose(s.inverse(z), data)
    assert jnp.allclose(jax.jit(lambda s, x: s(x))(s, data), z)  # a pytree


def test_fit_solves_least_squares_and_vmaps_over_seeds():
    """A linear model (no hidden layer) fitted to noiseless linear data by minibatch steps:
    every minibatch has zero loss at the truth, so the iterates converge to it exactly."""
    x = jax.random.normal(jax.random.PRNGKey(1), (200, 2))
    exact = jnp.array([1.5, -2.0, 0.3])
    y = x @ exact[:2] + exact[2]

    def loss(p, key, batch):
        xb, yb = batch
        return jnp.mean((apply_mlp(p, xb)[:, 0] - yb) ** 2)

    def train(key):
        p0 = init_mlp(key, (2, 1))
        return fit(key, loss, p0, (x, y), optax.sgd(0.1), 1000, batch_size=32)

    params, info = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(3), 3))
    (w, b), = params
    assert info.losses.shape == (3, 1000)
    assert jnp.allclose(w[..., 0], exact[:2], atol=1e-6)
    assert jnp.allclose(b[..., 0], exact[2], atol=1e-6)


def test_fit_with_validation_returns_the_best_held_out_parameters():
    """Noisy data: the returned parameters score exactly the lowest of the recorded
    held-out losses, and num_steps is rounded up to a multiple of eval_every."""
    key_x, key_n, key_v = jax.random.split(jax.random.PRNGKey(4), 3)
    x = jax.random.normal(key_x, (300, 2))
    y = x @ jnp.array([1.0, -1.0]) + jax.random.normal(key_n, (300,))
    train, held = (x[:200], y[:200]), (x[200:], y[200:])

    def loss(p, key, batch):
        xb, yb = batch
        return jnp.mean((apply_mlp(p, xb)[:, 0] - yb) ** 2)

    p0 = init_mlp(key_v, (2, 8, 1))
    params, info = jax.jit(fit, static_argnums=(1, 4, 5, 6, 8))(
        key_v, loss, p0, train, optax.adam(0.05), 960, 16, held, 50)
    assert info.losses.shape == (1000,) and info.val_losses.shape == (20,)
    assert jnp.allclose(loss(params, None, held), jnp.min(info.val_losses), rtol=1e-6)
