"""The connectivity panel: plan the uninjected probe, and run it only when changes are allowed.

>>> import meshnb
>>> panel = ConnectivityPanel(meshnb.simulate("firewall"))
>>> panel.run().status                     # changes not allowed: the plan
'skipped'
>>> panel.allow_changes.value = True
>>> panel.run().status
'fail'
"""

from __future__ import annotations

import ipywidgets as widgets

from meshnb.backends.base import Mesh
from meshnb.diagnostics.connectivity import check_connectivity, plan_for_panel
from meshnb.diagnostics.fanout import Progress
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.registry import CHECKS
from meshnb.widgets.check_panel import STYLE, CheckPanel, checkbox

__all__ = ["ConnectivityPanel"]


class ConnectivityPanel(CheckPanel):
    """The guide's firewall step: curl the remote helloworld pod IP from a pod without a sidecar."""

    check = CHECKS["connectivity"]
    title = "Connectivity without Istio"
    intro = "a namespace without sidecars in every cluster, curl to each remote pod IP, then cleanup"
    css = "meshnb-connectivity"
    tabs = (
        ("Probes", lambda finding: finding.evidence.get("probes", finding.evidence["plan"])),
        ("Plan", lambda finding: finding.evidence["plan"]),
        ("Cleanup", lambda finding: finding.evidence.get("cleanup", "nothing was created")),
    )

    def __init__(self, mesh: Mesh, *, namespace: str = "uninjected-sample"):
        self.namespace = widgets.Text(value=namespace, description="Probe namespace", style=STYLE)
        self.allow_changes = checkbox("Allow changes (create, probe, delete)")
        self.keep = checkbox("Keep the probe objects")
        super().__init__(
            mesh, [self.namespace, self.allow_changes, self.keep], tooltip="Show the plan, or run the probe"
        )

    def call(self, progress: Progress) -> Finding:
        """Run the connectivity check: the plan, or (changes allowed) create, probe, delete unless kept."""
        finding = check_connectivity(
            self.mesh,
            namespace=self.namespace.value.strip(),
            apply=self.allow_changes.value,
            keep=self.keep.value,
            progress=progress,
        )
        return plan_for_panel(finding, self.allow_changes.description)
