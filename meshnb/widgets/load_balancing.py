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

from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.registry import CHECKS
from meshnb.widgets.check_panel import CheckPanel
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
    check = CHECKS["load-balancing"]
    tooltip = "Send the requests from every cluster"
    css = "meshnb-load-balancing"
    tabs = (
        ("Samples", lambda finding: finding.evidence["samples"]),
        ("Split", _split),
        ("Sequence", _sequence),
    )
