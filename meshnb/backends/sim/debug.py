"""istiod's debug views in the simulated mesh, as ``pilot-discovery request GET /debug/<view>`` prints them.

``clusterz``, ``syncz``, ``endpointShardz`` and ``networkz`` follow from the mesh's state the way a real
istiod's do (``pilot/pkg/xds/debug.go``, 1.31): the config cluster first with no secret, then each
remote cluster under its secret's data key with its sync status; a row per connected proxy with its
nonces; the endpoints of every service by ``Kubernetes/<cluster>`` shard for the clusters istiod reads;
and the east-west gateway of each network it knows. ``pilot-discovery request`` prints the body and a
newline, a 404's body too (``pilot/pkg/request/command.go``).

>>> from meshnb.backends.sim import simulate
>>> import json
>>> mesh = simulate("remote-cluster-syncing")
>>> [c["syncStatus"] for c in json.loads(answer(mesh, "cluster1", "/debug/clusterz"))]
['synced', 'syncing']
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from meshnb.backends.sim.layout import SimPod
    from meshnb.backends.sim.state import MeshState

__all__ = ["ISTIO_VERSION", "answer"]

#: The version the simulated istiods and proxies say they run.
ISTIO_VERSION = "1.31.0"
_HEALTHY = 1  # model.HealthStatus: Healthy
_NOT_FOUND = "404 page not found\n"  # net/http's NotFound, as the mux answers an unknown path


def answer(state: MeshState, owner: str, path: str) -> str:
    """What ``pilot-discovery request GET <path>`` prints in ``owner``'s istiod pod."""
    parts = urlsplit(path if path.startswith("/") else "/" + path)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    view = {
        "/debug/clusterz": _clusterz,
        "/debug/syncz": _syncz,
        "/debug/endpointShardz": _endpoint_shardz,
        "/debug/networkz": _networkz,
        "/debug/ambientz": _ambientz,
    }.get(parts.path)
    if view is None:
        return _NOT_FOUND + "\n"
    return json.dumps(view(state, owner, query)) + "\n"


def _clusterz(state: MeshState, owner: str, _query: dict[str, str]) -> list[dict[str, Any]]:
    rows = [{"id": owner, "secretName": "", "syncStatus": "synced"}]
    for remote in state.clusters:
        key = state.remote_secret_key(owner, remote)
        if key is not None:
            rows.append(
                {
                    "id": key,
                    "secretName": f"istio-system/istio-remote-secret-{remote}",
                    "syncStatus": state.sync_status(owner, remote),
                }
            )
    return rows


def _proxies(state: MeshState, owner: str) -> list[SimPod]:
    """The pods whose proxy is connected to ``owner``'s istiod (every sidecar and gateway of the cluster)."""
    return [p for p in state.state(owner).pods if "istio-proxy" in p.pod.containers]


def _syncz(state: MeshState, owner: str, query: dict[str, str]) -> list[dict[str, Any]]:
    if owner in state.knobs.istiod_down:
        return []
    stale = owner in state.knobs.stale_proxy
    rows = []
    for n, sim_pod in enumerate(_proxies(state, owner), start=1):
        pod = sim_pod.pod
        if query.get("namespace") not in (None, pod.namespace):
            continue
        nonces = {kind: f"{kind[0]}{n}-1" for kind in ("cluster", "listener", "route", "endpoint")}
        acked = dict(nonces)
        if stale and pod.namespace != "istio-system":  # a later EDS push was sent and never acknowledged
            nonces["endpoint"] = f"e{n}-2"
        row: dict[str, Any] = {
            "cluster_id": owner,
            "proxy": f"{pod.name}.{pod.namespace}",
            "proxy_type": "router" if pod.namespace == "istio-system" else "sidecar",
            "istio_version": ISTIO_VERSION,
        }
        for kind, sent in nonces.items():
            row[f"{kind}_sent"], row[f"{kind}_acked"] = sent, acked[kind]
        rows.append(row)
    return rows


def _endpoint_shardz(state: MeshState, owner: str, _query: dict[str, str]) -> dict[str, Any]:
    shards: dict[str, list[dict[str, Any]]] = {}
    for cluster in [owner, *state.istiod_reads(owner)]:
        key = owner if cluster == owner else state.remote_secret_key(owner, cluster)
        region, zone = state.locality_of(cluster)
        pods = [p for p in state.pods_of(cluster, "sample", "helloworld") if p.pod.ready]
        if pods:
            shards[f"Kubernetes/{key}"] = [
                {
                    "Labels": {"app": "helloworld", "version": p.version},
                    "Addresses": [p.pod.ip],
                    "ServicePortName": state.port_name(cluster),
                    "ServiceAccount": "spiffe://cluster.local/ns/sample/sa/default",
                    "Network": state.state(cluster).network,
                    "Locality": {"Label": f"{region}/{zone}/", "ClusterID": key},
                    "EndpointPort": 5000,
                    "LbWeight": 0,
                    "TLSMode": "istio",
                    "Namespace": "sample",
                    "WorkloadName": f"helloworld-{p.version}",
                    "HealthStatus": _HEALTHY,
                    "NodeName": p.pod.node,
                }
                for p in pods
            ]
    if not shards:
        return {}
    return {
        "helloworld.sample.svc.cluster.local": {
            "sample": {
                "Shards": shards,
                "ServiceAccounts": {"spiffe://cluster.local/ns/sample/sa/default": {}},
            }
        }
    }


def _networkz(state: MeshState, owner: str, _query: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for cluster in [owner, *state.istiod_reads(owner)]:
        cluster_state = state.state(cluster)
        addresses = [cluster_state.gateway_ip]
        if cluster in state.knobs.second_gateway:
            addresses.append(state.second_gateway_address(cluster_state.index))
        rows += [
            {
                "Network": cluster_state.network,
                "Cluster": owner if cluster == owner else state.remote_secret_key(owner, cluster),
                "Addr": address,
                "Port": 15443,
                "HBONEPort": 0,
                "ServiceAccount": {"Namespace": "", "Name": ""},
            }
            for address in addresses
        ]
    return rows


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _ambientz(state: MeshState, owner: str, _query: dict[str, str]) -> dict[str, Any]:
    """The workloads ``owner``'s istiod sends its ztunnels (none unless the mesh is in ambient mode).

    Its own cluster's pods of the sample namespace with their IPs, and per other network whose cluster
    it reads one split-horizon workload of helloworld: no address, the network's east-west gateway on
    15008, the pods behind it as capacity (``pilot/pkg/serviceregistry/ambient/multicluster.go``).
    """
    if not state.knobs.ambient:
        return {"workloads": None, "services": None, "policies": None}
    hostname = "helloworld.sample.svc.cluster.local"
    backs = {f"sample/{hostname}": {"ports": [{"servicePort": 5000, "targetPort": 5000}]}}
    own = state.state(owner)
    region, zone = state.locality_of(owner)
    workloads: list[dict[str, Any]] = []
    for sim_pod in own.pods:
        pod = sim_pod.pod
        if pod.namespace != "sample" or pod.ip is None:
            continue
        workload: dict[str, Any] = {
            "uid": f"{owner}//Pod/{pod.namespace}/{pod.name}",
            "name": pod.name,
            "namespace": pod.namespace,
            "addresses": [_b64(pod.ip)],
            "network": own.network,
            "tunnelProtocol": "HBONE",
            "trustDomain": "cluster.local",
            "serviceAccount": "default",
            "node": pod.node,
            "canonicalName": sim_pod.app,
            "canonicalRevision": sim_pod.version or "latest",
            "workloadName": f"{sim_pod.app}-{sim_pod.version}" if sim_pod.version else sim_pod.app,
            "clusterId": owner,
            "locality": {"region": region, "zone": zone},
        }
        if sim_pod.app == "helloworld":
            workload["services"] = backs
        if not pod.ready:
            workload["status"] = "UNHEALTHY"
        workloads.append(workload)
    for remote in state.istiod_reads(owner):
        cluster = state.state(remote)
        pods = [p for p in state.pods_of(remote, "sample", "helloworld") if p.pod.ready]
        if cluster.network == own.network or not pods or state.ztunnel_blocked(owner, remote):
            continue
        uid = f"{cluster.network}/SplitHorizonWorkload/istio-system/istio-eastwestgateway/sample/{hostname}"
        workloads.append(
            {
                "uid": uid,
                "name": uid,
                "namespace": "sample",
                "network": cluster.network,
                "tunnelProtocol": "HBONE",
                "trustDomain": "cluster.local",
                "networkGateway": {
                    "address": {"network": cluster.network, "address": _b64(cluster.gateway_ip)},
                    "hboneMtlsPort": 15008,
                },
                "clusterId": remote,
                "services": backs,
                "capacity": len(pods),
            }
        )
    service = {
        "name": "helloworld",
        "namespace": "sample",
        "hostname": hostname,
        "ports": [{"servicePort": 5000, "targetPort": 5000}],
    }
    return {"workloads": workloads, "services": [service], "policies": None}
