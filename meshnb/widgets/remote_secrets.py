"""The remote-secrets panel: every cluster's remote secrets and istiod's remote-cluster log lines.

>>> import meshnb
>>> panel = RemoteSecretsPanel(meshnb.simulate("missing-remote-secret"))
>>> panel.run().status
'fail'
"""

from __future__ import annotations

import ipywidgets as widgets

from meshnb.backends.base import Mesh
from meshnb.diagnostics.fanout import Progress
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.remote_secrets import check_remote_secrets
from meshnb.widgets.check_panel import STYLE, CheckPanel

__all__ = ["RemoteSecretsPanel"]


class RemoteSecretsPanel(CheckPanel):
    """Check that each istiod holds a remote secret, keyed by name, for every other cluster."""

    title = "Remote secrets and istiod"
    intro = "secrets labelled istio/multiCluster=true in every cluster, and istiod's logs about them"
    css = "meshnb-remote-secrets"
    tabs = (
        ("Clusters", lambda finding: finding.evidence["clusters"]),
        ("Remote secrets", lambda finding: finding.evidence["remote_secrets"]),
        ("istiod events", lambda finding: finding.evidence["istiod_events"]),
    )

    def __init__(self, mesh: Mesh, *, namespace: str = "istio-system"):
        self.namespace = widgets.Text(value=namespace, description="Istio namespace", style=STYLE)
        super().__init__(mesh, [self.namespace], tooltip="Read the remote secrets and istiod's logs")

    def call(self, progress: Progress) -> Finding:
        return check_remote_secrets(self.mesh, namespace=self.namespace.value.strip(), progress=progress)
