"""One result protocol: the query functions accept an MPTrace or a WeightedSamples."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

import jaxis
from tests.tiny_models import plated_hierarchy

LOG_W = np.array([-1.0, 0.5, 2.0, -3.0, 0.0])


def _ws():
    return jaxis.WeightedSamples({"x": jnp.arange(5.0), "y": jnp.ones((5, 2))}, jnp.asarray(LOG_W))


def test_log_evidence_and_ess_of_weighted_samples_match_their_definitions():
    ws = _ws()
    np.testing.assert_allclose(jaxis.log_evidence(ws), logsumexp(LOG_W), rtol=1e-6)
    np.testing.assert_allclose(jaxis.log_evidence(ws), ws.log_evidence())
    w = np.exp(LOG_W)
    kish = w.sum() ** 2 / (w**2).sum()
    per_site = jaxis.ess(ws)
    assert set(per_site) == {"x", "y"}
    for value in per_site.values():
        assert jnp.shape(value) == ()
        np.testing.assert_allclose(value, kish, rtol=1e-5)
    np.testing.assert_allclose(jaxis.joint_ess(ws), kish, rtol=1e-5)
    np.testing.assert_allclose(jaxis.joint_ess(ws), ws.ess())


def test_protocol_functions_are_jittable_for_both_result_types():
    ws = _ws()
    np.testing.assert_allclose(jax.jit(jaxis.log_evidence)(ws), logsumexp(LOG_W), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(jaxis.joint_ess)(ws), ws.ess(), rtol=1e-6)
    y = jnp.array([[0.3, -0.1, 0.5], [1.1, 0.9, 1.4]])
    mpt = jaxis.mpis(plated_hierarchy, K=4)(jax.random.PRNGKey(0), y)
    np.testing.assert_allclose(jax.jit(jaxis.log_evidence)(mpt), jaxis.log_evidence(mpt),
                               rtol=1e-6)
    # MPTrace: the per-site dict has each site's batch shape; the joint ESS is the MP ESS
    per_site = jaxis.ess(mpt)
    assert per_site["mu"].shape == () and per_site["theta"].shape == (2, 1)
    np.testing.assert_allclose(jaxis.joint_ess(mpt), jaxis.mp_ess(mpt))
    # the MP ESS is over the K^3 = 64 joint index combinations
    assert 1.0 <= float(jaxis.joint_ess(mpt)) <= 64.0


@pytest.mark.parametrize("fn", [jaxis.log_evidence, jaxis.ess, jaxis.joint_ess])
def test_a_wrong_result_type_is_named(fn):
    with pytest.raises(TypeError, match="expected an MPTrace .* or a WeightedSamples, got dict"):
        fn({"x": jnp.zeros(3)})


def test_mp_ess_of_weighted_samples_points_to_joint_ess():
    with pytest.raises(TypeError, match="for WeightedSamples use joint_ess"):
        jaxis.mp_ess(_ws())
