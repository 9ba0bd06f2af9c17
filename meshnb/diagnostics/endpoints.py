"""Endpoint discovery: which endpoints each cluster's proxy holds for the service, and whose they are.

The guide's `istioctl proxy-config endpoint <curl pod> | grep helloworld`, for every cluster at once:
the curl pod's sidecar's Envoy clusters (its admin ``/clusters?format=json``, read by exec in the
``istio-proxy`` container), each endpoint attributed to the cluster whose pod IP it is, or whose
east-west gateway it is (remote endpoints of another network are reached through it on 15443).
A proxy that holds only its own cluster's endpoints means its control plane cannot read the others,
or that the proxy did not take what istiod sent: istiod's own view (``/debug/endpointShardz``,
``/debug/syncz`` and ``/debug/networkz``, read in its pod) tells them apart: istiod lacks the cluster
(its remote secret, credentials or RBAC), istiod holds it but the proxy's config is not acknowledged
(``proxy-stale``), or istiod holds it but knows no east-west gateway for its network
(``no-network-gateway``: endpoints of a network without a gateway are dropped).

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
from meshnb.diagnostics.fanout import Progress, Report, error_row, per_cluster
from meshnb.diagnostics.finding import Finding, listed, reasons, verdict
from meshnb.diagnostics.istiod_views import IstiodView, read_istiod
from meshnb.diagnostics.modes import AMBIENT, pod_mode
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
ISTIO_NAMESPACE = "istio-system"


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


#: What to do when istiod knows no east-west gateway for a network whose endpoints it holds.
STEP_GATEWAY = (
    "Give each network an east-west gateway istiod can see: a Service labelled istio=eastwestgateway and "
    "topology.istio.io/network=<network> with an external address (`kubectl get svc -n istio-system -l "
    "istio=eastwestgateway`: EXTERNAL-IP must not be <pending>), as the guide's gen-eastwest-gateway.sh "
    "makes it, and expose the services through it (expose-services.yaml)."
)


def step_stale(hand: Hand, pods: Mapping[str, str], namespace: str) -> str:
    """The next step for the proxies (``{cluster: pod}``) that did not take istiod's endpoints.

    >>> print(step_stale(Hand({"c1": "c1"}, {}), {"c1": "curl-1"}, "sample"))  # doctest: +ELLIPSIS
    istiod holds ... `istioctl --context=c1 proxy-status curl-1.sample`; ... -n sample delete pod curl-1` ...
    """
    status = ", ".join(
        f"`{hand.istioctl(c, 'proxy-status')} {shlex.quote(p)}.{namespace}`" for c, p in pods.items()
    )
    restart = ", ".join(f"`{hand.kubectl(c, '-n', namespace, 'delete', 'pod', p)}`" for c, p in pods.items())
    return (
        f"istiod holds the endpoints the proxies of {listed(list(pods))} lack: see what they acknowledged "
        "with "
        f"{status}; if they stay STALE or NACK (rejected config: read the proxy's log), restart them: "
        f"{restart} (their Deployment makes new pods, which get istiod's current config)."
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
        elif reason == "proxy-stale":
            said.append(
                f"istiod holds {listed(missing[names[0]]) if one else 'the other clusters'}'s endpoints but "
                f"{proxies} {'has' if one else 'have'} not taken them (config not acknowledged)"
            )
        elif reason == "no-network-gateway":
            said.append(
                f"istiod in {who} knows no east-west gateway for the network of "
                f"{listed(missing[names[0]]) if one else 'the other clusters'}, so it drops their endpoints"
            )
        elif reason == "not-sent-to-ztunnel":
            said.append(
                f"istiod in {who} holds {listed(missing[names[0]]) if one else 'the other clusters'}'s "
                "endpoints but sends ztunnel none of them (see the ambient check)"
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
    istiod: IstiodView  # what this cluster's istiods hold: syncz of the namespace, shards, networkz
    ambient: bool = False  # the pod has no sidecar: ``endpoints`` are what istiod sends its ztunnel


def _read(
    name: str, cluster: Cluster, report: Report, *, namespace: str, service: str, port: int, selector: str
) -> _Seen:
    from meshnb.readers.endpoints import read_endpoints

    report(0, 4)
    pods = [p for p in cluster.list_pods(namespace, selector) if p.phase == "Running"]
    if not pods:
        raise NotFound(
            name, f"no Running pod with labels {selector} in namespace {namespace} to read a proxy from"
        )
    pod = sorted(pods, key=lambda p: p.name)[0]
    fqdn = f"{service}.{namespace}.svc.cluster.local"
    views = [f"/debug/syncz?namespace={namespace}", "/debug/endpointShardz", "/debug/networkz"]
    ambient = pod_mode(pod) == AMBIENT
    if ambient:  # no sidecar: what its ztunnel is sent, from istiod's /debug/ambientz
        istiod = read_istiod(cluster, ["/debug/ambientz", *views], ISTIO_NAMESPACE)
        if "ambientz" not in istiod.frames:
            raise NotFound(
                name,
                f"{pod.name} is in ambient mode and istiod's view of its ztunnel (/debug/ambientz) could not "
                f"be read: {istiod.error() or 'no answer'}",
            )
        endpoints = istiod.frames["ambientz"].assign(source_cluster=name, source_pod=pod.name)
    else:
        result = cluster.exec(namespace, pod.name, ADMIN_CLUSTERS_ARGV, container="istio-proxy", timeout=30.0)
        result.check_returncode()
        endpoints = read_endpoints(result.stdout, source_cluster=name, source_pod=pod.name)
    report(1, 4)
    endpoints = endpoints[(endpoints["service"] == fqdn) & (endpoints["port"] == port)].reset_index(drop=True)
    pod_ips = {p.ip: name for p in cluster.list_pods(namespace, f"app={service}") if p.ip}
    report(2, 4)
    gateways = {}
    try:
        for svc in cluster.list_services("istio-system", GATEWAY_SELECTOR):
            for address in svc.external_addresses:
                gateways[address] = (name, svc.labels.get("topology.istio.io/network"))
    except ClusterError as exc:  # attribution of remote endpoints is weaker, not impossible
        log.warning("%s: east-west gateways not readable: %s", name, exc)
    report(3, 4)
    if not ambient:
        istiod = read_istiod(cluster, views, ISTIO_NAMESPACE)
    report(4, 4)
    return _Seen(pod.name, endpoints, pod_ips, gateways, istiod, ambient)


@dataclass
class _Held:
    """What a source cluster's istiod holds for the service, and its proxy's sync state."""

    counts: dict[str, int]  # healthy endpoints by the cluster they are in
    networks: dict[str, str | None]  # the network of each of those clusters
    gateways: set[str]  # the networks istiod knows an east-west gateway for
    sync: list[dict]  # the proxy's /debug/syncz rows
    istiod: str  # the istiod the proxy is connected to (or every istiod of the cluster)


def _held(
    name: str, seen: _Seen, fqdn: str, namespace: str, pod_ips: Mapping[str, str], clusters: set[str]
) -> _Held | None:
    """istiod's view of the service from ``seen`` (None when its endpoint shards could not be read)."""
    frames = seen.istiod.frames
    shards = frames.get("endpoint_shards")
    if shards is None:
        return None
    mine = shards[(shards["service"] == fqdn) & (shards["namespace"] == namespace)]
    mine = mine[mine["health"].isna() | (mine["health"] == "HEALTHY")]
    named = mine["shard_cluster"].where(mine["shard_cluster"].isin(clusters))
    where = mine["address"].map(pod_ips).fillna(named)
    counts = {str(c): int(n) for c, n in where.value_counts().items()}
    networks = {str(c): net for c, net in zip(where, mine["network"], strict=True) if isinstance(c, str)}
    networkz = frames.get("networkz")
    gateways = set() if networkz is None else set(networkz["network"].dropna())
    syncz = frames.get("syncz")
    sync = [] if syncz is None else syncz[syncz["proxy"] == f"{seen.pod}.{namespace}"].to_dict("records")
    istiod = sync[0]["istiod"] if sync else ",".join(seen.istiod.pods)
    return _Held(counts, networks, gateways, sync, istiod)


def _unsynced(sync: list[dict]) -> list[str]:
    """The proxy's cluster and endpoint configuration istiod sent that it has not acknowledged."""
    return [
        f"{row['type']} {row['status']} (sent {row['sent']}, acked {row['acked'] or 'nothing'})"
        + (f": {row['last_error']}" if isinstance(row["last_error"], str) else "")
        for row in sync
        if row["type"] in ("CDS", "EDS") and (row["status"] != "SYNCED" or isinstance(row["last_error"], str))
    ]


def _why_missing(held: _Held | None, seen: _Seen, name: str, missing: list[str]) -> tuple[str | None, str]:
    """A better reason than the proxy's alone for ``missing`` (None: keep it), and what istiod said."""
    if held is None:
        return None, f" (istiod's own view could not be read: {seen.istiod.error()})"
    lacks = [c for c in missing if not held.counts.get(c)]
    if lacks:
        return None, (
            f"; istiod ({held.istiod}) holds none of {', '.join(lacks)}'s endpoints either: it has not "
            f"read {'that cluster' if len(lacks) == 1 else 'those clusters'} (its remote secret, "
            "credentials, RBAC or sync: the remote-secrets check)"
        )
    if seen.ambient:
        return "not-sent-to-ztunnel", (
            f"; istiod ({held.istiod}) holds {', '.join(missing)}'s endpoints but sends ztunnel no "
            "workload of them (/debug/ambientz): the service or its mesh config not global, multi-network "
            "off, or no east-west gateway istiod recognises (the ambient check)"
        )
    own = held.networks.get(name)
    no_gateway = sorted(
        {net for c in missing if (net := held.networks.get(c)) and net != own and net not in held.gateways}
    )
    if no_gateway:
        return "no-network-gateway", (
            f"; istiod ({held.istiod}) holds {', '.join(missing)}'s endpoints, on {', '.join(no_gateway)}, "
            "but knows no east-west gateway for that network (/debug/networkz), so it gives the proxy none "
            "of them"
        )
    if not held.sync:
        return "proxy-stale", (
            f"; istiod holds {', '.join(missing)}'s endpoints, but the proxy {seen.pod} is not connected to "
            f"this cluster's istiod ({held.istiod}, /debug/syncz)"
        )
    unsynced = _unsynced(held.sync)
    if unsynced:
        return "proxy-stale", (
            f"; istiod ({held.istiod}) holds {', '.join(missing)}'s endpoints, but the proxy has not "
            f"acknowledged what it was sent: {'; '.join(unsynced)} (/debug/syncz)"
        )
    return None, (
        f"; istiod ({held.istiod}) holds {', '.join(missing)}'s endpoints and the proxy acknowledged its "
        "config: something in that config leaves them out (a Sidecar's egress hosts, a DestinationRule)"
    )


def _held_rows(name: str, held: _Held, proxy: Mapping[str, int], hosting: set[str]) -> list[dict]:
    """Rows of ``endpoints.held`` for source cluster ``name``."""
    own = held.networks.get(name)
    rows = []
    for dest in sorted(set(held.counts) | set(proxy) | hosting):
        network = held.networks.get(dest)
        remote = network is not None and own is not None and network != own
        rows.append(
            {
                "cluster": name,
                "istiod": held.istiod,
                "dest_cluster": dest,
                "network": network,
                "istiod_endpoints": held.counts.get(dest, 0),
                "proxy_endpoints": proxy.get(dest, 0),
                "gateway": (network in held.gateways) if remote else None,
            }
        )
    return rows


def _sync_rows(name: str, held: _Held) -> list[dict]:
    """Rows of ``endpoints.proxy_sync`` for source cluster ``name``."""
    keys = ("istiod", "proxy", "type", "status", "sent", "acked", "last_error")
    return [{"cluster": name, **{key: row[key] for key in keys}} for row in held.sync]


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
    known = df["via_gateway"].fillna(False).astype(bool)  # a split-horizon workload says its own
    df["dest_cluster"] = direct.fillna(gateway).fillna(df["dest_cluster"])
    df["via_gateway"] = (gateway.notna() & direct.isna()) | known
    network_of = {cluster: network for cluster, network in gateways.values() if network}
    df["network"] = df["dest_cluster"].map(network_of).fillna(df["network"])
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

    Evidence: ``clusters`` (a verdict per source cluster), ``endpoints`` (one row per endpoint),
    ``held`` (per source cluster and cluster of the service: the endpoints istiod holds and the proxy
    holds) and ``proxy_sync`` (the proxy's sync state in its istiod's ``/debug/syncz``).

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
    pod_ips = {ip: c for s in seen.values() for ip, c in s.pod_ips.items()}
    fqdn = f"{service}.{namespace}.svc.cluster.local"
    rows, held_rows, sync_rows = [], [], []
    absent: dict[str, list[str]] = {}  # the hosting clusters each proxy holds no endpoint of
    for name, outcome in outcomes.items():
        if isinstance(outcome, MeshnbError):
            rows.append(error_row(name, outcome, pod="", endpoints=0, clusters_seen=""))
            continue
        mine = endpoints[endpoints["source_cluster"] == name]
        reached = set(mine["dest_cluster"].dropna())
        unknown = int(mine["dest_cluster"].isna().sum())
        missing = absent[name] = sorted(hosting - reached - {name})
        held = _held(name, outcome, fqdn, namespace, pod_ips, set(mesh.clusters))
        if held is not None:
            held_rows += _held_rows(name, held, mine["dest_cluster"].value_counts().to_dict(), hosting)
            sync_rows += _sync_rows(name, held)
        better, told = _why_missing(held, outcome, name, missing) if missing else (None, "")
        if mine.empty:
            status, detail = "fail", f"the proxy has no endpoint for {service}.{namespace}:{port}"
            reason = "no-endpoints"
        elif missing and reached <= {name}:
            status, reason = "fail", "only-local-endpoints"
            detail = f"only local endpoints; none of {', '.join(missing)}"
            if held is None:
                detail += ": the control plane cannot read the remote cluster(s)"
        elif missing:
            status, detail = "fail", f"no endpoints of {', '.join(missing)}"
            reason = "missing-cluster-endpoints"
        elif (mine["health"] != "HEALTHY").any() or (mine["outlier_check"] == "FAILED").any():
            status, detail = "warn", "some endpoints are not healthy or failed outlier checks"
            reason = "unhealthy-endpoints"
        else:
            status, detail, reason = "pass", f"endpoints of {', '.join(sorted(reached))}", "ok"
        if missing and not mine.empty:
            reason = better or reason
            detail += told
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
    steps, hand = [], Hand.of(mesh)
    blind = clusters[clusters["reason"].isin(["only-local-endpoints", "missing-cluster-endpoints"])]
    if len(blind):
        steps.append(_step_secrets(hand, list(blind["cluster"])))
    stale = clusters[clusters["reason"] == "proxy-stale"]
    if len(stale):
        steps.append(step_stale(hand, dict(zip(stale["cluster"], stale["pod"], strict=True)), namespace))
    if (clusters["reason"] == "no-network-gateway").any():
        steps.append(STEP_GATEWAY)
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
        evidence={
            "clusters": clusters,
            "endpoints": endpoints,
            "held": frame("endpoints.held", held_rows),
            "proxy_sync": frame("endpoints.proxy_sync", sync_rows),
        },
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
        ("held", ("cluster", "istiod", "dest_cluster", "istiod_endpoints", "proxy_endpoints", "gateway")),
    ),
    title="Endpoints the proxies hold",
    guide="Step-by-step Diagnosis",
    panel="meshnb.widgets.endpoints:EndpointsPanel",
    by_hand=_by_hand,
)
