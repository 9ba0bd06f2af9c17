"""Triage: every check of the guide in its order, then a diagnosis from all of their evidence.

>>> import meshnb
>>> report = triage(meshnb.simulate("trust-mismatch"))
>>> report.diagnosis.causes[0].key, report.status
('trust', 'fail')
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from meshnb.backends.base import Mesh
from meshnb.diagnostics.connectivity import check_connectivity
from meshnb.diagnostics.diagnosis import diagnose
from meshnb.diagnostics.endpoints import check_endpoints
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.load_balancing import check_load_balancing
from meshnb.diagnostics.locality import check_locality
from meshnb.diagnostics.remote_secrets import check_remote_secrets
from meshnb.diagnostics.report import Report
from meshnb.diagnostics.trust import check_trust
from meshnb.errors import MeshnbError
from meshnb.version import __version__

__all__ = ["ORDER", "TriageProgress", "triage"]

log = logging.getLogger("meshnb")

#: The guide's order: does traffic cross? the network, trust, the control plane, locality.
ORDER = ("load-balancing", "connectivity", "trust", "endpoints", "remote-secrets", "locality")

#: progress(check, cluster, done, total): which check runs, and each cluster's progress within it.
TriageProgress = Callable[[str, str, int, int], None]


def _metadata(mesh: Mesh, started: dt.datetime) -> dict[str, Any]:
    versions = {}
    for name, cluster in mesh.clusters.items():
        version = getattr(cluster, "version", None)
        try:
            versions[name] = version() if callable(version) else None
        except MeshnbError as exc:
            versions[name] = None
            log.info("%s: version unknown: %s", name, exc)
    return {
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "clusters": list(mesh.clusters),
        "backend": type(mesh).__name__,
        "scenario": getattr(mesh, "scenario", None),
        "versions": versions,
        "meshnb_version": __version__,
    }


def triage(
    mesh: Mesh,
    *,
    allow_changes: bool = False,
    requests: int = 100,
    progress: TriageProgress | None = None,
) -> Report:
    """Run the guide's checks in its order on every cluster at once and diagnose the mesh.

    The connectivity probe creates objects, so it runs only with ``allow_changes=True`` (otherwise
    its Finding is the plan, ``skipped``). A check that fails to run at all becomes an ``error``
    Finding; the others still run.
    """
    started = dt.datetime.now(dt.UTC)
    checks: dict[str, Callable[..., Finding]] = {
        "load-balancing": lambda p: check_load_balancing(mesh, requests=requests, progress=p),
        "connectivity": lambda p: check_connectivity(mesh, apply=allow_changes, progress=p),
        "trust": lambda p: check_trust(mesh, progress=p),
        "endpoints": lambda p: check_endpoints(mesh, progress=p),
        "remote-secrets": lambda p: check_remote_secrets(mesh, progress=p),
        "locality": lambda p: check_locality(mesh, progress=p),
    }
    findings: dict[str, Finding] = {}
    for name in ORDER:

        def report(cluster: str, done: int, total: int, check: str = name) -> None:
            if progress:
                progress(check, cluster, done, total)

        if progress:
            progress(name, "", 0, 1)
        try:
            findings[name] = checks[name](report)
        except MeshnbError as exc:
            findings[name] = Finding(name, "error", f"the check could not run: {exc}")
        log.info("triage: %s: %s", name, findings[name].status)
    return Report(findings, diagnose(findings), _metadata(mesh, started))
