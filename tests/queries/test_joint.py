"""Joint marginals, conditionals and ESS against enumeration."""
import jax
import numpy as np

import jaxis
from tests import oracles
from tests.tiny_models import CASES


def _setup(case, seed=0):
    model, guide, args, K = CASES[case]
    mpt = jaxis.mpis(model, guide, K=K)(jax.random.PRNGKey(seed), *args)
    batch = {l.name: l.batch_shape for l in mpt.graph.latents}
    return mpt, oracles.enumerate_mp(model, guide, mpt.samples, batch, args, perms=mpt.perms)


def test_joint_marginal_of_child_and_parent():
    mpt, en = _setup("plated_prior")
    jm = jaxis.joint_marginals(mpt, "theta")
    assert jm.kvars == ("theta", "mu") and jm.plates == ("groups",)
    K = mpt.K
    cols = {inst: j for j, inst in enumerate(en.instances)}
    for g in range(2):
        expected = np.zeros((K, K))
        np.add.at(expected, (en.combos[:, cols[("theta", g)]], en.combos[:, cols[("mu", 0)]]),
                  en.weights)
        np.testing.assert_allclose(jm.probs[..., g], expected, atol=1e-10)
    cond = jaxis.conditionals(mpt, "theta")
    np.testing.assert_allclose(cond.probs.sum(0), 1.0, atol=1e-10)


def test_ess_per_site_and_overall():
    mpt, en = _setup("explaining_away", 1)
    ess = jaxis.ess(mpt)
    for name in ("a", "b"):
        w = oracles.marginal(en, name, mpt.K, ())
        np.testing.assert_allclose(ess[name], 1.0 / np.sum(w**2), rtol=1e-10)
    np.testing.assert_allclose(jaxis.mp_ess(mpt), 1.0 / np.sum(en.weights**2), rtol=1e-8)
