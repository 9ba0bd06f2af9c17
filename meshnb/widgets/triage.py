"""The triage panel: every check in the guide's order as a list, then the diagnosis and each finding.

It shows the check list on top (a line per check in the guide's order, as ``meshnb check`` prints it:
under a check that did not pass its hint, unless the diagnosis below says it, and the guide's section),
the diagnosis, a tab per check, and buttons to save a snapshot and export the HTML report.

>>> import meshnb
>>> panel = TriagePanel(meshnb.simulate("missing-remote-secret"))
>>> panel.run().diagnosis.causes[0].key
'remote-secret-missing'
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import ipywidgets as widgets

from meshnb import plots
from meshnb.backends.base import Mesh
from meshnb.diagnostics import checklist
from meshnb.diagnostics.connectivity import plan_for_panel
from meshnb.diagnostics.finding import Finding, status_html
from meshnb.diagnostics.report import Report
from meshnb.diagnostics.triage import ORDER, triage
from meshnb.errors import MeshnbError
from meshnb.files import SAVE_DIR
from meshnb.html_report import diagnosis_html, write_html
from meshnb.widgets.check_panel import (
    STYLE,
    advance,
    checkbox,
    cluster_bars,
    error_html,
    mark_clusters,
    rebind,
)
from meshnb.widgets.copyable import CopyableHTML
from meshnb.widgets.display import FigureBundle, show
from meshnb.widgets.freshness import Freshness

__all__ = ["TriagePanel"]

log = logging.getLogger("meshnb")


def _figures(name: str, finding: Finding) -> list:
    if name == "load-balancing" and "split" in finding.evidence:
        return [FigureBundle(plots.split_figure(finding.evidence["split"], finding.evidence.get("sources")))]
    if name == "endpoints" and "endpoints" in finding.evidence:
        return [FigureBundle(plots.endpoints_figure(finding.evidence["endpoints"]))]
    return []


class TriagePanel(widgets.VBox):
    """Run :func:`meshnb.triage` from a notebook; ``.result`` is the last Report."""

    def __init__(
        self,
        mesh: Mesh,
        *,
        snapshot: str = str(SAVE_DIR / "triage.meshnb"),
        report: str = str(SAVE_DIR / "triage.html"),
    ):
        self.mesh = mesh
        self.result: Report | None = None
        self.error: BaseException | None = None
        self.allow_changes = checkbox(
            "Allow changes (run the connectivity probe: creates and deletes a namespace)"
        )
        self.requests = widgets.BoundedIntText(
            value=100, min=10, max=100_000, description="Requests per cluster", style=STYLE
        )
        self.run_button = widgets.Button(
            description="Run triage", button_style="primary", icon="play", tooltip="Run every check in order"
        )
        self.run_button.on_click(lambda _button: self.run())
        self.snapshot_path = widgets.Text(value=snapshot, description="Snapshot file", style=STYLE)
        self.save_button = widgets.Button(
            description="Save snapshot", icon="save", disabled=True, tooltip="Write what triage saw to a file"
        )
        self.save_button.on_click(lambda _button: self.save())
        self.report_path = widgets.Text(value=report, description="Report file", style=STYLE)
        self.export_button = widgets.Button(
            description="Export report",
            icon="file",
            disabled=True,
            tooltip="Write one self-contained HTML page",
        )
        self.export_button.on_click(lambda _button: self.export())
        self.message = widgets.HTML()
        self.lights = {name: CopyableHTML(self._light(name)) for name in ORDER}  # the check list
        for light in self.lights.values():
            light.add_class("meshnb-triage-light")
        self.status = widgets.HTML(value="<i>Not run yet.</i>", description="Status", style=STYLE)
        self.status.add_class("meshnb-status-line")
        self.diagnosis = CopyableHTML()  # its commands with Copy buttons
        self.diagnosis.add_class("meshnb-diagnosis")
        self.progress = cluster_bars(mesh)
        self.bars = widgets.VBox(list(self.progress.values()))
        self.outputs = {name: widgets.Output() for name in ORDER}
        self.views = {name: CopyableHTML() for name in ORDER}  # each check's finding, in its tab
        self.tab = widgets.Tab(children=list(self.outputs.values()), titles=ORDER)
        self.freshness = Freshness(self, mesh, [self.allow_changes, self.requests])
        super().__init__(
            [
                widgets.HTML(
                    "<b>Triage</b>: the guide's checks in its order on every cluster at once, then the most "
                    "likely cause from all of their evidence"
                ),
                widgets.HBox(
                    [self.allow_changes, self.requests, self.run_button], layout={"flex_flow": "row wrap"}
                ),
                widgets.VBox(list(self.lights.values())),
                self.bars,
                self.freshness.banner,
                self.status,
                self.diagnosis,
                widgets.HBox(
                    [self.snapshot_path, self.save_button, self.report_path, self.export_button],
                    layout={"flex_flow": "row wrap"},
                ),
                self.message,
                self.tab,
            ]
        )
        self.add_class("meshnb-panel")
        self.add_class("meshnb-triage")

    def set_mesh(self, mesh: Mesh) -> None:
        """Work on ``mesh`` from now on (a :class:`~meshnb.widgets.mesh_picker.MeshPicker` calls it)."""
        rebind(self, mesh)

    def note(self) -> widgets.HTML:
        """For a cell below that shows :attr:`result`: a line that says when it is out of date."""
        return self.freshness.note()

    @staticmethod
    def _light(name: str, running: bool = False) -> str:
        """A check's line before it has a result."""
        word = "running…" if running else "not run"
        return f'<span class="meshnb-light" title="{html.escape(name)}">– {html.escape(name)}: {word}</span>'

    def _on_progress(self, check: str, cluster: str, done: int, total: int) -> None:
        if not cluster:
            self.lights[check].value = self._light(check, running=True)
            for bar in self.progress.values():
                bar.value, bar.bar_style = 0, ""
            return
        advance(self.progress[cluster], done, total)

    def run(self) -> Report | None:
        """Run triage; show the check list, the diagnosis and a tab per check (None if it raised)."""
        self.run_button.disabled = True
        self.run_button.description = "Running…"
        self.status.value = "<i>Running…</i>"
        self.message.value = ""
        for name in ORDER:
            self.lights[name].value = self._light(name)
        try:
            report = triage(
                self.mesh,
                allow_changes=self.allow_changes.value,
                requests=self.requests.value,
                progress=self._on_progress,
            )
        except Exception as exc:  # shown in the panel, never lost in a callback
            log.exception("triage panel run failed")
            self.error = exc
            self.status.value = error_html(exc)
            self.diagnosis.value = ""
            for output in self.outputs.values():
                output.outputs = ()
            self.freshness.ran()  # the error is the answer to the controls as they are
            return None
        finally:
            self.run_button.disabled = False
            self.run_button.description = "Run triage"
        if "connectivity" in report.findings:
            plan = plan_for_panel(report.findings["connectivity"], self.allow_changes.description)
            report.findings["connectivity"] = plan
        self.error, self.result = None, report
        failed: dict[str, str] = {}  # each cluster's worst: an error over a fail
        for finding in report.findings.values():
            for cluster, status in finding.cluster_statuses().items():
                if status in ("error", "fail") and failed.get(cluster) != "error":
                    failed[cluster] = status
        mark_clusters(self.progress, failed)
        said = [cause.next_step for cause in report.diagnosis.causes]  # the diagnosis below says them
        for row in checklist.rows(report, said=said):
            self.lights[row.check].value = checklist.row_html(row)
        for name, finding in report.findings.items():
            self.views[name].value = finding._repr_html_(copy=True)
            show(self.outputs[name], self.views[name], *_figures(name, finding))
        self.status.value = f"{status_html(report.status)} {html.escape(report.diagnosis.summary)}"
        self.diagnosis.value = diagnosis_html(
            report, summary=False, copy=True
        )  # the status line: the summary
        self.save_button.disabled = self.export_button.disabled = False
        self.freshness.ran()
        return report

    def _write(self, what: str, write, path: str) -> Path | None:
        if self.result is None:
            return None
        target = Path(path.strip())
        try:
            if target.parent == SAVE_DIR:  # the panels' own folder is made on first use
                SAVE_DIR.mkdir(exist_ok=True)
            written = write(self.result, target)
        except (OSError, ValueError, MeshnbError) as exc:  # MeshnbError: not a regular file
            detail = html.escape(str(exc))
            self.message.value = (
                f'<span role="alert" style="color:#cf222e">✖ could not write the {what}: {detail}</span>'
            )
            return None
        self.message.value = f"✔ {what} written to <code>{html.escape(str(written))}</code>"
        return written

    def save(self) -> Path | None:
        """Write a snapshot of the last run to the snapshot file (``meshnb.load`` reads it)."""
        return self._write("snapshot", Report.save, self.snapshot_path.value)

    def export(self) -> Path | None:
        """Write the last run as one self-contained HTML page to the report file."""
        return self._write("report", write_html, self.report_path.value)
