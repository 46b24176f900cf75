"""Every ``python`` code block of README.md runs, in order, on a small model.

The blocks use names a reader would have in hand (a model, its arguments, samples with
their log densities, ...); ``NAMESPACE`` defines each of them on a tiny plated hierarchy
(``mu`` -> ``theta`` per group -> observations), so a snippet that does not match the
library's signatures fails here.
"""
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
import pytest

from tests.tiny_models import plated_hierarchy as model

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def _namespace() -> dict:
    y_all = jnp.array([[0.3, -0.1, 0.5, 0.2], [1.1, 0.9, 1.4, 1.0]])
    key = jax.random.PRNGKey(0)
    x = 2.0 * jax.random.normal(jax.random.PRNGKey(1), (200,))  # q = N(0, 2^2)
    normal = lambda v, m, s: dist.Normal(m, s).log_prob(v)
    return dict(
        model=model, guide=None, key=key, model_args=(y_all[:, :3],),
        train_args=(y_all[:, :3],), all_args=(y_all,), new_args=(y_all,),
        samples={"x": x}, log_q=normal(x, 0.0, 2.0), log_p=normal(x, 1.0, 1.0), n=100,
        old_log_prior=lambda s: normal(s["x"], 0.0, 3.0),
        new_log_prior=lambda s: normal(s["x"], 0.5, 1.0),
        # uniform prior on [-10, 10]: the volume inside the contour of x is |x| / 10
        log_likelihood=-0.5 * x**2, logX=jnp.log(jnp.abs(x) / 10.0),
        log_pop=normal(jnp.reshape(x[:150], (3, 50)), 0.2, 1.0), log_old=0.0,
    )


@pytest.mark.filterwarnings("ignore::UserWarning")  # arviz's notice on import
def test_every_python_block_of_the_readme_runs():
    assert len(BLOCKS) >= 3
    namespace = _namespace()
    for i, block in enumerate(BLOCKS):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as error:  # name the block that does not run
            raise AssertionError(f"README python block {i + 1} fails:\n{block}") from error
