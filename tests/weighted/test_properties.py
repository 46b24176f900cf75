"""Property suite for WeightedSamples (issue 10): log weights with random NaN / inf / -inf /
huge entries and sizes 0 to 50.

- no output is ever a finite number computed from a NaN input;
- ESS is in ``[1, N]`` or NaN;
- resampled indices have positive weight, and resampling keeps the evidence;
- where the weights can be normalised, the values match numpy references.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxis.weighted import WeightedSamples
from tests.strategies import PROPERTY, sizes, with_specials

NUM_DRAWS = 9


@jax.jit
def _everything(log_weights, key):
    n = log_weights.shape[0]
    ws = WeightedSamples({"i": jnp.arange(n), "x": jnp.sin(jnp.arange(n) + 1.0)}, log_weights)
    out = dict(log_z=ws.log_evidence(), ess=ws.ess(), w=ws.normalized_weights(),
               mean=ws.moments({"x": lambda v: v})["x"], bounds=ws.bounds())
    if n:
        draws = ws.resample(key, NUM_DRAWS)
        out.update(drawn=draws.samples["i"], drawn_x=draws.samples["x"],
                   resampled_log_z=draws.log_evidence())
    if n >= 10:
        out["khat"] = ws.pareto_k().khat
    return out


def _reference_log_z(x):
    with np.errstate(invalid="ignore"):  # inf - inf inside: NaN, as expected
        return np.logaddexp.reduce(x) if x.size else np.nan


def _normalisable(x):
    z = _reference_log_z(x)
    return bool(np.isfinite(z))


@PROPERTY
@given(st.data())
def test_weighted_samples_properties(data):
    x = data.draw(sizes().flatmap(lambda n: with_specials(n)))
    out = _everything(jnp.asarray(x), jax.random.key(data.draw(st.integers(0, 2**16))))
    leaves = [(jax.tree_util.keystr(p), np.asarray(v)) for p, v in
              jax.tree_util.tree_leaves_with_path(out)]
    n = x.size
    ess = float(out["ess"])
    assert np.isnan(ess) or 1.0 <= ess <= n
    if np.isnan(x).any():  # NaN in: nothing finite out (drawn indices are not estimates)
        for name, v in leaves:
            if name != "['drawn']":
                assert not np.isfinite(v).any(), name
        return
    np.testing.assert_allclose(float(out["log_z"]), _reference_log_z(x), rtol=1e-12)
    if _normalisable(x):
        w = np.exp(x - x.max())
        np.testing.assert_allclose(out["w"], w / w.sum(), rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(ess, w.sum() ** 2 / (w**2).sum(), rtol=1e-10)
        assert np.all(x[np.asarray(out["drawn"])] > -np.inf)  # drawn samples carry weight
    else:  # Z = 0, inf, or no samples: nothing can be normalised
        assert np.isnan(ess) and np.all(np.isnan(out["w"])) and np.isnan(out["mean"])
        if n:
            assert np.all(np.isnan(out["drawn_x"]))
    if n:
        np.testing.assert_allclose(out["resampled_log_z"], out["log_z"], rtol=1e-12)


@PROPERTY
@given(st.data())
def test_resample_outside_jit_raises_exactly_when_weights_cannot_be_normalised(data):
    x = data.draw(sizes(1, 7).flatmap(lambda n: with_specials(n)))
    ws = WeightedSamples({"x": jnp.arange(x.size)}, jnp.asarray(x))
    if _normalisable(x):
        drawn = np.asarray(ws.resample(jax.random.key(0), NUM_DRAWS).samples["x"])
        assert np.all(x[drawn] > -np.inf)
    else:
        with pytest.raises(ValueError, match="resample: log_weights sum to log Z"):
            ws.resample(jax.random.key(0), NUM_DRAWS)
