"""The locality panel: node localities, locality settings and endpoint priorities, explained.

>>> import meshnb
>>> LocalityPanel(meshnb.simulate("locality-prefer-local")).run().status
'warn'
"""

from __future__ import annotations

import ipywidgets as widgets

from meshnb.backends.base import Mesh
from meshnb.diagnostics.fanout import Progress
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.locality import check_locality
from meshnb.widgets.check_panel import STYLE, CheckPanel

__all__ = ["LocalityPanel"]


class LocalityPanel(CheckPanel):
    """The guide's locality step: does locality load balancing keep traffic local by design?"""

    title = "Locality load balancing"
    intro = "node localities, the locality settings that apply, and the priorities the proxies hold"
    css = "meshnb-locality"
    tabs = (
        ("Clusters", lambda finding: finding.evidence["clusters"]),
        ("Localities", lambda finding: finding.evidence["localities"]),
        ("Settings", lambda finding: finding.evidence["settings"]),
        ("Priorities", lambda finding: finding.evidence["endpoints"]),
    )

    def __init__(self, mesh: Mesh, *, namespace: str = "sample", service: str = "helloworld"):
        self.service = widgets.Text(value=service, description="Service", style=STYLE)
        self.namespace = widgets.Text(value=namespace, description="Namespace", style=STYLE)
        super().__init__(
            mesh, [self.service, self.namespace], tooltip="Read localities and locality settings"
        )

    def call(self, progress: Progress) -> Finding:
        return check_locality(
            self.mesh,
            namespace=self.namespace.value.strip(),
            service=self.service.value.strip(),
            progress=progress,
        )
