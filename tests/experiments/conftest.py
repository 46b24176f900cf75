import pytest

from jaxis.experiments import run_experiment
from tests.experiments.tiny import tiny_config


@pytest.fixture(scope="session")
def result():
    """The tiny config run once (MP IS K=2, 4 and global IS K=5, 50; 3 runs each)."""
    return run_experiment(tiny_config(), progress=False)
