"""Hypothesis strategies for the property suites: log weights with the entries that break
naive code (NaN, ``+inf``, ``-inf``, huge magnitudes), of sizes 0 to 50.

Sizes come from a fixed set that spans 0 to 50 so that each jitted property function
compiles a handful of times, not once per size. Runs are deterministic (``derandomize``)
and bounded, so CI never flakes and never waits.
"""
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SIZES = (0, 1, 2, 7, 50)
SPECIAL = (np.nan, np.inf, -np.inf, 1e300, -1e300, 1e30)

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def with_specials(draw, size: int, low: float = -30.0, high: float = 30.0) -> np.ndarray:
    """``size`` floats in ``[low, high]``, then up to 3 entries replaced by special values,
    or (rarely) every entry ``-inf`` or NaN."""
    x = draw(hnp.arrays(np.float64, size, elements=st.floats(low, high)))
    fill = draw(st.sampled_from([None] * 8 + [-np.inf, np.nan]))
    if fill is not None:
        x[:] = fill
    for _ in range(draw(st.integers(0, 3)) if size else 0):
        x[draw(st.integers(0, size - 1))] = draw(st.sampled_from(SPECIAL))
    return x


def sizes(*allowed: int):
    """A size from ``allowed`` (default: :data:`SIZES`)."""
    return st.sampled_from(allowed or SIZES)
