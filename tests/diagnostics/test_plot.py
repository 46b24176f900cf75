"""Plots draw on the Agg backend; matplotlib and arviz are never imported by jaxis itself."""
import io
import subprocess
import sys

import jax
import pytest

from jaxis.weighted import WeightedSamples


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_plots_draw(plt):
    from jaxis.plot import plot_ess, plot_stability, plot_weights

    x = jax.random.normal(jax.random.key(0), (400,))
    log_q = -0.5 * x**2
    log_p = -0.5 * (x / 1.5) ** 2
    ws = WeightedSamples({"x": x}, log_p - log_q)
    fig, axes = plt.subplots(1, 3)
    assert plot_weights(ws, ax=axes[0]) is axes[0]
    assert len(axes[0].patches) > 0 and "ESS" in axes[0].get_title()
    ax = plot_stability(ws, log_q, ax=axes[1])
    labels = [line.get_label() for line in ax.get_lines()]
    assert any("1:1" in s for s in labels) and any("unstable" in s for s in labels)
    ax = plot_ess(ws, ax=axes[2])
    assert len(ax.get_lines()) == 3
    assert plot_weights(ws).figure is not fig  # a new figure without ax
    fig.savefig(io.BytesIO(), format="png")


def test_imports_are_lazy():
    code = (
        "import sys, jaxis.weighted, jaxis.transforms, jaxis.diagnostics, jaxis.plot; "
        "bad = [m for m in ('matplotlib', 'arviz') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], env={"JAX_PLATFORMS": "cpu", "PATH": ""}).returncode == 0
