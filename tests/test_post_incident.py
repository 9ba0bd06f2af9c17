"""The post-incident notebook under papermill, given snapshots: every section, the diff, no secret."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
from planted import planted_secrets

import meshnb

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "post-incident.ipynb"


def _outputs(nb) -> str:
    return "\n".join(
        str(data)
        for cell in nb.cells
        for output in cell.get("outputs", [])
        for data in [output.get("text", ""), *output.get("data", {}).values()]
    )


def test_papermill_with_two_snapshots(tmp_path):
    healthy, broken = meshnb.simulate("healthy"), meshnb.simulate("reader-role-removed")
    before = meshnb.triage(healthy).save(tmp_path / "before.meshnb")
    snapshot = meshnb.triage(broken, allow_changes=True).save(tmp_path / "incident.meshnb")
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"snapshot": str(snapshot), "before": str(before)},
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    text = _outputs(nb)
    # the diagnosis (the credentials check tried the secret: valid token, no rights)
    assert "cluster1's remote secret for cluster2 carries a valid token that cannot list" in text
    assert "Timeline" in _outputs_source(nb) and "application/vnd.plotly.v1+json" in str(nb)
    assert "istiod error" in text and "remote secret" in text  # the diff table
    saved = out.read_bytes()
    for needle in planted_secrets(healthy) + planted_secrets(broken):
        assert needle not in saved


def test_without_an_earlier_snapshot_it_says_so(tmp_path):
    snapshot = meshnb.triage(meshnb.simulate("firewall")).save(tmp_path / "incident.meshnb")
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"snapshot": str(snapshot)},
        kernel_name="python3",
        progress_bar=False,
    )
    assert "no earlier snapshot given" in _outputs(nbformat.read(out, as_version=4))


def _outputs_source(nb) -> str:
    return "\n".join(cell.source for cell in nb.cells)
