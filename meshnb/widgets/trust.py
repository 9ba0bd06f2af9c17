"""The trust panel: every cluster's cacerts, their roots compared, and who trusts whom.

>>> import meshnb
>>> TrustPanel(meshnb.simulate("trust-mismatch")).run().status
'fail'
"""

from __future__ import annotations

from meshnb.diagnostics.registry import CHECKS
from meshnb.widgets.check_panel import CheckPanel

__all__ = ["TrustPanel"]


class TrustPanel(CheckPanel):
    """The guide's trust step: the cacerts roots must be one root across clusters."""

    title = "Trust configuration"
    intro = (
        "the cacerts secret of every cluster: roots, intermediates, validity (private keys are never read)"
    )
    check = CHECKS["trust"]
    tooltip = "Read and compare the CA certificates"
    css = "meshnb-trust"
    tabs = (
        ("Clusters", lambda finding: finding.evidence["clusters"]),
        ("Trust matrix", lambda finding: finding.evidence["trust"]),
        ("Certificates", lambda finding: finding.evidence["certs"]),
    )
