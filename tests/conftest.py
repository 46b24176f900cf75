"""Strict, CPU-only test configuration.

x64 is on for the whole suite so that oracle comparisons can demand float precision;
tests that check float32 behaviour use the ``float32`` fixture (``jax.enable_x64(False)``).
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# ``jaxis run`` turns on JAX's persistent compilation cache for the whole process; the tests
# call it in-process, so keep the cache off: every later test would write its executables.
os.environ["JAXIS_CACHE_DIR"] = ""

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "allow")


@pytest.fixture
def float32():
    """Run the test body with 64-bit types disabled (float32 defaults)."""
    with jax.enable_x64(False):
        yield


@pytest.fixture
def tiny_yaml(tmp_path):
    """The tiny experiment config (``tests/experiments/tiny.py``) as a YAML file."""
    import yaml

    from tests.experiments.tiny import TINY

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(autouse=True, scope="module")
def _fresh_jax_caches():
    """Drop JAX's compiled executables after each test module.

    One pytest process compiles hundreds of programs; kept alive, their memory grew until
    XLA aborted inside a later compilation (seen twice at the same late test, never when
    that test runs alone).
    """
    yield
    jax.clear_caches()
