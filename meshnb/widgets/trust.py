"""The trust panel: every cluster's cacerts, their roots compared, and who trusts whom.

>>> import meshnb
>>> TrustPanel(meshnb.simulate("trust-mismatch")).run().status
'fail'
"""

from __future__ import annotations

import ipywidgets as widgets

from meshnb.backends.base import Mesh
from meshnb.diagnostics.fanout import Progress
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.trust import check_trust
from meshnb.widgets.check_panel import STYLE, CheckPanel

__all__ = ["TrustPanel"]


class TrustPanel(CheckPanel):
    """The guide's trust step: the cacerts roots must be one root across clusters."""

    title = "Trust configuration"
    intro = (
        "the cacerts secret of every cluster: roots, intermediates, validity (private keys are never read)"
    )
    css = "meshnb-trust"
    tabs = (
        ("Clusters", lambda finding: finding.evidence["clusters"]),
        ("Trust matrix", lambda finding: finding.evidence["trust"]),
        ("Certificates", lambda finding: finding.evidence["certs"]),
    )

    def __init__(self, mesh: Mesh, *, namespace: str = "istio-system", secret: str = "cacerts"):
        self.namespace = widgets.Text(value=namespace, description="Istio namespace", style=STYLE)
        self.secret = widgets.Text(value=secret, description="Secret", style=STYLE)
        super().__init__(mesh, [self.namespace, self.secret], tooltip="Read and compare the CA certificates")

    def call(self, progress: Progress) -> Finding:
        return check_trust(
            self.mesh,
            namespace=self.namespace.value.strip(),
            secret=self.secret.value.strip(),
            progress=progress,
        )
