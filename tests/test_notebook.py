"""``interactive_example.ipynb`` runs from top to bottom in a real Jupyter kernel (nbclient).

The model is the published ``models/signet.pth`` when present; otherwise the small SigNet-thin that the tests
train on synthetic writers (``trained_model`` of ``tests/conftest.py``; without ``SIGVER_MODEL`` the notebook
would train one itself, which takes longer).
"""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "interactive_example.ipynb"


@pytest.fixture(scope="module")
def model_path(trained_model):
    published = REPO / "models" / "signet.pth"
    return published if published.is_file() else trained_model


def test_notebook_runs(model_path, monkeypatch):
    monkeypatch.setenv("SIGVER_MODEL", str(model_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(REPO)}})
    client.execute()  # raises CellExecutionError with the cell and its traceback on any error
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert f"{model_path}: signet" in text
    assert "mean distance, same writer" in text and "EER (genuine vs skilled)" in text
    assert "questioned_genuine.png" in text and ("ACCEPT" in text or "reject" in text)
    assert images >= 4  # pre-processing steps, signatures, distance matrix, score histogram
