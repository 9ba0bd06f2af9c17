"""Locality load balancing: whether traffic stays local by design.

The guide: with locality load balancing in effect, each proxy prefers endpoints in its own locality and
sends traffic elsewhere only on failover, so the load-balancing step sees only local versions although
nothing is broken. This check reads, in every cluster at once, the localities of the nodes (region,
zone, ``topology.istio.io/subzone``; a pod's ``istio-locality`` label overrides them), the locality
settings that apply to the service (mesh config and DestinationRules, read through the API) and the
endpoint priorities the proxies hold, and explains the outcome:

- the clusters are in different localities and locality load balancing is on, with outlier detection:
  local traffic is preferred by design (``warn``);
- the clusters share a locality: locality is not the cause (``pass``);
- locality settings without outlier detection are not in effect (``pass``).

>>> import meshnb
>>> check_locality(meshnb.simulate("locality-prefer-local")).status
'warn'
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import Cluster, Mesh
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, error_row, per_cluster
from meshnb.diagnostics.finding import Finding, listed, reasons, verdict, worst
from meshnb.errors import MeshnbError, NotFound
from meshnb.names import validate_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_locality", "locality_of"]

log = logging.getLogger("meshnb")

CHECK = "locality"
REGION, ZONE, SUBZONE = (
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
)
DR = ("networking.istio.io", "v1", "destinationrules")
#: Envoy's max_ejection_percent when the DestinationRule does not set it.
ENVOY_MAX_EJECTION_PERCENT = 10
STEP_EJECTION = (
    "Set outlierDetection.maxEjectionPercent in the DestinationRule high enough to eject every endpoint "
    "of the preferred locality (100 for small services), or Envoy keeps sending to them when they fail."
)
STEP_BY_DESIGN = (
    "Traffic stays local by design (guide: 'Locality load balancing'). To see cross-cluster responses, "
    "send from a locality without a healthy local endpoint, scale the local version down, or set "
    "localityLbSetting.distribute or failover in the DestinationRule to spread traffic on purpose."
)
#: The headline when no cluster's traffic is kept local, all for the same reason.
_NOT_LOCAL = {
    "locality-off": "locality load balancing is off: it does not keep traffic local here",
    "shared-locality": "the clusters share a locality: locality load balancing does not keep traffic local",
    "no-outlier-detection": "locality settings without outlier detection are not in effect: traffic is not "
    "kept local",
}


def locality_of(labels: dict[str, str], override: str | None = None) -> tuple[str, str, str]:
    """(region, zone, subzone) from node labels, or from a pod's ``istio-locality`` label (``a.b.c``).

    >>> locality_of({REGION: "us-east", ZONE: "us-east-1a"})
    ('us-east', 'us-east-1a', '')
    >>> locality_of({}, "eu-west.eu-west-1b.rack4")
    ('eu-west', 'eu-west-1b', 'rack4')
    """
    if override:
        parts = [*override.split("."), "", "", ""][:3]
        return parts[0], parts[1], parts[2]
    return labels.get(REGION, ""), labels.get(ZONE, ""), labels.get(SUBZONE, "")


@dataclass
class _Read:
    localities: list[dict[str, Any]] = field(default_factory=list)
    settings: list[dict[str, Any]] = field(default_factory=list)


def _yaml(text: str) -> dict:
    import yaml

    try:
        loaded = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _read(name: str, cluster: Cluster, report: Report, *, namespace: str, service: str) -> _Read:
    read = _Read()
    report(0, 3)
    nodes = {node.name: node for node in cluster.list_nodes()}
    for pod in cluster.list_pods(namespace, f"app={service}") + cluster.list_pods(namespace, "app=curl"):
        node = nodes.get(pod.node or "")
        override = pod.labels.get("istio-locality")
        region, zone, subzone = locality_of(dict(node.labels) if node else {}, override)
        read.localities.append(
            {
                "cluster": name,
                "pod": pod.name,
                "app": pod.labels.get("app", ""),
                "node": pod.node or "",
                "region": region,
                "zone": zone,
                "subzone": subzone,
                "source": "istio-locality label" if override else "node labels",
            }
        )
    report(1, 3)
    try:
        mesh_config = _yaml(cluster.read_config_map("istio-system", "istio").get("mesh", ""))
    except NotFound:
        mesh_config = {}
    setting = mesh_config.get("localityLbSetting") or {}
    read.settings.append(
        {
            "cluster": name,
            "source": "mesh config (istio-system/istio)",
            "host": "*",
            "locality_enabled": setting.get("enabled", True) if mesh_config else None,
            "outlier_detection": None,
            "max_ejection_percent": None,
            "distribute_or_failover": bool(setting.get("distribute") or setting.get("failover")),
        }
    )
    report(2, 3)
    fqdn = f"{service}.{namespace}.svc.cluster.local"
    try:
        rules = cluster.list_custom_objects(*DR[:2], namespace, DR[2])
    except NotFound:  # the CRD is not installed: no DestinationRules
        rules = []
    for rule in rules:
        spec = rule.get("spec") or {}
        if spec.get("host") not in (service, f"{service}.{namespace}", fqdn):
            continue
        policy = spec.get("trafficPolicy") or {}
        lb = (policy.get("loadBalancer") or {}).get("localityLbSetting") or {}
        read.settings.append(
            {
                "cluster": name,
                "source": f"DestinationRule {namespace}/{(rule.get('metadata') or {}).get('name', '?')}",
                "host": spec.get("host"),
                "locality_enabled": lb.get("enabled") if "enabled" in lb else None,
                "outlier_detection": bool(policy.get("outlierDetection")),
                "max_ejection_percent": (policy.get("outlierDetection") or {}).get("maxEjectionPercent"),
                "distribute_or_failover": bool(lb.get("distribute") or lb.get("failover")),
            }
        )
    report(3, 3)
    return read


def _effective(settings: list[dict[str, Any]]) -> tuple[bool, bool]:
    """(locality load balancing enabled, outlier detection present) for the service in one cluster."""
    enabled = True
    for row in settings:  # DestinationRules come after the mesh config and override it
        if row["locality_enabled"] is not None:
            enabled = bool(row["locality_enabled"])
    outlier = any(row["outlier_detection"] for row in settings)
    return enabled, outlier


def _failover_blocked(settings: list[dict[str, Any]], held: pd.DataFrame) -> str:
    """Why failover cannot happen, if ``maxEjectionPercent`` forbids ejecting every preferred endpoint.

    Envoy ejects a host only while the ejected hosts, that one included, stay within
    max_ejection_percent of the cluster's hosts (10% unless the DestinationRule sets it).
    """
    if held.empty or "priority" not in held:
        return ""
    limits = [row["max_ejection_percent"] for row in settings if row.get("max_ejection_percent") is not None]
    limit = int(limits[-1]) if limits else ENVOY_MAX_EJECTION_PERCENT
    preferred = int((held["priority"] == held["priority"].min()).sum())
    needed = 100 * preferred / len(held)
    if needed <= limit:
        return ""
    return (
        f"but failover cannot happen: Envoy ejects a host only while the ejected hosts stay within "
        f"maxEjectionPercent ({limit}%{'' if limits else ', the default'}), and ejecting the {preferred} "
        f"preferred of {len(held)} endpoints needs {math.ceil(needed)}%"
    )


def check_locality(
    mesh: Mesh,
    namespace: str = "sample",
    service: str = "helloworld",
    *,
    port: int = 5000,
    endpoints: Finding | None = None,
    progress: Progress | None = None,
) -> Finding:
    """Explain whether locality load balancing keeps ``service``'s traffic local, and why.

    Evidence: ``clusters`` (a verdict per cluster), ``localities`` (per pod), ``settings`` (mesh
    config and DestinationRules) and ``endpoints`` (priorities the proxies hold). The priorities are
    read by :func:`~meshnb.diagnostics.endpoints.check_endpoints`, unless ``endpoints`` is its
    Finding for the same service already (triage passes it, so each proxy is read once).

    >>> import meshnb
    >>> check_locality(meshnb.simulate()).status
    'pass'
    """
    import pandas as pd

    from meshnb.diagnostics.endpoints import check_endpoints
    from meshnb.schemas import frame

    validate_name(namespace, "namespace")
    validate_name(service, "service")
    outcomes = per_cluster(
        mesh,
        lambda name, cluster, report: _read(name, cluster, report, namespace=namespace, service=service),
        progress,
    )
    wanted = {"namespace": namespace, "service": service, "port": port}
    if endpoints is None or {k: endpoints.details.get(k) for k in wanted} != wanted:
        endpoints = check_endpoints(mesh, namespace, service, port)
    held = endpoints.evidence["endpoints"]
    read = {name: o for name, o in outcomes.items() if isinstance(o, _Read)}
    localities = pd.DataFrame(
        [row for r in read.values() for row in r.localities],
        columns=["cluster", "pod", "app", "node", "region", "zone", "subzone", "source"],
    )
    settings = pd.DataFrame(
        [row for r in read.values() for row in r.settings],
        columns=[
            "cluster",
            "source",
            "host",
            "locality_enabled",
            "outlier_detection",
            "max_ejection_percent",
            "distribute_or_failover",
        ],
    )
    serving = localities[localities["app"] == service]
    where = {
        name: {
            tuple(x)
            for x in serving.loc[serving["cluster"] == name, ["region", "zone", "subzone"]].to_numpy()
        }
        for name in read
    }
    rows = []
    for name, outcome in outcomes.items():
        if isinstance(outcome, MeshnbError):
            rows.append(error_row(name, outcome, locality="", in_effect=pd.NA))
            continue
        enabled, outlier = _effective(outcome.settings)
        own = sorted(where.get(name, set()))
        others = set().union(*(where[o] for o in where if o != name)) if len(where) > 1 else set()
        remote = held[(held["source_cluster"] == name) & (held["dest_cluster"] != name)]
        deprioritised = bool(len(remote)) and bool((remote["priority"] > 0).all())
        label = "/".join(part for part in own[0] if part) if own else "unknown"
        if own and others and set(own) & others:
            status, reason = "pass", "shared-locality"
            detail = f"shares locality {label} with another cluster: locality is not the cause"
        elif not enabled:
            status, reason = "pass", "locality-off"
            detail = "locality load balancing is off: locality is not the cause"
        elif not outlier:
            status, reason = "pass", "no-outlier-detection"
            detail = "locality settings apply but there is no outlier detection, so they are not in effect"
        else:
            status, reason = "warn", "prefers-local"
            detail = (
                f"in {label}, with locality load balancing and outlier detection on: local endpoints are "
                "preferred by design, other localities get traffic only on failover"
            )
            if deprioritised:
                detail += " (the proxy holds the remote endpoints at a lower priority)"
            blocked = _failover_blocked(outcome.settings, held[held["source_cluster"] == name])
            if blocked:
                detail += "; " + blocked
                reason = "failover-blocked"
        rows.append(
            {
                "cluster": name,
                "status": status,
                "reason": reason,
                "locality": label,
                "in_effect": enabled and outlier,
                "detail": detail,
            }
        )
    clusters = frame("locality.clusters", rows)
    status, summary = verdict(clusters)
    if status == "pass":
        summary = "locality load balancing does not keep traffic local here: " + summary
    steps = [STEP_BY_DESIGN] if status == "warn" else []
    if (clusters["reason"] == "failover-blocked").any():
        steps.append(STEP_EJECTION)
    if status == "error":
        steps.append(
            "A cluster could not be read: check the context, the API server and RBAC "
            "(list nodes, get configmaps, list destinationrules)."
        )
    return Finding(
        check=CHECK,
        status=status,
        summary=summary,
        headline=_headline(clusters),
        evidence={
            "clusters": clusters,
            "localities": localities,
            "settings": settings,
            "endpoints": held,
        },
        next_steps=steps,
        details={"namespace": namespace, "service": service},
    )


def _headline(clusters: pd.DataFrame) -> str:
    """One sentence: where locality keeps traffic local (and failover is blocked), or why it does not."""
    found = reasons(clusters)
    named = [name for name in clusters["cluster"] if any(name in names for names in found.values())]
    status = worst(clusters["status"].tolist())
    if status == "pass":
        if len(found) == 1:
            return _NOT_LOCAL[next(iter(found))]
        return "locality load balancing does not keep traffic local here"
    if status == "error":
        return ", and ".join(
            f"{listed(names)} could not be read ({reason})" for reason, names in found.items()
        )
    blocked = found.get("failover-blocked", [])
    where = "" if blocked == named else f" in {listed(blocked)}"
    why = f", and maxEjectionPercent blocks failover{where}" if blocked else ""
    return f"locality load balancing keeps traffic in its own locality by design in {listed(named)}{why}"


def _by_hand(hand: Hand) -> list[str]:
    """The nodes' localities, the service's DestinationRules and the mesh config, per cluster."""
    ns = hand.options["namespace"]
    lines = []
    for cluster in hand.contexts:
        lines += [
            hand.kubectl(
                cluster,
                "get",
                "nodes",
                "-L",
                "topology.kubernetes.io/region",
                "-L",
                "topology.kubernetes.io/zone",
            ),
            hand.kubectl(cluster, "-n", ns, "get", "destinationrules", "-o", "yaml"),
            hand.kubectl(
                cluster, "-n", "istio-system", "get", "configmap", "istio", "-o", "jsonpath={.data.mesh}"
            ),
        ]
    return lines


CHECK_SPEC = Check(
    CHECK,
    check_locality,
    "explain whether locality load balancing keeps the service's traffic local, and why",
    options=(Option("service", "helloworld"), Option("namespace", "sample")),
    tables=(
        ("clusters", ("cluster", "status", "reason", "locality", "in_effect", "detail")),
        ("settings", ("cluster", "source", "host", "locality_enabled", "outlier_detection")),
    ),
    title="Locality load balancing",
    guide="Locality Load Balancing",
    panel="meshnb.widgets.locality:LocalityPanel",
    needs=("endpoints",),
    by_hand=_by_hand,
)
