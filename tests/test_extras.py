"""The ``experiments`` extra: core jaxis runs without matplotlib and pyyaml, and the
runner's entry points name the missing package and the install command.

The subprocess hides the packages with a ``sys.meta_path`` finder that raises what Python
raises for an absent package. tqdm cannot be hidden: numpyro itself imports it.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import jaxis
from jaxis._extras import INSTALL, MissingExtraError, import_extra

ROOT = Path(jaxis.__file__).resolve().parents[1]
HIDDEN = ("matplotlib", "yaml")
CORE = ["jaxis", "jaxis.contract", "jaxis.diagnostics", "jaxis.graph", "jaxis.learn",
        "jaxis.queries", "jaxis.trace", "jaxis.transforms", "jaxis.weighted",
        "jaxis.datasets", "jaxis.models", "jaxis.plot", "jaxis.cli"]

SCRIPT = f"""
import importlib, sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HIDDEN!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Absent())
for name in {CORE!r}:
    importlib.import_module(name)

import jax, numpyro, numpyro.distributions as dist
import jaxis, jaxis.cli

def model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

y = jax.numpy.array([0.5, -0.2, 1.0])
mpt = jaxis.mpis(model, None, K=8)(jax.random.PRNGKey(0), y)
print("core", bool(jax.numpy.isfinite(jaxis.log_evidence(mpt))),
      jaxis.moments(mpt, {{"mu": lambda v: v}})["mu"].shape)
try:
    jaxis.plot.plot_weights(jaxis.global_is(model, None, K=20)(jax.random.PRNGKey(1), y))
except ImportError as error:
    print("plot", error)
assert jaxis.cli.main(["list"]) == 0
sys.argv = ["jaxis", "run"]
jaxis.cli.script()
"""


@pytest.fixture(scope="module")
def without_extra() -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAXIS_CACHE_DIR="",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_core_runs_without_matplotlib_and_pyyaml(without_extra):
    assert "core True ()" in without_extra.stdout, without_extra.stderr
    assert "Models (jaxis.models):" in without_extra.stdout  # `jaxis list` needs no extra


def test_jaxis_plot_names_the_extra(without_extra):
    assert f"plot jaxis.plot needs matplotlib, which is not installed. Fix: {INSTALL}" \
        in without_extra.stdout, without_extra.stderr


def test_jaxis_run_is_one_line_and_exit_status_2(without_extra):
    assert without_extra.returncode == 2, without_extra.stderr
    assert without_extra.stderr == (
        "jaxis: error: jaxis run needs matplotlib and pyyaml, which are not installed. "
        f'Fix: pip install "jaxis[experiments]"\n')


def test_an_import_error_inside_an_installed_package_is_not_hidden(monkeypatch):
    def broken(name):
        raise ModuleNotFoundError("No module named 'kiwisolver'", name="kiwisolver")

    monkeypatch.setattr("importlib.import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="kiwisolver") as caught:
        import_extra("matplotlib.pyplot", "jaxis.plot")
    assert not isinstance(caught.value, MissingExtraError)


def test_dev_installs_everything_the_experiments_extra_needs():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert set(extras["experiments"]) <= set(extras["dev"])
    core = {d.split(">")[0].split("=")[0] for d in project["dependencies"]}
    assert core.isdisjoint({"matplotlib", "pyyaml", "tqdm"})
