"""Every notebook runs top to bottom headless on the simulated mesh, with no error and a bounded size.

A new notebook joins by being in notebooks/: it must run with its default parameters (the simulated
mesh), print nothing to stderr and stay under MAX_BYTES once executed.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MAX_BYTES = 1_000_000


def test_there_are_notebooks():
    assert any(nb.name.startswith("01-") for nb in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_headless(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), "needs a tagged parameters cell"
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{output.ename}: {output.evalue}"
            assert not (output.output_type == "stream" and output.name == "stderr"), output.text
    # JupyterLab saves widget state only when "Save Jupyter widget state in notebooks" is on (off by
    # default), and the demo's plotly FigureWidget state carries plotly.js (5 MB): measure what is saved.
    nb.metadata.pop("widgets", None)
    text = nbformat.writes(nb)
    assert len(text.encode()) < MAX_BYTES
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
    if path.name.startswith("01-"):  # the load-balancing notebook's plots use JupyterLab's plotly renderer
        assert "application/vnd.plotly.v1+json" in text


LAB_NOTEBOOKS = [p for p in NOTEBOOKS if '"backend = ' in p.read_text()]


def test_notebooks_offer_the_lab():
    assert {p.name for p in LAB_NOTEBOOKS} >= {"00-triage.ipynb", "demo-cross-cluster-balancing.ipynb"}


@pytest.mark.parametrize("path", LAB_NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_the_lab(path, tmp_path):
    """backend = "lab": the same notebook on real Envoys (papermill injects the parameter)."""
    import papermill

    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters={"backend": "lab"},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert any(
        'backend = "lab"' in c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])
    )


def test_running_the_notebooks_leaves_git_status_clean(tmp_path):
    """Run in their own folder, as JupyterLab runs them, with the triage panel's snapshot and report
    saved: what they write goes to meshnb-files/ (meshnb.files.SAVE_DIR), which git ignores."""
    import subprocess

    from meshnb.files import SAVE_DIR

    root = Path(__file__).resolve().parents[1]
    clone = tmp_path / "meshnb"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    folder = clone / "notebooks"
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if path.name == "00-triage.ipynb":  # press Save snapshot and Export report
            nb.cells.append(
                nbformat.v4.new_code_cell("panel.save_button.click(); panel.export_button.click()")
            )
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        ).execute()
    status = subprocess.run(
        ["git", "-C", str(clone), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""
    assert sorted(p.name for p in (folder / SAVE_DIR).iterdir()) == ["triage.html", "triage.meshnb"]
