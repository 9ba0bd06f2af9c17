"""The endpoints panel: what each cluster's proxy holds for the service, attributed to clusters.

>>> import meshnb
>>> EndpointsPanel(meshnb.simulate("missing-remote-secret")).run().status
'fail'
"""

from __future__ import annotations

from meshnb.diagnostics.registry import CHECKS
from meshnb.widgets.check_panel import CheckPanel

__all__ = ["EndpointsPanel"]


class EndpointsPanel(CheckPanel):
    """The guide's `istioctl proxy-config endpoint <curl pod> | grep helloworld`, in every cluster."""

    title = "Endpoint discovery"
    intro = "the endpoints each cluster's curl-pod proxy holds for the service"
    check = CHECKS["endpoints"]
    tooltip = "Read every proxy's endpoints"
    css = "meshnb-endpoints"
    tabs = (
        ("Clusters", lambda finding: finding.evidence["clusters"]),
        ("Endpoints", lambda finding: finding.evidence["endpoints"]),
        ("istiod and proxy", lambda finding: finding.evidence.get("held", "not in this finding")),
        ("Proxy sync", lambda finding: finding.evidence.get("proxy_sync", "not in this finding")),
    )
