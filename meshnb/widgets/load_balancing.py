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

import ipywidgets as widgets

from meshnb.backends.base import Mesh
from meshnb.diagnostics.fanout import Progress
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.load_balancing import check_load_balancing
from meshnb.widgets.check_panel import STYLE, CheckPanel
from meshnb.widgets.display import FigureBundle

__all__ = ["LoadBalancingPanel"]


def _split(finding: Finding) -> FigureBundle:
    from meshnb import plots

    return FigureBundle(plots.split_figure(finding.evidence["split"], finding.evidence["sources"]))


def _sequence(finding: Finding) -> FigureBundle:
    from meshnb import plots

    return FigureBundle(plots.sequence_figure(finding.evidence["samples"]))


class LoadBalancingPanel(CheckPanel):
    """Run the guide's cross-cluster load-balancing step against ``mesh`` from a notebook."""

    title = "Cross-cluster load balancing"
    intro = "curl the service from every cluster's curl pod"
    css = "meshnb-load-balancing"
    tabs = (
        ("Samples", lambda finding: finding.evidence["samples"]),
        ("Split", _split),
        ("Sequence", _sequence),
    )

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
        self.service = widgets.Text(value=service, description="Service", style=STYLE)
        self.namespace = widgets.Text(value=namespace, description="Namespace", style=STYLE)
        self.port = widgets.BoundedIntText(value=port, min=1, max=65535, description="Port", style=STYLE)
        self.path = widgets.Text(value=path, description="Path", style=STYLE)
        self.requests = widgets.BoundedIntText(
            value=requests, min=1, max=100_000, description="Requests per cluster", style=STYLE
        )
        controls = [self.service, self.namespace, self.port, self.path, self.requests]
        super().__init__(mesh, controls, tooltip="Send the requests from every cluster")

    def call(self, progress: Progress) -> Finding:
        return check_load_balancing(
            self.mesh,
            namespace=self.namespace.value.strip(),
            service=self.service.value.strip(),
            port=self.port.value,
            path=self.path.value.strip(),
            requests=self.requests.value,
            progress=progress,
        )
