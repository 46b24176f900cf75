"""Strict, CPU-only test configuration.

x64 is on for the whole suite so that oracle comparisons can demand float precision;
tests that check float32 behaviour use the ``float32`` fixture (``jax.enable_x64(False)``).
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

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
def tiny_yaml(tmp_path, monkeypatch):
    """The tiny experiment config (``tests/experiments/tiny.py``) as a YAML file."""
    import yaml

    from tests.experiments.tiny import TINY

    monkeypatch.setenv("JAXIS_CACHE_DIR", "")  # keep the user's cache out of the tests
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path
