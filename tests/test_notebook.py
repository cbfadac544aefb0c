"""examples/quickstart.ipynb: stored without outputs, and it runs (on a few RAVDESS files)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import REPO_ROOT

NOTEBOOK = REPO_ROOT / "examples" / "quickstart.ipynb"
#: A small run: 4 actors x 12 files, 3 of them train a model (3 folds), 1 is held out.
SMALL = {
    "SER_NB_ACTORS": "4",
    "SER_NB_FILES_PER_ACTOR": "12",
    "SER_NB_TRAIN_ACTORS": "3",
    "SER_NB_HELD_OUT": "1",
    "SER_NB_JOBS": "2",
}


def _cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def test_notebook_is_stored_clean_and_parameterised() -> None:
    cells = _cells()
    code = [c for c in cells if c["cell_type"] == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"code cells {dirty} have outputs: clear them before committing"
    first = code[0]
    assert "parameters" in first.get("metadata", {}).get("tags", [])
    source = "".join(first["source"])
    for name in ["SER_RAVDESS_DIR", "SER_NB_WORK_DIR", *SMALL]:
        assert name in source, f"the parameters cell no longer reads {name}"


def _outputs(nb) -> tuple[str, int]:
    """Everything the cells printed or displayed as text, and how many figures they drew."""
    texts, n_figures = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                texts.append(out.text)
            elif "data" in out:
                texts.append(out.data.get("text/plain", ""))
                n_figures += "image/png" in out.data
    return "\n".join(texts), n_figures


@pytest.mark.slow
@pytest.mark.ravdess
def test_quickstart_notebook_runs(
    ravdess_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat", reason="pip install '.[test]' (nbformat)")
    nbclient = pytest.importorskip("nbclient", reason="pip install '.[test]' (nbclient)")
    pytest.importorskip("ipykernel", reason="pip install '.[test]' (ipykernel, the kernel)")
    work = tmp_path / "work"
    for name, value in {
        **SMALL,
        "SER_RAVDESS_DIR": str(ravdess_dir.resolve()),
        "SER_NB_WORK_DIR": str(work),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),  # the kernel's connection file
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNGs

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",  # this interpreter (jupyter_client runs "python" as sys.executable)
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},  # run in examples/
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    text, n_figures = _outputs(nb)
    assert n_figures >= 3, text  # distribution + confidences, confusion matrix, recall bars
    assert re.search(r"^UAR \d\.\d{3}  accuracy \d\.\d{3}", text, re.M), text  # scikit-learn
    assert "Speaker-independent 3-fold cross-validation" in text, text  # ser-train's report
    assert "training on actors [1, 2, 3], held out: [4]" in text, text
    assert re.search(r"^mine4\s+\d\.\d+", text, re.M), text  # the comparison table
    assert re.search(r"^ser4\s+\d\.\d+", text, re.M), text
    for name in ("labels.parquet", "train-labels.csv", "mine4.skops", "mine4.json"):
        assert (work / name).is_file(), name
