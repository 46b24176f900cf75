"""Execute every notebook in ``notebooks/`` with small sizes, as CI does.

The cell tagged ``parameters`` is replaced by the small values below; each notebook runs in
a fresh kernel inside a temporary folder (its results are written there), and any cell
error fails the test with the cell's traceback.
"""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

SMALL_PARAMETERS = {
    "paper_mpis.ipynb": """\
MODELS = ["chimpanzees", "bus_breakdown"]
MP_K = {"chimpanzees": [3], "bus_breakdown": [3]}
GLOBAL_K = [30]
NUM_RUNS = 2
NUM_POSTERIOR_SAMPLES = 10
SEED = 0
LEARN_MODEL = "chimpanzees"
LEARN_TRAIN_K, LEARN_LR, LEARN_ITERATIONS = 3, 0.1, 3
LEARN_K, LEARN_RUNS = 5, 2""",
    "blog_importance_sampling.ipynb": """\
NUM_SAMPLES = 2_000
NUM_SOURCES = 12
NUM_LAG_SAMPLES = 200
NUM_WARMUP, NUM_MCMC = 150, 150
NUM_LIVE, NUM_ITERATIONS = 100, 600
SEED = 0""",
    "sbi_two_moons.ipynb": """\
TASK, OBSERVATION = "two_moons", 1
NUM_POSTERIOR = 200
ABC_SIMULATIONS, ABC_QUANTILE = 20_000, 0.01
NUM_SIMULATIONS = 1_000
NRE_STEPS = 200
NRE_PRIOR_DRAWS = 20_000
PROPOSAL_STEPS, NUM_COMPONENTS = 200, 2
IS_K = 2_000
C2ST_EPOCHS = 20
SBC_DATASETS, SBC_K, SBC_BINS = 20, 200, 5
SEED = 0""",
}


def _with_small_parameters(notebook, source: str):
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    tagged[0].source = source
    return notebook


def test_every_notebook_has_small_parameters():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SMALL_PARAMETERS)


@pytest.mark.parametrize("name", sorted(SMALL_PARAMETERS))
def test_notebook_runs(name, tmp_path, monkeypatch):
    path = NOTEBOOKS / name
    if not path.exists():
        pytest.skip(f"{name} is not in notebooks/")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    notebook = _with_small_parameters(nbformat.read(path, as_version=4), SMALL_PARAMETERS[name])
    first = notebook.cells[1].source if notebook.cells[0].cell_type == "markdown" else ""
    assert "IN_COLAB" in first and "pip install" in first  # the Colab install cell comes first
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for o in outputs), "the notebook drew no figure"
