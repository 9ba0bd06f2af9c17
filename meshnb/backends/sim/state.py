"""The state of the simulated mesh (:class:`MeshState`).

Its clusters, pods, localities, roots and remote secrets, and the endpoints each cluster's istiod
programs into its sidecars from them.

Everything derives from the knobs: a sidecar's endpoints come from what its cluster's istiod can see
(a valid remote secret for each other cluster), weighted by the pods behind each remote gateway, with
priorities and locality weights from the mesh config. The cluster API and the data plane read it;
:class:`meshnb.backends.sim.SimMesh` adds them and the knobs' changes.

>>> from meshnb.backends.sim import simulate
>>> mesh = simulate("missing-remote-secret")
>>> [ep["dest_cluster"] for ep in mesh.endpoints("cluster1", "sample", "helloworld", 5000)]
['cluster1']
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import Cluster, Secret
from meshnb.backends.sim import istiod
from meshnb.backends.sim.dataplane import DataPlane
from meshnb.backends.sim.knobs import Knobs
from meshnb.backends.sim.layout import ClusterState, SimPod, new_cluster
from meshnb.backends.sim.lb import expected_shares
from meshnb.backends.sim.pki import NARROW_READER, READER, REVOKED_READER, SimPKI
from meshnb.errors import ConfigError

if TYPE_CHECKING:
    from meshnb.backends.remote_api import Attempt

__all__ = ["ISTIOD_LEAD", "MeshState"]

#: How long before a scenario takes effect its istiods started: their log (remote clusters added, a
#: sync timed out after 30 s) ends before the checks' requests, on the same time line.
ISTIOD_LEAD = dt.timedelta(seconds=40)


class MeshState:
    """The simulated mesh's state for ``knobs``.

    It has ``clusters`` clusters of the guide, names drawn from ``seed``, and helloworld ``versions`` by
    cluster (default ``v1``, ``v2``, ...).
    """

    clusters: Mapping[str, Cluster]
    """The cluster API of each cluster, by name (set by :class:`meshnb.backends.sim.SimMesh`)."""
    data_plane: DataPlane
    """What carries the traffic (set by :class:`meshnb.backends.sim.SimMesh`)."""

    def __init__(
        self, knobs: Knobs, seed: int = 0, clusters: int = 2, versions: Mapping[str, str] | None = None
    ):
        if clusters < 2:
            raise ConfigError("the simulated mesh needs at least two clusters")
        self.seed = seed
        self.knobs = knobs
        self.restart_istiods()
        self.pki = SimPKI(seed)
        rng = random.Random(seed)
        names = [f"cluster{i}" for i in range(1, clusters + 1)]
        versions = dict(versions or {name: f"v{i}" for i, name in enumerate(names, start=1)})
        self._states: dict[str, ClusterState] = {}
        for index, name in enumerate(names, start=1):
            self._states[name] = new_cluster(
                name, index, rng, seed, versions.get(name), self.address, self.gateway_address(index)
            )

    def restart_istiods(self) -> None:
        """Start every istiod anew, :data:`ISTIOD_LEAD` before now: their logs begin then."""
        self.istiod_started = dt.datetime.now(dt.UTC).replace(microsecond=0) - ISTIOD_LEAD

    def address(self, cluster_index: int, subnet: int, host: int) -> str:
        """A pod's IP: subnet 0 for the guide's pods, 1 for pods created through the API, 2 for replicas."""
        return f"10.{cluster_index}.{subnet}.{host}"

    def gateway_address(self, cluster_index: int) -> str:
        """The external IP of a cluster's east-west gateway."""
        return f"172.18.{cluster_index}.100"

    def second_gateway_address(self, cluster_index: int) -> str:
        """The external IP of a cluster's second east-west gateway (the ``second_gateway`` knob)."""
        return f"172.18.{cluster_index}.101"

    def _take(self, knobs: Knobs) -> None:
        """Take ``knobs`` and run as many helloworld pods in each cluster as they say (default 1)."""
        unknown = sorted(set(knobs.replicas) - set(self._states))
        if unknown:
            raise ConfigError(f"replicas for unknown cluster(s) {unknown}; clusters: {sorted(self._states)}")
        self.knobs = knobs
        for name, state in self._states.items():
            state.scale(knobs.replicas.get(name, 1))
            state.use_ambient(knobs.ambient, self.address)

    # ---- derived state ----

    def state(self, cluster: str) -> ClusterState:
        """What ``cluster`` holds: nodes, pods, namespaces, created services, its network and gateway."""
        return self._states[cluster]

    def root_of(self, cluster: str) -> str:
        """Which root signs ``cluster``'s workload certificates (a name; equal names trust each other)."""
        if cluster in self.knobs.missing_cacerts:
            return f"self-signed-{cluster}"
        last = list(self._states)[-1]
        return "alt" if self.knobs.trust_mismatch and cluster == last else "root"

    def cacerts(self, cluster: str) -> dict[str, bytes] | None:
        """The data of ``cluster``'s ``cacerts`` secret (None: it has none).

        A data plane with its own certificate files (the lab's) overrides it to give those.
        """
        if cluster in self.knobs.missing_cacerts:
            return None
        return self.pki.cacerts(cluster, self.root_of(cluster))

    def remote_secret_key(self, owner: str, remote: str) -> str | None:
        """The data key of ``owner``'s remote secret for ``remote`` (None if there is no such secret)."""
        if owner == remote or owner in self.knobs.missing_remote_secret:
            return None
        return "kubeconfig" if owner in self.knobs.remote_secret_wrong_key else remote

    def remote_secret(self, owner: str, remote: str) -> Secret | None:
        """The remote secret in ``owner``'s istio-system that lets its istiod read ``remote``."""
        key = self.remote_secret_key(owner, remote)
        if key is None:
            return None
        server = (
            "https://127.0.0.1:6443"
            if owner in self.knobs.remote_secret_loopback
            else self._states[remote].api_server
        )
        expired = owner in self.knobs.remote_secret_expired
        return istiod.remote_secret(
            self.pki, remote, key, server, expired=expired, account=self.account_of(owner)
        )

    def account_of(self, owner: str) -> str:
        """The service account whose token ``owner``'s remote secrets carry (Istio's reader, or a fault's)."""
        if owner in self.knobs.remote_secret_revoked:
            return REVOKED_READER
        if owner in self.knobs.remote_secret_no_endpointslices:
            return NARROW_READER
        return READER

    def try_kubeconfig(self, kubeconfig: bytes, *, timeout: float = 5.0) -> Attempt:
        """What the simulated API servers answer a remote secret's kubeconfig, tried from meshnb's machine.

        meshnb is modelled on a machine of its own, so a loopback server does not answer; the tokens
        the servers accept are their reader's and, bound to a role without endpointslices, the narrow
        reader's (see :mod:`meshnb.backends.sim.apiserver`).
        """
        from meshnb.backends.sim.apiserver import answer

        return answer(self, kubeconfig)

    def sync_error(self, owner: str, remote: str) -> str | None:
        """Why ``owner``'s istiod cannot read ``remote`` with its secret (None: it can).

        As real istiod 1.31 logs it on the test bed: a loopback server only times out; a revoked
        or expired token and a removed reader role say why in ``watch error`` lines.
        """
        if owner in self.knobs.remote_secret_loopback:
            return ""
        if owner in self.knobs.remote_secret_revoked or owner in self.knobs.remote_secret_expired:
            return "failed to list *v1.Namespace: Unauthorized"
        if owner in self.knobs.remote_secret_no_endpointslices:
            return (
                "failed to list *v1.EndpointSlice: endpointslices.discovery.k8s.io is forbidden: User "
                f'"system:serviceaccount:istio-system:{NARROW_READER}" cannot list resource "endpointslices" '
                'in API group "discovery.k8s.io" at the cluster scope'
            )
        if remote in self.knobs.reader_role_removed:
            return (
                'failed to list *v1.Namespace: namespaces is forbidden: User "system:serviceaccount:'
                'istio-system:istio-reader-service-account" cannot list resource "namespaces" in API '
                'group "" at the cluster scope'
            )
        return None

    def sync_status(self, owner: str, remote: str) -> str:
        """What ``owner``'s istiod says of ``remote`` in ``/debug/clusterz``: synced, syncing or timeout.

        A cluster it cannot read times out after ``PILOT_REMOTE_CLUSTER_TIMEOUT`` (30 s; its istiod
        started :data:`ISTIOD_LEAD` before now).
        """
        if self.sync_error(owner, remote) is not None:
            return "timeout"
        return "syncing" if owner in self.knobs.remote_syncing else "synced"

    def istiod_reads(self, owner: str) -> list[str]:
        """Remote clusters whose endpoints ``owner``'s istiod knows: every one it has a remote secret for.

        Under a data key that is not the cluster's name too: real istiod (1.31, on the test bed) adds
        the cluster under the key's name and reads its endpoints all the same.
        """
        return [
            remote
            for remote in self._states
            if self.remote_secret_key(owner, remote) is not None
            and self.sync_status(owner, remote) == "synced"
        ]

    def istiod_log(self, owner: str) -> str:
        """istiod's log in ``owner``, in Istio's line format, from the remote secrets it holds."""
        others = [r for r in self._states if r != owner]
        return istiod.log(
            owner,
            {r: self.remote_secret_key(owner, r) for r in others},
            {r: error for r in others if (error := self.sync_error(owner, r)) is not None},
            self.istiod_started,
        )

    def pod_by_ip(self, ip: str) -> tuple[str, SimPod] | None:
        """(cluster, pod) of the pod with this IP, in any cluster."""
        for name, state in self._states.items():
            for sim_pod in state.pods:
                if sim_pod.pod.ip == ip:
                    return name, sim_pod
        return None

    def serves(self, namespace: str, app: str) -> bool:
        """Whether a Service for ``app`` exists in ``namespace`` (its Deployment may be scaled to 0)."""
        return any(
            self.pods_of(name, namespace, app)
            or (state.helloworld and (namespace, app) == ("sample", "helloworld"))
            for name, state in self._states.items()
        )

    def port_name(self, cluster: str) -> str:
        """The name ``cluster``'s helloworld Service gives its port 5000 (``service_port_drift``).

        >>> from meshnb.backends.sim import simulate
        >>> [simulate("service-port-drift").port_name(c) for c in ("cluster1", "cluster2")]
        ['http', 'http-web']
        """
        from meshnb.backends.sim.knobs import DRIFTED_PORT_NAME

        return DRIFTED_PORT_NAME if cluster in self.knobs.service_port_drift else "http"

    def pods_of(self, cluster: str, namespace: str, app: str) -> list[SimPod]:
        """The pods of ``app`` running in ``namespace`` of ``cluster``."""
        return [p for p in self._states[cluster].pods if p.pod.namespace == namespace and p.app == app]

    def locality_of(self, cluster: str) -> tuple[str, str]:
        """(region, zone) of ``cluster``'s nodes."""
        state = self._states[next(iter(self._states))] if self.knobs.same_locality else self._states[cluster]
        return state.region, state.zone

    @property
    def versions(self) -> dict[str, str]:
        """helloworld's version in each cluster that runs it: version -> cluster (even when scaled to 0).

        >>> from meshnb.backends.sim import simulate
        >>> simulate().versions
        {'v1': 'cluster1', 'v2': 'cluster2'}
        """
        first = {
            name: state.helloworld[0].version for name, state in self._states.items() if state.helloworld
        }
        return {version: name for name, version in first.items() if version}

    def regions(self) -> list[str]:
        """The clusters' regions, in cluster order, each once."""
        return list(dict.fromkeys(self.locality_of(name)[0] for name in self._states))

    def distribute(self, region: str) -> dict[str, int]:
        """``localityLbSetting.distribute[from: region/*].to`` as percentages by region ({} when not set).

        >>> from meshnb.backends.sim import simulate
        >>> simulate(locality_lb=True, locality_distribute=80).distribute("us-east")
        {'us-east': 80, 'us-west': 20}
        """
        keep = self.knobs.locality_distribute
        if not self.knobs.locality_lb or keep is None:
            return {}
        others = [r for r in self.regions() if r != region]
        if not others:
            return {region: 100}
        share, extra = divmod(100 - keep, len(others))
        return {region: keep, **{r: share + (i < extra) for i, r in enumerate(others)}}

    def ztunnel_blocked(self, owner: str, remote: str) -> str | None:
        """Why ``owner``'s istiod sends its ztunnels nothing of ``remote``'s helloworld (None: it does).

        Only in ambient mode and for another network (a remote cluster on the same network sends its
        pods as they are): istiod's multi-network support off, no global scope in its mesh config, its
        own Service not global (the local scope decides), or no ``istio-east-west`` gateway of
        ``remote``'s network (``pilot/pkg/serviceregistry/ambient/multicluster.go``, ``networks.go``).
        """
        knobs = self.knobs
        if not knobs.ambient or self._states[owner].network == self._states[remote].network:
            return None
        if owner in knobs.ambient_single_network:
            return "multi-network-off"
        if owner in knobs.ambient_no_scope:
            return "no-global-scope"
        if owner in knobs.ambient_local_service:
            return "service-not-global"
        if remote in knobs.ambient_classic_gateway:
            return "no-east-west-gateway"
        return None

    def endpoints(
        self, source: str, namespace: str, service: str, port: int, *, intended: bool = False
    ) -> list[dict[str, Any]]:
        """What the sidecars of ``source`` have as endpoints for ``service:port`` (Istio's EDS).

        ``intended``: as the configuration means it, every remote secret valid (no faults).
        """
        if port != 5000 or service != "helloworld":
            return []
        src_region, src_zone = self.locality_of(source)
        ambient = self.knobs.ambient  # ztunnel reads no localityLbSetting and no DestinationRule
        weights = {} if ambient else self.distribute(src_region)
        prefer_local = self.knobs.locality_lb and self.knobs.outlier_detection and not weights and not ambient
        result = []
        if intended:
            remotes = [c for c in self._states if c != source]
        else:  # a stale sidecar holds what it had before istiod read the other clusters (not ztunnel)
            stale = source in self.knobs.stale_proxy and not ambient
            remotes = [] if stale else self.istiod_reads(source)
            remotes = [r for r in remotes if self.ztunnel_blocked(source, r) is None]
        # istiod builds EDS from its own cluster's Service and keeps the endpoints whose port name is that
        # Service's (pilot/pkg/xds/endpoints/endpoint_builder.go)
        remotes = [c for c in remotes if intended or self.port_name(c) == self.port_name(source)]
        for dest in [source, *remotes]:
            state = self._states[dest]
            pods = [p for p in self.pods_of(dest, namespace, service) if p.pod.ready]
            if not pods:
                continue
            region, zone = self.locality_of(dest)
            priority = 0
            if prefer_local:
                priority = (
                    0 if (region, zone) == (src_region, src_zone) else (1 if region == src_region else 2)
                )
            common: dict[str, Any] = {
                "namespace": namespace,
                "dest_cluster": dest,
                "network": state.network,
                "region": region,
                "zone": zone,
                "priority": priority,
            }
            if weights:  # one zone per region here, so a region's weight is its locality's
                common["locality_weight"] = weights.get(region, 0)
            if dest == source:
                result += [
                    {
                        **common,
                        "address": p.pod.ip,
                        "port": port,
                        "weight": 1,
                        "via_gateway": False,
                        "versions": (p.version,),
                    }
                    for p in pods
                ]
            else:  # another network: one endpoint, the remote east-west gateway, weighted by its pods
                # (ambient: istiod's split-horizon workload, its capacity the pods' number, HBONE on 15008)
                result.append(
                    {
                        **common,
                        "address": state.gateway_ip,
                        "port": 15008 if ambient else 15443,
                        "weight": len(pods),
                        "via_gateway": True,
                        "versions": tuple(p.version for p in pods),
                    }
                )
        return result

    def expected_split(
        self, source: str, namespace: str = "sample", service: str = "helloworld", port: int = 5000
    ) -> dict[str, float]:
        """The share of ``source``'s requests each version gets as configured, with nothing broken.

        >>> from meshnb.backends.sim import simulate
        >>> simulate(replicas={"cluster2": 3}).expected_split("cluster1")
        {'v1': 0.25, 'v2': 0.75}
        >>> simulate(replicas={"cluster2": 3}, lb_policy="RANDOM").expected_split("cluster1")
        {'v1': 0.5, 'v2': 0.5}
        """
        endpoints = self.endpoints(source, namespace, service, port, intended=True)
        if not endpoints:
            return {}
        best = min(ep["priority"] for ep in endpoints)
        # ztunnel picks at random weighted by capacity, whatever a DestinationRule says
        policy = "LEAST_REQUEST" if self.knobs.ambient else self.knobs.lb_policy
        return expected_shares([ep for ep in endpoints if ep["priority"] == best], policy)
