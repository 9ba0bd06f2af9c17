"""meshnb: troubleshoot Istio multicluster meshes from JupyterLab.

Each step of Istio's "Troubleshooting Multicluster" guide is a check that runs against every
cluster at once and returns a :class:`Finding` (status, summary, evidence DataFrames, next steps).

>>> import meshnb
>>> mesh = meshnb.simulate("healthy")   # or meshnb.connect(["ctx-a", "ctx-b"]), or meshnb.lab() (real Envoys)
>>> meshnb.check_load_balancing(mesh).status
'pass'

Heavy libraries (pandas, plotly, kubernetes, ipywidgets) load on first use, not on import.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from meshnb.diagnostics.check import Check
from meshnb.diagnostics.registry import CHECKS
from meshnb.version import __version__ as __version__

logging.getLogger("meshnb").addHandler(logging.NullHandler())

# public name -> module that defines it (imported on first access); the checks come from the registry
_EXPORTS = {
    "connect": "meshnb.backends.kube",
    "simulate": "meshnb.backends.sim",
    "lab": "meshnb.backends.lab",
    "open_mesh": "meshnb.backends",
    "SCENARIOS": "meshnb.backends.sim",
    "read_any": "meshnb.readers.detect",
    "read_certs": "meshnb.readers.certs",
    "read_curl": "meshnb.readers.curl",
    "read_endpoints": "meshnb.readers.endpoints",
    "read_istiod_log": "meshnb.readers.istiod_log",
    "read_ambientz": "meshnb.readers.istiod_debug",
    "read_clusterz": "meshnb.readers.istiod_debug",
    "read_endpoint_shards": "meshnb.readers.istiod_debug",
    "read_networkz": "meshnb.readers.istiod_debug",
    "read_syncz": "meshnb.readers.istiod_debug",
    "read_proxy_status": "meshnb.readers.istioctl_views",
    "read_remote_clusters": "meshnb.readers.istioctl_views",
    "read_ztunnel": "meshnb.readers.ztunnel",
    "Finding": "meshnb.diagnostics.finding",
    "triage": "meshnb.diagnostics.triage",
    "Report": "meshnb.diagnostics.report",
    "load": "meshnb.diagnostics.report",
    "diff": "meshnb.diagnostics.diff",
    "MeshnbError": "meshnb.errors",
    "ConfigError": "meshnb.errors",
    "ClusterError": "meshnb.errors",
    "ParseError": "meshnb.errors",
    "InvalidName": "meshnb.errors",
}


def exports(checks: Mapping[str, Check] = CHECKS) -> dict[str, Any]:
    """Every public name: the module that defines it, or (a check's function) the function itself.

    >>> exports()["check_trust"].__name__, exports()["read_curl"]
    ('check_trust', 'meshnb.readers.curl')
    """
    return {**_EXPORTS, **{check.export: check.function for check in checks.values()}}


__all__ = sorted([*exports(), "__version__"])  # noqa: PLE0605 (built from the registry)

if TYPE_CHECKING:
    from meshnb.backends import open_mesh as open_mesh
    from meshnb.backends.kube import connect as connect
    from meshnb.backends.lab import lab as lab
    from meshnb.backends.sim import SCENARIOS as SCENARIOS
    from meshnb.backends.sim import simulate as simulate
    from meshnb.diagnostics.ambient import check_ambient as check_ambient
    from meshnb.diagnostics.connectivity import check_connectivity as check_connectivity
    from meshnb.diagnostics.diff import diff as diff
    from meshnb.diagnostics.endpoints import check_endpoints as check_endpoints
    from meshnb.diagnostics.finding import Finding as Finding
    from meshnb.diagnostics.identity import check_identity as check_identity
    from meshnb.diagnostics.load_balancing import check_load_balancing as check_load_balancing
    from meshnb.diagnostics.locality import check_locality as check_locality
    from meshnb.diagnostics.remote_secrets import check_remote_secrets as check_remote_secrets
    from meshnb.diagnostics.report import Report as Report
    from meshnb.diagnostics.report import load as load
    from meshnb.diagnostics.sameness import check_sameness as check_sameness
    from meshnb.diagnostics.triage import triage as triage
    from meshnb.diagnostics.trust import check_trust as check_trust
    from meshnb.errors import ClusterError as ClusterError
    from meshnb.errors import ConfigError as ConfigError
    from meshnb.errors import InvalidName as InvalidName
    from meshnb.errors import MeshnbError as MeshnbError
    from meshnb.errors import ParseError as ParseError
    from meshnb.readers.certs import read_certs as read_certs
    from meshnb.readers.curl import read_curl as read_curl
    from meshnb.readers.detect import read_any as read_any
    from meshnb.readers.endpoints import read_endpoints as read_endpoints
    from meshnb.readers.istioctl_views import read_proxy_status as read_proxy_status
    from meshnb.readers.istioctl_views import read_remote_clusters as read_remote_clusters
    from meshnb.readers.istiod_debug import read_ambientz as read_ambientz
    from meshnb.readers.istiod_debug import read_clusterz as read_clusterz
    from meshnb.readers.istiod_debug import read_endpoint_shards as read_endpoint_shards
    from meshnb.readers.istiod_debug import read_networkz as read_networkz
    from meshnb.readers.istiod_debug import read_syncz as read_syncz
    from meshnb.readers.istiod_log import read_istiod_log as read_istiod_log
    from meshnb.readers.ztunnel import read_ztunnel as read_ztunnel


def __getattr__(name: str) -> Any:
    target = exports().get(name)
    if target is None:
        raise AttributeError(f"module 'meshnb' has no attribute {name!r}")
    value = getattr(importlib.import_module(target), name) if isinstance(target, str) else target
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
