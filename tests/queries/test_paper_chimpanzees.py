"""The paper's chimpanzee model on the paper's data: MP IS ELBO at K=5.

Published (Bowyer et al. 2023, Fig. 1; 100 runs): -401.5 ± 12.4 (mean ± s.e.). Our mean over
R runs must agree within 3 combined standard errors.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxis
from jaxis.models import chimpanzees as cm

datasets = pytest.importorskip("jaxis.datasets")


@pytest.fixture(scope="module")
def data():
    try:
        t = datasets.load_chimpanzees().train
    except (FileNotFoundError, ValueError) as e:
        pytest.skip(f"paper data not available: {e}")
    return tuple(jnp.asarray(t[k], jnp.float32) for k in ("condition", "prosoc_left", "obs"))


def test_elbo_k5_matches_paper(data, float32):
    R = 100
    run = jaxis.mpis(cm.model, cm.guide, K=5)
    f = jax.jit(jax.vmap(lambda k: jaxis.log_evidence(run(k, *data))))
    elbo = np.asarray(f(jax.random.split(jax.random.PRNGKey(0), R)))
    assert np.all(np.isfinite(elbo))
    se = elbo.std(ddof=1) / np.sqrt(R)
    combined = np.sqrt(se**2 + 12.4**2)
    assert abs(elbo.mean() - (-401.5)) < 3 * combined, (elbo.mean(), se)
    # and MP IS beats global IS at the same K by far (paper Fig. 1)
    g = jaxis.global_is(cm.model, cm.guide, K=5)
    gl = np.asarray(jax.jit(jax.vmap(lambda k: g(k, *data).log_evidence()))(
        jax.random.split(jax.random.PRNGKey(1), R)))
    assert elbo.mean() > gl.mean() + 3 * np.sqrt(se**2 + gl.var(ddof=1) / R)
