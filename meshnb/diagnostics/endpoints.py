"""Endpoint discovery: which endpoints each cluster's proxy holds for the service, and whose they are.

The guide's `istioctl proxy-config endpoint <curl pod> | grep helloworld`, for every cluster at once:
the curl pod's sidecar's Envoy clusters (its admin ``/clusters?format=json``, read by exec in the
``istio-proxy`` container), each endpoint attributed to the cluster whose pod IP it is, or whose
east-west gateway it is (remote endpoints of another network are reached through it on 15443).
A proxy that holds only its own cluster's endpoints means its control plane cannot read the others.

>>> import meshnb
>>> finding = check_endpoints(meshnb.simulate("missing-remote-secret"))
>>> finding.status, finding.evidence["clusters"]["status"].tolist()
('fail', ['fail', 'pass'])
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshnb.backends.base import Cluster, Mesh
from meshnb.diagnostics.by_hand import Hand
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress, Report, describe, per_cluster, reason_of
from meshnb.diagnostics.finding import Finding, listed, reasons, verdict
from meshnb.errors import ClusterError, MeshnbError, NotFound
from meshnb.names import validate_name, validate_port, validate_selector

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ADMIN_CLUSTERS_ARGV", "check_endpoints"]

log = logging.getLogger("meshnb")

CHECK = "endpoints"
#: How the proxy's admin endpoint is read: pilot-agent forwards the request to Envoy's admin port.
ADMIN_CLUSTERS_ARGV = ["pilot-agent", "request", "GET", "clusters?format=json"]
GATEWAY_SELECTOR = "istio=eastwestgateway"


def _step_secrets(hand: Hand, clusters: list[str]) -> str:
    """The next step for ``clusters``, whose proxies lack other clusters' endpoints."""
    listing = [
        f"`{hand.kubectl(c, '-n', 'istio-system', 'get', 'secrets', '-l', 'istio/multiCluster=true')}`"
        for c in clusters
    ]
    return (
        f"The control plane of {listed(clusters)} cannot read the other cluster(s): check "
        f"{'its' if len(clusters) == 1 else 'their'} remote secrets (the remote secrets check, or "
        f"{', '.join(listing)}): a secret per other cluster, data key = its name, and istiod's logs without "
        "'Add cluster: create remote cluster failed'."
    )


def _headline(clusters: pd.DataFrame, missing: dict[str, list[str]], wanted: str) -> str:
    """One sentence: which clusters' proxies have the worst status, and what it means."""
    said = []
    for reason, names in reasons(clusters).items():
        one, who = len(names) == 1, listed(names)
        proxies = f"{who}'s proxy" if one else f"the proxies of {who}"
        if reason == "only-local-endpoints":
            said.append(
                f"{proxies} {'holds' if one else 'hold'} only local endpoints: "
                + (
                    f"its control plane cannot read {listed(missing[names[0]])}"
                    if one
                    else "their control planes cannot read the other clusters"
                )
            )
        elif reason == "missing-cluster-endpoints":
            said.append(
                f"{proxies} holds no endpoints of {listed(missing[names[0]])}"
                if one
                else f"{proxies} lack the endpoints of some clusters that run the service"
            )
        elif reason == "no-endpoints":
            said.append(f"{proxies} {'holds' if one else 'hold'} no endpoint of {wanted}")
        elif reason == "unhealthy-endpoints":
            said.append(f"{proxies} {'holds' if one else 'hold'} endpoints that are unhealthy or ejected")
        else:
            said.append(f"{who} could not be read ({reason})")
    return ", and ".join(said)


@dataclass
class _Seen:
    pod: str
    endpoints: pd.DataFrame
    pod_ips: dict[str, str]  # service pod IP -> its cluster (this cluster's pods)
    gateways: dict[str, tuple[str, str | None]]  # gateway address -> (cluster, network)


def _read(
    name: str, cluster: Cluster, report: Report, *, namespace: str, service: str, port: int, selector: str
) -> _Seen:
    from meshnb.readers.endpoints import read_endpoints

    report(0, 3)
    pods = [p for p in cluster.list_pods(namespace, selector) if p.phase == "Running"]
    if not pods:
        raise NotFound(
            name, f"no Running pod with labels {selector} in namespace {namespace} to read a proxy from"
        )
    pod = sorted(pods, key=lambda p: p.name)[0]
    result = cluster.exec(namespace, pod.name, ADMIN_CLUSTERS_ARGV, container="istio-proxy", timeout=30.0)
    result.check_returncode()
    report(1, 3)
    endpoints = read_endpoints(result.stdout, source_cluster=name, source_pod=pod.name)
    fqdn = f"{service}.{namespace}.svc.cluster.local"
    endpoints = endpoints[(endpoints["service"] == fqdn) & (endpoints["port"] == port)].reset_index(drop=True)
    pod_ips = {p.ip: name for p in cluster.list_pods(namespace, f"app={service}") if p.ip}
    report(2, 3)
    gateways = {}
    try:
        for svc in cluster.list_services("istio-system", GATEWAY_SELECTOR):
            for address in svc.external_addresses:
                gateways[address] = (name, svc.labels.get("topology.istio.io/network"))
    except ClusterError as exc:  # attribution of remote endpoints is weaker, not impossible
        log.warning("%s: east-west gateways not readable: %s", name, exc)
    report(3, 3)
    return _Seen(pod.name, endpoints, pod_ips, gateways)


def _attribute(seen: Mapping[str, _Seen]):
    """Fill dest_cluster, network and via_gateway of every endpoint from all clusters' pods and gateways."""
    import pandas as pd

    from meshnb.schemas import frame, validate

    pod_ips = {ip: c for s in seen.values() for ip, c in s.pod_ips.items()}
    gateways = {addr: g for s in seen.values() for addr, g in s.gateways.items()}
    frames = [s.endpoints for s in seen.values() if len(s.endpoints)]
    if not frames:
        return frame("endpoints", [])
    df = pd.concat(frames, ignore_index=True)
    direct = df["address"].map(pod_ips)
    gateway = df["address"].map({a: g[0] for a, g in gateways.items()})
    df["dest_cluster"] = direct.fillna(gateway)
    df["via_gateway"] = gateway.notna() & direct.isna()
    network_of = {cluster: network for cluster, network in gateways.values() if network}
    df["network"] = df["dest_cluster"].map(network_of)
    return validate("endpoints", df)


def check_endpoints(
    mesh: Mesh,
    namespace: str = "sample",
    service: str = "helloworld",
    port: int = 5000,
    *,
    source_selector: str = "app=curl",
    progress: Progress | None = None,
) -> Finding:
    """Read each cluster's curl-pod proxy endpoints for ``service:port`` and attribute them to clusters.

    Evidence: ``clusters`` (a verdict per source cluster) and ``endpoints`` (one row per endpoint).

    >>> import meshnb
    >>> check_endpoints(meshnb.simulate()).status
    'pass'
    """
    from meshnb.schemas import frame

    validate_name(namespace, "namespace")
    validate_name(service, "service")
    validate_port(port)
    validate_selector(source_selector)
    outcomes = per_cluster(
        mesh,
        lambda name, cluster, report: _read(
            name, cluster, report, namespace=namespace, service=service, port=port, selector=source_selector
        ),
        progress,
    )
    seen = {name: o for name, o in outcomes.items() if isinstance(o, _Seen)}
    endpoints = _attribute(seen)
    hosting = {c for s in seen.values() for c in s.pod_ips.values()}  # clusters that run the service
    rows = []
    absent: dict[str, list[str]] = {}  # the hosting clusters each proxy holds no endpoint of
    for name, outcome in outcomes.items():
        if isinstance(outcome, MeshnbError):
            detail = describe(outcome)
            rows.append(
                {
                    "cluster": name,
                    "status": "error",
                    "reason": reason_of(outcome),
                    "pod": "",
                    "endpoints": 0,
                    "clusters_seen": "",
                    "detail": detail,
                }
            )
            continue
        mine = endpoints[endpoints["source_cluster"] == name]
        reached = set(mine["dest_cluster"].dropna())
        unknown = int(mine["dest_cluster"].isna().sum())
        missing = absent[name] = sorted(hosting - reached - {name})
        if mine.empty:
            status, detail = "fail", f"the proxy has no endpoint for {service}.{namespace}:{port}"
            reason = "no-endpoints"
        elif missing and reached <= {name}:
            status, reason = "fail", "only-local-endpoints"
            detail = (
                f"only local endpoints; none of {', '.join(missing)}: the control plane cannot read the "
                "remote cluster(s)"
            )
        elif missing:
            status, detail = "fail", f"no endpoints of {', '.join(missing)}"
            reason = "missing-cluster-endpoints"
        elif (mine["health"] != "HEALTHY").any() or (mine["outlier_check"] == "FAILED").any():
            status, detail = "warn", "some endpoints are not healthy or failed outlier checks"
            reason = "unhealthy-endpoints"
        else:
            status, detail, reason = "pass", f"endpoints of {', '.join(sorted(reached))}", "ok"
        if unknown:
            detail += f" ({unknown} endpoint(s) not attributed to any cluster)"
        rows.append(
            {
                "cluster": name,
                "status": status,
                "reason": reason,
                "pod": outcome.pod,
                "endpoints": len(mine),
                "clusters_seen": ",".join(sorted(reached)),
                "detail": detail,
            }
        )
    clusters = frame("endpoints.clusters", rows)
    status, summary = verdict(clusters)
    if status == "pass":
        summary = "every proxy holds endpoints of every cluster that runs the service"
    steps = []
    blind = clusters[clusters["reason"].isin(["only-local-endpoints", "missing-cluster-endpoints"])]
    if len(blind):
        steps.append(_step_secrets(Hand.of(mesh), list(blind["cluster"])))
    if status == "error":
        steps.append(
            "A cluster could not be read: check the context, the API server, that the curl sample runs "
            "with a sidecar, and RBAC (create pods/exec in the namespace)."
        )
    return Finding(
        check=CHECK,
        status=status,
        summary=summary,
        headline=summary
        if status == "pass"
        else _headline(clusters, absent, f"{service}.{namespace}:{port}"),
        evidence={"clusters": clusters, "endpoints": endpoints},
        next_steps=steps,
        details={"namespace": namespace, "service": service, "port": port},
    )


def _by_hand(hand: Hand) -> list[str]:
    """The guide's ``istioctl proxy-config endpoint`` on each cluster's curl pod, for the service."""
    o = hand.options
    name = f"outbound|{o['port']}||{o['service']}.{o['namespace']}.svc.cluster.local"
    return [
        f"{hand.istioctl(cluster, 'proxy-config', 'endpoint')} {hand.pod(cluster, o['namespace'], 'curl')}"
        f".{shlex.quote(o['namespace'])} --cluster {shlex.quote(name)}"
        for cluster in hand.contexts
    ]


CHECK_SPEC = Check(
    CHECK,
    check_endpoints,
    "read the endpoints each cluster's curl-pod proxy holds for the service, attributed to clusters",
    options=(
        Option("service", "helloworld"),
        Option("namespace", "sample"),
        Option("port", 5000, minimum=1, maximum=65535),
    ),
    tables=(
        ("clusters", ("cluster", "status", "reason", "pod", "endpoints", "clusters_seen", "detail")),
        (
            "endpoints",
            (
                "source_cluster",
                "address",
                "endpoint_port",
                "health",
                "priority",
                "dest_cluster",
                "via_gateway",
            ),
        ),
    ),
    title="Endpoints the proxies hold",
    guide="Step-by-step Diagnosis",
    panel="meshnb.widgets.endpoints:EndpointsPanel",
    by_hand=_by_hand,
)
