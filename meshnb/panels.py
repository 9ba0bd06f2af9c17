"""The notebook panels, one per check of Istio's multicluster troubleshooting guide.

>>> from meshnb.panels import LoadBalancingPanel, RemoteSecretsPanel, ScenarioPicker
"""

from meshnb.widgets.connectivity import ConnectivityPanel
from meshnb.widgets.demo import BalancingDemo
from meshnb.widgets.endpoints import EndpointsPanel
from meshnb.widgets.load_balancing import LoadBalancingPanel
from meshnb.widgets.locality import LocalityPanel
from meshnb.widgets.remote_secrets import RemoteSecretsPanel
from meshnb.widgets.simulator import ScenarioPicker
from meshnb.widgets.triage import TriagePanel
from meshnb.widgets.trust import TrustPanel

__all__ = [
    "BalancingDemo",
    "ConnectivityPanel",
    "EndpointsPanel",
    "LoadBalancingPanel",
    "LocalityPanel",
    "RemoteSecretsPanel",
    "ScenarioPicker",
    "TriagePanel",
    "TrustPanel",
]
