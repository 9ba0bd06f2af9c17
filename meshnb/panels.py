"""The notebook panels, one per check of Istio's multicluster troubleshooting guide.

>>> from meshnb.panels import LoadBalancingPanel
"""

from meshnb.widgets.load_balancing import LoadBalancingPanel

__all__ = ["LoadBalancingPanel"]
