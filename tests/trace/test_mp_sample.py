"""jaxis.trace._mp_sample.materialise: an exact identity that XLA cannot fuse through."""
import re

import jax
import jax.numpy as jnp
import numpy as np

import jaxis
from jaxis.models import chimpanzees
from jaxis.trace._mp_sample import materialise


def test_materialise_is_the_identity_under_jit_vmap_and_grad():
    x = jnp.array([0.0, -0.0, 1.5, -jnp.inf, jnp.inf, 3e38])
    out = jax.jit(materialise)(x)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(jnp.signbit(out), jnp.signbit(x))  # -0.0 kept
    with_nan = x.at[2].set(jnp.nan)
    np.testing.assert_array_equal(jax.jit(materialise)(with_nan), with_nan)  # NaN stays NaN
    batch = jnp.stack([x, with_nan])
    np.testing.assert_array_equal(jax.vmap(materialise)(batch), batch)
    f = lambda t: jnp.sum(materialise(jnp.sin(t * jnp.arange(3.0))) ** 2)
    t = 0.7
    exact = jnp.sum(2 * jnp.sin(t * jnp.arange(3.0)) * jnp.cos(t * jnp.arange(3.0))
                    * jnp.arange(3.0))
    np.testing.assert_allclose(jax.grad(f)(t), exact, rtol=1e-6)
    np.testing.assert_allclose(jax.jacfwd(f)(t), exact, rtol=1e-6)


def test_draws_are_not_recomputed_inside_the_largest_factor(float32):
    # Regression (issue 15): XLA fused the Normal sampler (erf_inv's polynomial) into the
    # K^5 x 420 observation factor of the chimpanzee model, recomputing five draws per
    # factor element (about 10x the factor's own arithmetic). Data are jit arguments, as
    # in a user's pipeline (constant data are folded and fuse differently).
    K = 4
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    cond, pl, y = (jax.random.bernoulli(k, 0.5, (7, 6, 10)).astype(jnp.float32) for k in keys)
    run = jaxis.mpis(chimpanzees.model, chimpanzees.guide, K=K)
    fn = jax.jit(lambda key, *data: jaxis.log_evidence(run(key, *data)))
    text = fn.lower(jax.random.PRNGKey(0), cond, pl, y).compile().as_text()
    big = re.compile(rf"f32\[{K},{K},{K},{K},{K},7,6,10\]")
    on_factor = [c for c in re.split(r"\n(?=\S)", text) if big.search(c)]
    assert on_factor, "the test no longer finds the K^5 x 420 factor in the HLO"
    assert not any("erf_inv" in c for c in on_factor)
