"""The remote-secrets panel: every cluster's remote secrets and istiod's remote-cluster log lines.

>>> import meshnb
>>> panel = RemoteSecretsPanel(meshnb.simulate("missing-remote-secret"))
>>> panel.run().status
'fail'
"""

from __future__ import annotations

from meshnb.diagnostics.registry import CHECKS
from meshnb.widgets.check_panel import CheckPanel

__all__ = ["RemoteSecretsPanel"]


class RemoteSecretsPanel(CheckPanel):
    """Check that each istiod holds a remote secret, keyed by name, for every other cluster."""

    title = "Remote secrets and istiod"
    intro = "secrets labelled istio/multiCluster=true in every cluster, and istiod's logs about them"
    check = CHECKS["remote-secrets"]
    tooltip = "Read the remote secrets and istiod's logs"
    css = "meshnb-remote-secrets"
    tabs = (
        ("Clusters", lambda finding: finding.evidence["clusters"]),
        ("Remote secrets", lambda finding: finding.evidence["remote_secrets"]),
        ("istiod events", lambda finding: finding.evidence["istiod_events"]),
        ("istiod's clusters", lambda finding: finding.evidence.get("istiod_clusters", "not in this finding")),
    )
