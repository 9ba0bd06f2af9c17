"""The load-balancing panel: controls -> :func:`check_load_balancing` -> summary, tables and plots.

Works without a browser: set the controls' values, call :meth:`LoadBalancingPanel.run` (or click
the button) and read ``panel.result`` or the tabs' outputs.

>>> import meshnb
>>> from meshnb.panels import LoadBalancingPanel
>>> panel = LoadBalancingPanel(meshnb.simulate("firewall"))
>>> panel.requests.value = 20
>>> panel.run_button.click()
>>> panel.result.status
'fail'
"""

from __future__ import annotations

import html
import logging

import ipywidgets as widgets

from meshnb.backends.base import Mesh
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.load_balancing import check_load_balancing
from meshnb.widgets.display import FigureBundle, show

__all__ = ["LoadBalancingPanel"]

log = logging.getLogger("meshnb")

_TABS = ("Summary", "Samples", "Split", "Sequence")


class LoadBalancingPanel(widgets.VBox):
    """Run the guide's cross-cluster load-balancing step against ``mesh`` from a notebook."""

    def __init__(
        self,
        mesh: Mesh,
        *,
        namespace: str = "sample",
        service: str = "helloworld",
        port: int = 5000,
        path: str = "/hello",
        requests: int = 100,
    ):
        self.mesh = mesh
        self.result: Finding | None = None
        self.error: BaseException | None = None
        style = {"description_width": "initial"}
        self.service = widgets.Text(value=service, description="Service", style=style)
        self.namespace = widgets.Text(value=namespace, description="Namespace", style=style)
        self.port = widgets.BoundedIntText(value=port, min=1, max=65535, description="Port", style=style)
        self.path = widgets.Text(value=path, description="Path", style=style)
        self.requests = widgets.BoundedIntText(
            value=requests, min=1, max=100_000, description="Requests per cluster", style=style
        )
        self.run_button = widgets.Button(
            description="Run",
            button_style="primary",
            icon="play",
            tooltip="Send the requests from every cluster",
        )
        self.run_button.on_click(lambda _button: self.run())
        self.status = widgets.HTML(value="<i>Not run yet.</i>", description="Status", style=style)
        self.status.add_class("meshnb-status-line")
        self.progress = {
            name: widgets.IntProgress(value=0, min=0, max=requests, description=name, style=style)
            for name in mesh.clusters
        }
        self.outputs = {name: widgets.Output() for name in _TABS}
        self.tabs = widgets.Tab(children=[self.outputs[name] for name in _TABS], titles=_TABS)
        controls = widgets.HBox([self.service, self.namespace, self.port, self.path])
        super().__init__(
            [
                widgets.HTML(
                    "<b>Cross-cluster load balancing</b>: curl the service from every cluster's curl pod"
                ),
                controls,
                widgets.HBox([self.requests, self.run_button]),
                widgets.VBox(list(self.progress.values())),
                self.status,
                self.tabs,
            ]
        )
        self.add_class("meshnb-panel")
        self.add_class("meshnb-load-balancing")

    def _on_progress(self, cluster: str, done: int, total: int) -> None:
        bar = self.progress[cluster]
        bar.max = max(total, 1)
        bar.value = done
        bar.bar_style = "success" if done >= total else "info"

    def run(self) -> Finding | None:
        """Run the check with the controls' values; show and return the Finding (None on error)."""
        self.run_button.disabled = True
        self.run_button.description = "Running…"
        for bar in self.progress.values():
            bar.value, bar.max, bar.bar_style = 0, self.requests.value, ""
        self.status.value = "<i>Running…</i>"
        try:
            finding = check_load_balancing(
                self.mesh,
                namespace=self.namespace.value.strip(),
                service=self.service.value.strip(),
                port=self.port.value,
                path=self.path.value.strip(),
                requests=self.requests.value,
                progress=self._on_progress,
            )
        except Exception as exc:  # shown in the panel, never lost in a callback
            log.exception("load-balancing panel run failed")
            self.error = exc
            self.status.value = (
                '<span role="alert" style="color:#cf222e"><b>✖ ERROR</b></span> '
                f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}"
            )
            for output in self.outputs.values():
                output.outputs = ()
            return None
        finally:
            self.run_button.disabled = False
            self.run_button.description = "Run"
        self.error = None
        self.result = finding
        self._render(finding)
        return finding

    def _render(self, finding: Finding) -> None:
        from meshnb import plots

        sources = finding.evidence["sources"]
        statuses = dict(zip(sources["source_cluster"], sources["status"], strict=True))
        for cluster, bar in self.progress.items():
            if statuses.get(cluster) in ("error", "fail"):
                bar.bar_style = "danger"
        self.status.value = f"{finding.status_html()} {html.escape(finding.summary)}"
        show(self.outputs["Summary"], finding)
        show(self.outputs["Samples"], finding.evidence["samples"])
        show(self.outputs["Split"], FigureBundle(plots.split_figure(finding.evidence["split"], sources)))
        show(self.outputs["Sequence"], FigureBundle(plots.sequence_figure(finding.evidence["samples"])))
