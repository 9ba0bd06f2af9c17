"""Ambient multicluster: what an ambient client's cluster needs for its ztunnel to reach other networks.

Istio's troubleshooting guide has no word on ambient mode. From istiod's code (1.31,
``pilot/pkg/serviceregistry/ambient/``), for a client in ambient mode to reach a service's pods on
another network, its cluster's istiod must send its ztunnels a split-horizon workload of them, and
does so only when every one of these holds:

- the service exists in the client's own cluster (ztunnel resolves it by the local VIP: a service
  defined only in the remote cluster is not reached, istio/istio#57395);
- it is global there: it matches a ``GLOBAL`` entry of the mesh config's ``serviceScopeConfigs``
  (the ambient profile's selects ``istio.io/global: "true"``; the local cluster's scope decides), so
  a mesh config without such an entry makes every service local;
- the other network has an east-west gateway istiod recognises: a Gateway of class
  ``istio-east-west`` with the ``topology.istio.io/network`` label, an address in its status and an
  ``HBONE`` listener that terminates TLS (``networks.go``); with several, istiod uses the first;
- istiod runs with ``AMBIENT_ENABLE_MULTI_NETWORK=true`` (off by default, and nothing is logged):
  seen here as istiod's ``/debug/ambientz`` holding no workload of the other network although all of
  the above holds and istiod reads that cluster (its ``/debug/endpointShardz`` holds its endpoints;
  when it does not, the remote secret is the cause: the remote-secrets check's).

A service bound to a waypoint (``istio.io/use-waypoint``) needs the same waypoint name in every
cluster (istio/istio#57394). Several recognised gateways on one network only warn.

>>> import meshnb
>>> finding = check_ambient(meshnb.simulate("ambient-service-not-global"))
>>> finding.status, finding.evidence["clusters"]["reason"].tolist()
('fail', ['service-not-global', 'ok'])
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import Cluster, Mesh, Service
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, error_row, per_cluster
from meshnb.diagnostics.finding import Finding, listed, verdict
from meshnb.diagnostics.istiod_views import read_istiod
from meshnb.diagnostics.modes import AMBIENT, namespace_mode
from meshnb.errors import ClusterError, MeshnbError, NotFound
from meshnb.names import match_selector, validate_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHECK_SPEC", "REQUIREMENTS", "check_ambient", "gateway_gaps", "is_global", "steps"]

log = logging.getLogger("meshnb")

CHECK = "ambient"
#: Istio's page on ambient multicluster (the troubleshooting guide has no section on ambient mode).
AMBIENT_DOCS = "https://istio.io/latest/docs/ambient/install/multicluster/"
SYSTEM = "istio-system"
NETWORK_LABEL = "topology.istio.io/network"
WAYPOINT_LABEL = "istio.io/use-waypoint"
#: What istiod requires of an east-west gateway read from another cluster, in the order it checks.
REQUIREMENTS = (
    "the topology.istio.io/network label",
    "gatewayClassName istio-east-west",
    "an IPAddress or Hostname address in its status",
    "an HBONE listener with tls.mode Terminate",
)
#: A cluster's reason when several apply: the first is the one to fix first; the last only warns.
_ORDER = (
    "service-absent",
    "no-global-scope",
    "service-not-global",
    "no-east-west-gateway",
    "multi-network-off",
    "waypoint-mismatch",
    "several-gateways",
)
_WARNINGS = {"several-gateways"}


def _selected(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes LabelSelector (``matchLabels``, ``matchExpressions``) selects ``labels``.

    An empty or absent selector selects everything, as istiod reads it.

    >>> _selected({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}, {"a": "x"})
    True
    >>> _selected({"matchLabels": {"a": "y"}}, {"a": "x"}), _selected(None, {})
    (False, True)
    """
    if not selector:
        return True
    if not match_selector(
        ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()) or None, labels
    ):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = (
            expression.get("key"),
            expression.get("operator"),
            expression.get("values") or [],
        )
        present = key in labels
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and present and labels[key] in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def is_global(scopes: list[dict[str, Any]], service: Mapping[str, str], namespace: Mapping[str, str]) -> bool:
    """Whether a ``GLOBAL`` ``serviceScopeConfigs`` entry selects the service and its namespace.

    As ``matchServiceScope`` (``services.go``) reads them: none selects it, the service is local.

    >>> scope = [{"servicesSelector": {"matchLabels": {"istio.io/global": "true"}}, "scope": "GLOBAL"}]
    >>> is_global(scope, {"istio.io/global": "true"}, {}), is_global(scope, {}, {}), is_global([], {}, {})
    (True, False, False)
    """
    return any(
        entry.get("scope") == "GLOBAL"
        and _selected(entry.get("namespaceSelector"), namespace)
        and _selected(entry.get("servicesSelector"), service)
        for entry in scopes
    )


def gateway_gaps(gateway: Mapping[str, Any]) -> list[str]:
    """The :data:`REQUIREMENTS` an east-west Gateway object does not meet ([]: istiod recognises it).

    >>> gateway_gaps({"metadata": {"labels": {"topology.istio.io/network": "n2"}},
    ...               "spec": {"gatewayClassName": "istio", "listeners": []}})
    ['gatewayClassName istio-east-west', 'an IPAddress or Hostname address in its status', \
'an HBONE listener with tls.mode Terminate']
    """
    meta, spec = gateway.get("metadata") or {}, gateway.get("spec") or {}
    addresses = (gateway.get("status") or {}).get("addresses") or []
    listeners = spec.get("listeners") or []
    met = (
        bool((meta.get("labels") or {}).get(NETWORK_LABEL)),
        spec.get("gatewayClassName") == "istio-east-west",
        any(a.get("type") in ("IPAddress", "Hostname") and a.get("value") for a in addresses),
        any(
            listener.get("protocol") == "HBONE" and (listener.get("tls") or {}).get("mode") == "Terminate"
            for listener in listeners
        ),
    )
    return [requirement for requirement, ok in zip(REQUIREMENTS, met, strict=True) if not ok]


@dataclass
class _Seen:
    """What one cluster holds for the check."""

    mode: str
    network: str | None
    service: Service | None
    namespace_labels: dict[str, str]
    scopes: list[dict[str, Any]] | None  # None: the mesh config could not be read
    gateways: list[dict[str, Any]]  # Gateway objects in istio-system, with their gaps
    gateways_read: bool  # False: they could not be listed (RBAC...), so none is not known
    sent: set[str] | None = None  # the clusters istiod sends its ztunnels workloads of (None: not read)
    held: set[str] = field(default_factory=set)  # the clusters istiod holds endpoints of (it reads them)
    notes: list[str] = field(default_factory=list)


def _mesh_scopes(cluster: Cluster, notes: list[str]) -> list[dict[str, Any]] | None:
    import yaml

    try:
        text = cluster.read_config_map(SYSTEM, "istio").get("mesh", "")
        config = yaml.safe_load(text) or {}
    except (ClusterError, yaml.YAMLError) as exc:
        notes.append(f"the mesh config (istio-system/istio) could not be read: {exc}")
        return None
    scopes = config.get("serviceScopeConfigs") if isinstance(config, dict) else None
    return [s for s in scopes if isinstance(s, dict)] if isinstance(scopes, list) else []


def _read(name: str, cluster: Cluster, report: Report, *, namespace: str, service: str) -> _Seen:
    report(0, 4)
    try:
        labels = cluster.namespace_labels(namespace)
    except NotFound:
        labels = {}
    mode, _counts = namespace_mode(cluster.list_pods(namespace), labels)
    system = cluster.namespace_labels(SYSTEM)
    found = next((s for s in cluster.list_services(namespace) if s.name == service), None)
    report(1, 4)
    notes: list[str] = []
    scopes = _mesh_scopes(cluster, notes)
    readable = True
    try:
        objects = cluster.list_custom_objects("gateway.networking.k8s.io", "v1", SYSTEM, "gateways")
    except NotFound:  # no Gateway API in the cluster: no Gateway either
        objects = []
    except ClusterError as exc:
        notes.append(f"Gateways could not be listed ({exc})")
        objects, readable = [], False
    gateways = [
        {**g, "gaps": gateway_gaps(g)}
        for g in objects
        if ((g.get("spec") or {}).get("gatewayClassName") == "istio-east-west")
        or NETWORK_LABEL in ((g.get("metadata") or {}).get("labels") or {})
    ]
    report(2, 4)
    seen = _Seen(mode, system.get(NETWORK_LABEL), found, labels, scopes, gateways, readable, notes=notes)
    if mode in (AMBIENT, "mixed"):
        view = read_istiod(cluster, ["/debug/ambientz", "/debug/endpointShardz"], SYSTEM)
        ambientz, shards = view.frames.get("ambientz"), view.frames.get("endpoint_shards")
        fqdn = f"{service}.{namespace}.svc.cluster.local"
        if ambientz is None or shards is None:
            notes.append(f"istiod's view could not be read: {view.error()}")
        else:
            seen.sent = {str(c) for c in ambientz.loc[ambientz["service"] == fqdn, "dest_cluster"].dropna()}
            seen.held = {str(c) for c in shards.loc[shards["service"] == fqdn, "shard_cluster"].dropna()}
    report(4, 4)
    return seen


def _problems(name: str, seen: _Seen, everyone: Mapping[str, _Seen], service: str) -> list[tuple[str, str]]:
    """(reason, detail) of each requirement ``name``'s clients miss, in :data:`_ORDER`."""
    found: list[tuple[str, str]] = []
    hosting = [c for c, s in everyone.items() if c != name and s.service is not None]
    remote = [c for c in hosting if everyone[c].network != seen.network]
    if seen.mode in (AMBIENT, "mixed"):
        if seen.service is None:
            others = f" (it runs in {listed(hosting)})" if hosting else ""
            found.append(
                ("service-absent", f"no Service {service} here{others}: ztunnel resolves it by a local VIP")
            )
        elif seen.scopes is not None and not any(s.get("scope") == "GLOBAL" for s in seen.scopes):
            found.append(
                (
                    "no-global-scope",
                    "the mesh config has no GLOBAL serviceScopeConfigs entry: every service is local",
                )
            )
        elif seen.scopes is not None and not is_global(
            seen.scopes, seen.service.labels, seen.namespace_labels
        ):
            found.append(
                (
                    "service-not-global",
                    f"Service {service} is not global (no serviceScopeConfigs entry selects it; "
                    'the ambient profile\'s entry selects the label istio.io/global: "true")',
                )
            )
        for other in remote:
            usable = [g for g in everyone[other].gateways if not g["gaps"]]
            if not usable and everyone[other].gateways_read:
                gaps = everyone[other].gateways
                why = (
                    f"{other}'s Gateway {gaps[0]['metadata'].get('name')} lacks {', '.join(gaps[0]['gaps'])}"
                    if gaps
                    else f"{other} has no Gateway of class istio-east-west"
                )
                found.append(
                    (
                        "no-east-west-gateway",
                        f"no east-west gateway istiod recognises on {everyone[other].network}: {why}",
                    )
                )
            elif seen.sent is not None and other in seen.held and other not in seen.sent and not found:
                found.append(
                    (
                        "multi-network-off",
                        f"istiod sends ztunnel no workload of {other} although the service is global "
                        "and the gateway recognised: AMBIENT_ENABLE_MULTI_NETWORK is not true on istiod",
                    )
                )
        waypoints = {c: s.service.labels.get(WAYPOINT_LABEL) for c, s in everyone.items() if s.service}
        waypoint = waypoints.get(name)
        differ = sorted(c for c in hosting if waypoints.get(c) != waypoint)
        if differ:
            found.append(
                (
                    "waypoint-mismatch",
                    f"its waypoint ({waypoint or 'none'}) is not the one of {listed(differ)}",
                )
            )
    for other in remote:
        several = [g for g in everyone[other].gateways if not g["gaps"]]
        if len(several) > 1 and seen.mode in (AMBIENT, "mixed"):
            names = ", ".join(str(g["metadata"].get("name")) for g in several)
            found.append(
                (
                    "several-gateways",
                    f"{other}'s network has {len(several)} east-west gateways ({names}): istiod uses one",
                )
            )
    merged: dict[str, list[str]] = {}
    for reason, detail in found:
        merged.setdefault(reason, []).append(detail)
    return [(reason, "; ".join(merged[reason])) for reason in _ORDER if reason in merged]


#: What to do about each reason; ``{commands}`` are the clusters' own (see :func:`steps`).
_FIX = {
    "service-absent": "Create the {service} Service (and its namespace) in {clusters} too, labelled "
    'istio.io/global: "true", even with no pods: ztunnel reaches a global service through a local VIP.',
    "no-global-scope": "Put the ambient profile's serviceScopeConfigs (a GLOBAL entry selecting "
    'istio.io/global: "true") back into the mesh config of {clusters}; see it with {commands}.',
    "service-not-global": "Label the Service global in {clusters} (the local cluster's scope decides): "
    "{commands}.",
    "no-east-west-gateway": "Give each network an east-west Gateway of class istio-east-west with the "
    "topology.istio.io/network label, an HBONE listener on 15008 with tls.mode Terminate and an address in "
    "its status; see the Gateways with {commands}.",
    "multi-network-off": "Set AMBIENT_ENABLE_MULTI_NETWORK=true in istiod's environment in {clusters}, as "
    "the ambient multicluster install does, then see what istiod sends ztunnels with {commands}.",
    "waypoint-mismatch": "Bind the service to a waypoint of the same name in every cluster, and label the "
    'waypoint Service istio.io/global: "true" (istio/istio#57394, #60985): {commands}.',
    "several-gateways": "Keep one east-west gateway per network, since istiod sends ztunnel the first it "
    "finds: {commands}.",
}


def _commands(reason: str, hand: Hand, name: str, namespace: str, service: str) -> str:
    """The command that shows (or, for a label, makes) what ``reason`` is about in cluster ``name``."""
    system = (name, "-n", SYSTEM)
    argv = {
        "service-absent": (name, "-n", namespace, "get", "service", service),
        "no-global-scope": (*system, "get", "configmap", "istio", "-o", "jsonpath={.data.mesh}"),
        "service-not-global": (name, "-n", namespace, "label", "service", service, "istio.io/global=true"),
        "no-east-west-gateway": (*system, "get", "gateways.gateway.networking.k8s.io", "-o", "yaml"),
        "several-gateways": (*system, "get", "gateways.gateway.networking.k8s.io", "-L", NETWORK_LABEL),
        "waypoint-mismatch": (name, "-n", namespace, "get", "service", service, "-L", WAYPOINT_LABEL),
    }.get(reason)
    if argv is not None:
        return f"`{hand.kubectl(*argv)}`"
    debug = ("exec", "deploy/istiod", "--", "pilot-discovery", "request", "GET", "/debug/ambientz")
    return f"`{hand.kubectl(*system, *debug)}`"


def steps(
    reasons: Mapping[str, list[str]],
    hand: Hand,
    namespace: str = "sample",
    service: str = "helloworld",
    without_gateway: list[str] | None = None,
) -> list[str]:
    """The next step for each reason, with the clusters' own commands, in :data:`_ORDER`.

    ``without_gateway``: the clusters with no east-west gateway istiod recognises, where the
    ``no-east-west-gateway`` step looks (default: the clusters of the reason).

    >>> print(steps({"service-not-global": ["c1"]}, Hand({}, {}))[0])
    Label the Service global in c1 (the local cluster's scope decides): \
`kubectl --context=c1 -n sample label service helloworld istio.io/global=true`.
    """
    out = []
    for reason in _ORDER:
        names = reasons.get(reason)
        if names:
            where = (without_gateway or names) if reason == "no-east-west-gateway" else names
            commands = ", ".join(_commands(reason, hand, n, namespace, service) for n in where)
            text = _FIX[reason].format(
                service=f"{service}.{namespace}", clusters=listed(names), commands=commands
            )
            out.append(text)
    return out


def headline(reason: str, names: list[str]) -> str:
    """A cause's title for ``reason`` in ``names``.

    >>> headline("multi-network-off", ["c1"])
    "c1's istiod sends ztunnel no other network's workloads (multi-network off)"
    """
    who = listed(names)
    return {
        "service-absent": f"the service is not defined in {who}, where ambient clients call it",
        "no-global-scope": f"{who}'s mesh config makes no service global (serviceScopeConfigs)",
        "service-not-global": f"the service is not global in {who}",
        "no-east-west-gateway": f"{who} cannot reach another network: no east-west gateway istiod recognises",
        "multi-network-off": f"{who}'s istiod sends ztunnel no other network's workloads (multi-network off)",
        "waypoint-mismatch": f"the service's waypoint is not named alike in {who} and the other clusters",
        "several-gateways": f"a network {who} reaches has several east-west gateways",
    }[reason]


def check_ambient(
    mesh: Mesh, namespace: str = "sample", service: str = "helloworld", *, progress: Progress | None = None
) -> Finding:
    """Check what ambient clients need to reach the service on other networks, in every cluster.

    Evidence: ``clusters`` (a verdict per cluster, with its mode) and ``gateways`` (each east-west
    Gateway object and what istiod would miss in it). Skipped when no cluster's namespace is in ambient
    mode.
    """
    from meshnb.schemas import frame

    validate_name(namespace, "namespace")
    validate_name(service, "service")
    outcomes = per_cluster(
        mesh,
        lambda name, cluster, report: _read(name, cluster, report, namespace=namespace, service=service),
        progress,
    )
    seen = {name: o for name, o in outcomes.items() if isinstance(o, _Seen)}
    rows, gateway_rows = [], []
    for name, outcome in outcomes.items():
        if isinstance(outcome, MeshnbError):
            rows.append(error_row(name, outcome, mode="unknown", east_west=0))
            continue
        problems = _problems(name, outcome, seen, service)
        if problems:
            reason, detail = problems[0]
            status = "warn" if reason in _WARNINGS else "fail"
            detail = "; ".join(d for _r, d in problems)
        elif outcome.mode in (AMBIENT, "mixed"):
            status, reason, detail = "pass", "ok", "its ztunnels are sent the other networks' workloads"
        else:
            status, reason, detail = "skipped", "not-ambient", f"{namespace} is in {outcome.mode} mode here"
        if outcome.notes:
            detail += f" ({'; '.join(outcome.notes)})"
        usable = sum(not g["gaps"] for g in outcome.gateways)
        rows.append(
            {
                "cluster": name,
                "status": status,
                "reason": reason,
                "mode": outcome.mode,
                "east_west": usable,
                "detail": detail,
            }
        )
        gateway_rows += [
            {
                "cluster": name,
                "gateway": str((g.get("metadata") or {}).get("name")),
                "network": ((g.get("metadata") or {}).get("labels") or {}).get(NETWORK_LABEL),
                "class": (g.get("spec") or {}).get("gatewayClassName"),
                "missing": ", ".join(g["gaps"]),
            }
            for g in outcome.gateways
        ]
    clusters = frame("ambient.clusters", rows)
    gateways = frame("ambient.gateways", gateway_rows)
    if (clusters["status"] == "skipped").all():
        status, summary = "skipped", f"{namespace} is in ambient mode in no cluster: nothing ambient to check"
    else:
        status, summary = verdict(clusters[clusters["status"] != "skipped"])
        if status == "pass":
            summary = "every ambient client's ztunnel is sent the other networks' workloads of the service"
    found: dict[str, list[str]] = {}
    for row in clusters.itertuples():
        if row.status in ("fail", "warn"):
            found.setdefault(str(row.reason), []).append(str(row.cluster))
    hand = Hand.of(mesh, {"namespace": namespace, "service": service})
    return Finding(
        check=CHECK,
        status=status,
        summary=summary,
        headline=summary
        if status in ("pass", "skipped")
        else "; ".join(headline(r, n) for r, n in found.items()),
        evidence={"clusters": clusters, "gateways": gateways},
        next_steps=steps(found, hand, namespace, service, _without_gateway(clusters)),
        details={"namespace": namespace, "service": service},
    )


def _without_gateway(clusters: pd.DataFrame) -> list[str]:
    """The clusters read whose network has no east-west gateway istiod recognises."""
    read = clusters[clusters["status"] != "error"]
    return [str(c) for c in read.loc[read["east_west"] == 0, "cluster"]]


def _by_hand(hand: Hand) -> list[str]:
    """Each cluster's namespace mode, the service's scope label, the mesh config, the Gateways, ztunnel."""
    ns, service = hand.options["namespace"], hand.options["service"]
    lines = []
    for cluster in hand.contexts:
        lines += [
            hand.kubectl(cluster, "get", "namespace", ns, "-L", "istio.io/dataplane-mode"),
            hand.kubectl(
                cluster, "-n", ns, "get", "service", service, "-L", "istio.io/global", "-L", WAYPOINT_LABEL
            ),
            hand.kubectl(cluster, "-n", SYSTEM, "get", "configmap", "istio", "-o", "jsonpath={.data.mesh}"),
            hand.kubectl(cluster, "-n", SYSTEM, "get", "gateways.gateway.networking.k8s.io", "-o", "yaml"),
            hand.istioctl(cluster, "ztunnel-config", "service", "--service-namespace", ns),
        ]
    return lines


CHECK_SPEC = Check(
    CHECK,
    check_ambient,
    "check what ambient clients need to reach other networks: global services, gateways, istiod's flag",
    tables=(
        ("clusters", ("cluster", "status", "reason", "mode", "east_west", "detail")),
        ("gateways", ("cluster", "gateway", "network", "class", "missing")),
    ),
    options=(Option("namespace", "sample"), Option("service", "helloworld")),
    title="Ambient multicluster",
    by_hand=_by_hand,
    guide="Ambient multicluster",
    docs=AMBIENT_DOCS,
)
