"""The pre-run check runs once per distinct argument values, compared by content."""
import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import jaxis


def model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def test_new_data_of_the_same_shape_are_checked_again():
    run = jaxis.mpis(model, K=3)
    key = jax.random.PRNGKey(0)
    y = np.array([0.2, -0.4, 1.1])
    run(key, y)
    run(key, y)  # same values: the check is skipped, the call still works
    with pytest.raises(ValueError, match="non-finite"):
        run(key, np.array([0.2, np.nan, 1.1]))
    y[1] = np.inf  # mutated in place: compared by content, not identity
    with pytest.raises(ValueError, match="non-finite"):
        run(key, y)
