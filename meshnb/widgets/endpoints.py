"""The endpoints panel: what each cluster's proxy holds for the service, attributed to clusters.

>>> import meshnb
>>> EndpointsPanel(meshnb.simulate("missing-remote-secret")).run().status
'fail'
"""

from __future__ import annotations

import ipywidgets as widgets

from meshnb.backends.base import Mesh
from meshnb.diagnostics.endpoints import check_endpoints
from meshnb.diagnostics.fanout import Progress
from meshnb.diagnostics.finding import Finding
from meshnb.widgets.check_panel import STYLE, CheckPanel

__all__ = ["EndpointsPanel"]


class EndpointsPanel(CheckPanel):
    """The guide's `istioctl proxy-config endpoint <curl pod> | grep helloworld`, in every cluster."""

    title = "Endpoint discovery"
    intro = "the endpoints each cluster's curl-pod proxy holds for the service"
    css = "meshnb-endpoints"
    tabs = (
        ("Clusters", lambda finding: finding.evidence["clusters"]),
        ("Endpoints", lambda finding: finding.evidence["endpoints"]),
    )

    def __init__(
        self, mesh: Mesh, *, namespace: str = "sample", service: str = "helloworld", port: int = 5000
    ):
        self.service = widgets.Text(value=service, description="Service", style=STYLE)
        self.namespace = widgets.Text(value=namespace, description="Namespace", style=STYLE)
        self.port = widgets.BoundedIntText(value=port, min=1, max=65535, description="Port", style=STYLE)
        super().__init__(
            mesh, [self.service, self.namespace, self.port], tooltip="Read every proxy's endpoints"
        )

    def call(self, progress: Progress) -> Finding:
        return check_endpoints(
            self.mesh,
            namespace=self.namespace.value.strip(),
            service=self.service.value.strip(),
            port=self.port.value,
            progress=progress,
        )
