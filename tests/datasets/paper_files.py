"""Load the paper's shared data files, skipping the test when ../shared/data is absent."""
import pytest


def load_or_skip(loader, **kwargs):
    """``loader(**kwargs)``, or ``pytest.skip`` when its data file cannot be found."""
    try:
        return loader(**kwargs)
    except FileNotFoundError as error:
        pytest.skip(f"shared data not available: {error}")
