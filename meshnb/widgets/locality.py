"""The locality panel: node localities, locality settings and endpoint priorities, explained.

>>> import meshnb
>>> LocalityPanel(meshnb.simulate("locality-prefer-local")).run().status
'warn'
"""

from __future__ import annotations

from meshnb.diagnostics.registry import CHECKS
from meshnb.widgets.check_panel import CheckPanel

__all__ = ["LocalityPanel"]


class LocalityPanel(CheckPanel):
    """The guide's locality step: whether locality load balancing keeps traffic local by design."""

    title = "Locality load balancing"
    intro = "node localities, the locality settings that apply, and the priorities the proxies hold"
    check = CHECKS["locality"]
    tooltip = "Read localities and locality settings"
    css = "meshnb-locality"
    tabs = (
        ("Clusters", lambda finding: finding.evidence["clusters"]),
        ("Localities", lambda finding: finding.evidence["localities"]),
        ("Settings", lambda finding: finding.evidence["settings"]),
        ("Priorities", lambda finding: finding.evidence["endpoints"]),
    )
