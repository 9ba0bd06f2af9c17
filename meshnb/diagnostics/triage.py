"""Triage: every check of the guide in its order, then a diagnosis from all of their evidence.

>>> import meshnb
>>> report = triage(meshnb.simulate("trust-mismatch"))
>>> report.diagnosis.causes[0].key, report.status
('trust', 'fail')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from meshnb.backends.base import Mesh
from meshnb.diagnostics.check import TriageSettings
from meshnb.diagnostics.diagnosis import Diagnosis, diagnose
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.load_balancing import CHECK as SYMPTOM
from meshnb.diagnostics.load_balancing import guide_steps
from meshnb.diagnostics.registry import CHECKS, Registry
from meshnb.diagnostics.report import Report
from meshnb.errors import MeshnbError
from meshnb.version import __version__

__all__ = ["ORDER", "TriageProgress", "triage"]

log = logging.getLogger("meshnb")

#: The guide's order (the registry's).
ORDER = tuple(CHECKS)

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
    checks: Registry = CHECKS,
) -> Report:
    """Run the guide's checks (``checks``: the registry's) in order on every cluster at once, and diagnose.

    The connectivity probe creates objects, so it runs only with ``allow_changes=True`` (otherwise
    its Finding is the plan, ``skipped``). A check that fails to run at all becomes an ``error``
    Finding; the others still run. A check's ``needs`` get the Findings it reuses (each proxy is read
    once: the locality check takes the endpoints the endpoints check read).
    """
    started = dt.datetime.now(dt.UTC)
    settings = TriageSettings(allow_changes=allow_changes, requests=requests)
    findings: dict[str, Finding] = {}
    for name, check in checks.items():

        def report(cluster: str, done: int, total: int, check_name: str = name) -> None:
            if progress:
                progress(check_name, cluster, done, total)

        if progress:
            progress(name, "", 0, 1)
        reused = {checks[need].keyword: findings[need] for need in check.needs}
        try:
            findings[name] = check.function(mesh, **check.in_triage(settings), **reused, progress=report)
        except MeshnbError as exc:
            findings[name] = Finding(name, "error", f"the check could not run: {exc}")
        log.info("triage: %s: %s", name, findings[name].status)
    diagnosis = diagnose(findings, checks, mesh)
    return Report(_focused(findings, diagnosis, mesh), diagnosis, _metadata(mesh, started))


def _focused(findings: dict[str, Finding], diagnosis: Diagnosis, mesh: Mesh) -> dict[str, Finding]:
    """The symptom's next steps as triage found its cause: the causes' own, not the guide's whole walk.

    Alone, a failed load-balancing check lists every step of the guide (rule out the network, locality,
    trust, endpoints, secrets); in triage, the other checks have already walked them.
    """
    symptom = findings.get(SYMPTOM)
    steps = [f"{cause.title}: {cause.next_step}" for cause in diagnosis.causes if cause.next_step]
    if symptom is None or symptom.status == "pass" or not steps:
        return findings
    guide = guide_steps(mesh, symptom)
    own = [step for step in symptom.next_steps if step not in guide]  # e.g. the failed requests
    return {**findings, SYMPTOM: dataclasses.replace(symptom, next_steps=[*steps, *own])}
