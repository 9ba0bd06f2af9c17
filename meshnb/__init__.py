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
from typing import TYPE_CHECKING, Any

from meshnb.version import __version__

logging.getLogger("meshnb").addHandler(logging.NullHandler())

# public name -> module that defines it (imported on first access)
_EXPORTS = {
    "connect": "meshnb.backends.kube",
    "simulate": "meshnb.backends.sim",
    "lab": "meshnb.backends.lab",
    "open_mesh": "meshnb.backends",
    "SCENARIOS": "meshnb.backends.sim",
    "check_connectivity": "meshnb.diagnostics.connectivity",
    "check_endpoints": "meshnb.diagnostics.endpoints",
    "check_load_balancing": "meshnb.diagnostics.load_balancing",
    "check_locality": "meshnb.diagnostics.locality",
    "read_endpoints": "meshnb.readers.endpoints",
    "read_curl": "meshnb.readers.curl",
    "read_istiod_log": "meshnb.readers.istiod_log",
    "check_remote_secrets": "meshnb.diagnostics.remote_secrets",
    "check_trust": "meshnb.diagnostics.trust",
    "read_certs": "meshnb.readers.certs",
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

__all__ = [
    "SCENARIOS",
    "ClusterError",
    "ConfigError",
    "Finding",
    "InvalidName",
    "MeshnbError",
    "ParseError",
    "Report",
    "__version__",
    "check_connectivity",
    "check_endpoints",
    "check_load_balancing",
    "check_locality",
    "check_remote_secrets",
    "check_trust",
    "connect",
    "diff",
    "lab",
    "load",
    "open_mesh",
    "read_certs",
    "read_curl",
    "read_endpoints",
    "read_istiod_log",
    "simulate",
    "triage",
]

if TYPE_CHECKING:
    from meshnb.backends import open_mesh
    from meshnb.backends.kube import connect
    from meshnb.backends.lab import lab
    from meshnb.backends.sim import SCENARIOS, simulate
    from meshnb.diagnostics.connectivity import check_connectivity
    from meshnb.diagnostics.diff import diff
    from meshnb.diagnostics.endpoints import check_endpoints
    from meshnb.diagnostics.finding import Finding
    from meshnb.diagnostics.load_balancing import check_load_balancing
    from meshnb.diagnostics.locality import check_locality
    from meshnb.diagnostics.remote_secrets import check_remote_secrets
    from meshnb.diagnostics.report import Report, load
    from meshnb.diagnostics.triage import triage
    from meshnb.diagnostics.trust import check_trust
    from meshnb.errors import ClusterError, ConfigError, InvalidName, MeshnbError, ParseError
    from meshnb.readers.certs import read_certs
    from meshnb.readers.curl import read_curl
    from meshnb.readers.endpoints import read_endpoints
    from meshnb.readers.istiod_log import read_istiod_log


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'meshnb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
