"""Moment functions must act per sample: a reduction over the samples is an error."""
import jax
import jax.numpy as jnp
import pytest

import jaxis
from tests.tiny_models import CASES


def _mpt():
    model, guide, args, K = CASES["plated_prior"]
    return jaxis.mpis(model, guide, K=K)(jax.random.PRNGKey(0), *args)


@pytest.mark.parametrize("fn", [
    lambda v: jnp.mean(v, axis=0, keepdims=True),
    lambda v: jnp.sum(v, axis=0, keepdims=True) ** 2,
    lambda v: jnp.max(v, axis=0, keepdims=True),
])
def test_moment_reducing_over_samples_is_rejected(fn):
    with pytest.raises(ValueError, match=r"moment 'mu'.*does not vary along the sample axis "
                                         r"of \['mu'\].*reduced over the samples"):
        jaxis.moments(_mpt(), {"mu": fn})


def test_moment_of_a_plated_site_reducing_over_samples_is_rejected():
    with pytest.raises(ValueError, match=r"moment 'theta'.*sample axis of \['theta'\]"):
        jaxis.moments(_mpt(), {"theta": lambda v: v.mean(0, keepdims=True)})


def test_moment_dropping_the_sample_axis_is_rejected():
    with pytest.raises(ValueError, match=r"moment 'mu'.*must act on each sample"):
        jaxis.moments(_mpt(), {"mu": lambda v: v.mean()})
