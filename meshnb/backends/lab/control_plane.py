"""The lab's istiod: Envoy listeners, clusters and endpoints computed from the mesh's state.

As Istio does for a multi-network mesh: a sidecar's ``outbound|5000||helloworld…`` cluster holds the
local helloworld pods and, for every remote cluster whose remote secret its istiod can read, one
endpoint (the remote east-west gateway on 15443, weighted by the remote pods, mTLS) with localities,
priorities (locality failover) and locality weights (``distribute``) from the mesh config; the
DestinationRule's load-balancing policy and outlier detection; Istio's default route retries. An
east-west gateway terminates mTLS on 15443 and forwards to its cluster's helloworld pods.

Pure functions: the mesh (a :class:`meshnb.backends.sim.SimMesh` with real addresses) in, Envoy
configuration (dicts, as JSON would hold them) out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from meshnb.backends.sim import OUTLIER_DETECTION

if TYPE_CHECKING:
    from pathlib import Path

    from meshnb.backends.sim import SimMesh

__all__ = [
    "ADMIN_PORT",
    "GATEWAY_PORT",
    "INBOUND",
    "OUTBOUND",
    "PROXY_PORT",
    "gateway_clusters",
    "gateway_endpoints",
    "gateway_listeners",
    "sidecar_clusters",
    "sidecar_endpoints",
    "sidecar_listeners",
]

SERVICE = "helloworld"
NAMESPACE = "sample"
PORT = 5000
HOST = f"{SERVICE}.{NAMESPACE}.svc.cluster.local"
OUTBOUND = f"outbound|{PORT}||{HOST}"
INBOUND = f"inbound|{PORT}||{HOST}"
ADMIN_PORT = 15000
PROXY_PORT = 15001  # where a pod's outbound HTTP goes (Istio captures it with iptables; here: http_proxy)
GATEWAY_PORT = 15443
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
TLS_SOCKET = "envoy.transport_sockets.tls"
TLS_TYPES = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)


def _address(ip: str, port: int) -> dict:
    return {"socket_address": {"address": ip, "port_value": port}}


def _http_listener(name: str, ip: str, port: int, routes: list[dict], transport: dict | None = None) -> dict:
    chain: dict = {
        "filters": [
            {
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": HCM_TYPE,
                    "stat_prefix": name,
                    "route_config": {"name": name, "virtual_hosts": routes},
                    "http_filters": [ROUTER],
                },
            }
        ]
    }
    if transport:
        chain["transport_socket"] = transport
    return {"name": name, "address": _address(ip, port), "filter_chains": [chain]}


def _certificates(files: dict[str, Path]) -> dict:
    """The common TLS context of a workload: its chain and key, and the root it trusts."""
    return {
        "tls_certificates": [
            {
                "certificate_chain": {"filename": str(files["chain"])},
                "private_key": {"filename": str(files["key"])},
            }
        ],
        "validation_context": {"trusted_ca": {"filename": str(files["root"])}},
    }


def _domains() -> list[str]:
    names = [SERVICE, f"{SERVICE}.{NAMESPACE}", f"{SERVICE}.{NAMESPACE}.svc", HOST]
    return [*names, *(f"{name}:{PORT}" for name in names)]


def sidecar_listeners(mesh: SimMesh, ip: str) -> list[dict]:
    """The sidecar's outbound listener: an HTTP proxy whose route to helloworld retries like Istio's."""
    retry = {
        "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        "num_retries": max(0, mesh.knobs.retries),
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3."
                    "PreviousHostsPredicate"
                },
            }
        ],
        "host_selection_retry_max_attempts": 5,
        "retriable_status_codes": [503],
    }
    route = {"cluster": OUTBOUND, "timeout": "0s", "retry_policy": retry}
    hosts = [
        {"name": OUTBOUND, "domains": _domains(), "routes": [{"match": {"prefix": "/"}, "route": route}]}
    ]
    return [_http_listener("outbound", ip, PROXY_PORT, hosts)]


def sidecar_clusters(mesh: SimMesh, eds: dict, tls: dict[str, Path], generation: int) -> list[dict]:
    """The helloworld cluster: EDS from a file, the DestinationRule's policy, mTLS to gateways."""
    knobs = mesh.knobs
    upstream_tls = {
        "name": TLS_SOCKET,
        "typed_config": {
            "@type": TLS_TYPES + "UpstreamTlsContext",
            "sni": f"outbound_.{PORT}_._.{HOST}",
            "common_tls_context": _certificates(tls),
        },
    }
    raw = {
        "name": "envoy.transport_sockets.raw_buffer",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
        },
    }
    cluster: dict = {
        "name": OUTBOUND,
        "type": "EDS",
        "eds_cluster_config": eds,
        "connect_timeout": "10s",  # Istio's default connectTimeout
        "lb_policy": knobs.lb_policy,
        "metadata": {
            "filter_metadata": {"meshnb": {"generation": generation}}
        },  # a new one forgets ejections
        "transport_socket_matches": [
            {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": upstream_tls},
            {"name": "tlsMode-disabled", "match": {}, "transport_socket": raw},
        ],
    }
    if (
        knobs.outlier_detection
    ):  # the DestinationRule's (meshnb.backends.sim.OUTLIER_DETECTION), as istiod maps it
        rule = OUTLIER_DETECTION
        cluster["outlier_detection"] = {
            "consecutive_5xx": rule["consecutive5xxErrors"],
            "interval": rule["interval"],
            "base_ejection_time": rule["baseEjectionTime"],
        }
        if knobs.max_ejection_percent is not None:  # else Envoy's default (10%), as istiod leaves it
            cluster["outlier_detection"]["max_ejection_percent"] = knobs.max_ejection_percent
    if any(mesh.distribute(region) for region in mesh.regions()):
        cluster["common_lb_config"] = {"locality_weighted_lb_config": {}}
    return [cluster]


def _assignment(name: str, groups: dict[tuple, list[dict]]) -> dict:
    endpoints = []
    for (region, zone, priority, locality_weight), members in groups.items():
        group: dict = {"locality": {"region": region, "zone": zone}, "lb_endpoints": members}
        if priority:
            group["priority"] = priority
        if locality_weight is not None:
            group["load_balancing_weight"] = locality_weight
        endpoints.append(group)
    return {"cluster_name": name, "endpoints": endpoints}


def sidecar_endpoints(mesh: SimMesh, source: str) -> dict:
    """The sidecar's EDS for helloworld, from what ``source``'s istiod sees (its remote secrets)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for ep in mesh.endpoints(source, NAMESPACE, SERVICE, PORT):
        weight = ep.get("locality_weight")
        if weight == 0:  # Istio leaves out the endpoints of a locality weighted 0
            continue
        member: dict = {
            "endpoint": {"address": _address(ep["address"], ep["port"])},
            "load_balancing_weight": ep["weight"],
        }
        if ep["via_gateway"]:
            member["metadata"] = {"filter_metadata": {"envoy.transport_socket_match": {"tlsMode": "istio"}}}
        groups[(ep["region"], ep["zone"], ep["priority"], weight)].append(member)
    return _assignment(OUTBOUND, groups)


def gateway_listeners(ip: str, tls: dict[str, Path]) -> list[dict]:
    """The east-west gateway's 15443: mTLS (client certificates required), then the cluster's pods."""
    downstream_tls = {
        "name": TLS_SOCKET,
        "typed_config": {
            "@type": TLS_TYPES + "DownstreamTlsContext",
            "require_client_certificate": True,
            "common_tls_context": _certificates(tls),
        },
    }
    route = {"cluster": INBOUND, "timeout": "0s"}
    hosts = [
        {"name": "crossnetwork", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": route}]}
    ]
    return [_http_listener("crossnetwork", ip, GATEWAY_PORT, hosts, downstream_tls)]


def gateway_clusters(eds: dict) -> list[dict]:
    """The east-west gateway's one cluster: the inbound helloworld pods, their endpoints from ``eds``."""
    return [{"name": INBOUND, "type": "EDS", "eds_cluster_config": eds, "connect_timeout": "10s"}]


def gateway_endpoints(mesh: SimMesh, cluster: str) -> dict:
    """The gateway's own cluster's ready helloworld pods (it does not know which processes are down)."""
    region, zone = mesh.locality_of(cluster)
    members = [
        {"endpoint": {"address": _address(p.pod.ip, PORT)}}
        for p in mesh.pods_of(cluster, NAMESPACE, SERVICE)
        if p.pod.ready and p.pod.ip
    ]
    return _assignment(INBOUND, {(region, zone, 0, None): members} if members else {})
