"""The simulated mesh: a seeded model of the two-cluster setup of Istio's multicluster guide.

Not canned output: the world is state (clusters, nodes, pods, remote secrets, certificates, knobs),
and everything a check reads derives from it. A sidecar's endpoints come from what its cluster's
istiod can see (it needs a valid remote secret for each other cluster); a curl through the sidecar
picks among those endpoints the way Envoy does (priorities, weights, Istio's default retries to
another host) and each attempt succeeds or fails from the knobs (firewall between networks,
certificates signed by different roots, dead backends). istiod's log lines, the ``cacerts`` and
remote secrets, and the Envoy admin ``/clusters`` JSON are all computed from the same state.

>>> mesh = simulate("missing-remote-secret")
>>> mesh.knobs.missing_remote_secret
('cluster1',)
>>> [ep["dest_cluster"] for ep in mesh.clusters["cluster1"].endpoints_view("sample", "helloworld", 5000)]
['cluster1']
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from meshnb.backends.base import DEFAULT_TIMEOUT, ExecResult, Node, Pod, Secret, SecretData, Service
from meshnb.backends.sim_lb import DEFAULT_POLICY, POLICIES, Picker, expected_shares
from meshnb.backends.sim_pki import SimPKI
from meshnb.errors import ClusterError, ConfigError, ExecError, InvalidName, NotFound, Unreachable
from meshnb.names import match_selector, validate_name, validate_selector
from meshnb.readers.curl import fill_write_out

__all__ = ["SCENARIOS", "SCENARIO_DESCRIPTIONS", "Knobs", "SimCluster", "SimMesh", "simulate"]

log = logging.getLogger("meshnb")

MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
MAX_REPLICAS = 10
#: The helloworld DestinationRule's outlier detection (``maxEjectionPercent`` comes from the knob).
OUTLIER_DETECTION = {"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "30s"}
#: Envoy's max_ejection_percent when the DestinationRule does not set it.
ENVOY_MAX_EJECTION_PERCENT = 10
CONNECT_TIMEOUT_MS = 10_000.0  # Istio's default connectTimeout
ENVOY_RESET = "upstream connect error or disconnect/reset before headers. reset reason: "
TLS_VERIFY_FAILED = (
    "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: "
    "X509_verify_cert: certificate verification error at depth 0: unable to get local issuer "
    "certificate:TLS_error_end"
)


@dataclass
class Knobs:
    """What can be wrong (or different) in the simulated mesh. Set them through :func:`simulate`.

    Cluster-valued knobs name the cluster whose control plane or pods are affected.
    """

    firewall: bool = False
    """Traffic between the clusters' networks is dropped (east-west gateways and pod IPs)."""
    trust_mismatch: bool = False
    """The last cluster's ``cacerts`` are signed by a different root than the others'."""
    missing_cacerts: tuple[str, ...] = ()
    """Clusters with no ``cacerts`` secret (their istiod then signs with its own self-signed root)."""
    missing_remote_secret: tuple[str, ...] = ()
    """Clusters whose istio-system lacks the remote secrets for the other clusters."""
    remote_secret_wrong_key: tuple[str, ...] = ()
    """Clusters whose remote secrets hold the kubeconfig under a data key that is not the cluster name."""
    locality_lb: bool = False
    """Locality load balancing is on in the mesh config (``localityLbSetting.enabled``)."""
    outlier_detection: bool = False
    """A helloworld DestinationRule has outlier detection (without it, locality settings do nothing)."""
    same_locality: bool = False
    """Every cluster's nodes are in the first cluster's region and zone."""
    dead_versions: tuple[str, ...] = ()
    """helloworld versions whose process is down (their pods refuse connections)."""
    max_ejection_percent: int | None = 100
    """The DestinationRule's ``outlierDetection.maxEjectionPercent`` (None: unset, Envoy's 10%). Envoy
    ejects a host only if the ejected hosts, it included, stay within it: with two endpoints, 50."""
    lb_policy: str = DEFAULT_POLICY
    """The DestinationRule's ``loadBalancer.simple``: LEAST_REQUEST (Istio's default), ROUND_ROBIN, RANDOM."""
    locality_distribute: int | None = None
    """With ``locality_lb``: percent of each cluster's traffic kept in its own region
    (``localityLbSetting.distribute``; the rest is spread evenly over the other regions). None: not set."""
    replicas: Mapping[str, int] = field(default_factory=dict)
    """helloworld pods per cluster (default 1); Istio weights a remote gateway by the pods behind it."""
    retries: int = 2
    """Retries per request on connect failures, to another host when there is one (Istio's default: 2)."""
    hide_tls_reason: bool = True
    """Envoy >= 1.38.1 hides the TLS failure reason from the response body."""
    latency_ms: float = 3.0
    """Median latency of a request answered in the source's own cluster."""
    cross_cluster_ms: float = 25.0
    """Extra median latency of a request through the remote east-west gateway."""
    rtt: float = 0.0
    """Seconds every backend call waits (models the API server round trip, e.g. 0.05)."""
    unreachable: tuple[str, ...] = ()
    """Clusters whose API server cannot be reached."""

    def replace(self, **changes: object) -> Knobs:
        """A copy with ``changes`` applied; unknown knobs raise ConfigError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ConfigError(f"unknown simulated-mesh knob(s) {unknown}; known: {sorted(names)}")
        normalised = {
            key: tuple(value) if isinstance(value, list | set | frozenset) else value
            for key, value in changes.items()
        }
        for key, value in normalised.items():
            if isinstance(value, str) and isinstance(getattr(self, key), tuple):
                normalised[key] = (value,)
        if "lb_policy" in normalised:
            policy = str(normalised["lb_policy"]).upper()
            if policy not in POLICIES:
                raise ConfigError(f"unknown load-balancing policy {policy!r}; choose one of {list(POLICIES)}")
            normalised["lb_policy"] = policy
        for key in ("locality_distribute", "max_ejection_percent"):
            value = normalised.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100
            ):
                raise ConfigError(f"{key}: a percentage from 0 to 100, or None; not {value!r}")
        for cluster, count in dict(normalised.get("replicas") or {}).items():
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPLICAS:
                raise ConfigError(f"replicas of {cluster}: an int from 0 to {MAX_REPLICAS}, not {count!r}")
        if "replicas" in normalised:
            normalised["replicas"] = dict(normalised["replicas"] or {})
        return dataclasses.replace(self, **normalised)


#: Named sets of knobs: the failures of Istio's multicluster troubleshooting guide.
SCENARIOS: dict[str, dict[str, object]] = {
    "healthy": {},
    "firewall": {"firewall": True},
    "trust-mismatch": {"trust_mismatch": True},
    "missing-remote-secret": {"missing_remote_secret": ("cluster1",)},
    "remote-secret-wrong-key": {"remote_secret_wrong_key": ("cluster1",)},
    "locality-prefer-local": {"locality_lb": True, "outlier_detection": True},
}

#: What each scenario breaks, in a sentence.
SCENARIO_DESCRIPTIONS: dict[str, str] = {
    "healthy": "nothing is wrong",
    "firewall": "traffic between the clusters' networks is dropped",
    "trust-mismatch": "the last cluster's cacerts chain to a different root",
    "missing-remote-secret": "cluster1's istiod has no remote secret for cluster2",
    "remote-secret-wrong-key": "cluster1's remote secret uses a data key that is not the cluster name",
    "locality-prefer-local": "locality load balancing with outlier detection keeps traffic local",
}

_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"
_LOCALITIES = [("us-east", "us-east-1a"), ("us-west", "us-west-1b"), ("eu-west", "eu-west-1a")]


@dataclass
class _SimPod:
    pod: Pod
    app: str
    version: str | None = None


@dataclass
class _ClusterState:
    name: str
    index: int
    network: str
    region: str
    zone: str
    gateway_ip: str
    api_server: str
    nodes: list[Node] = field(default_factory=list)
    pods: list[_SimPod] = field(default_factory=list)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    services: list[Service] = field(default_factory=list)  # created through create()
    created_ips: int = 0
    helloworld: list[_SimPod] = field(default_factory=list)  # replica 1, 2, ...: scaled by knobs.replicas


def _suffix(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_SUFFIX) for _ in range(length))


class SimMesh:
    """The simulated mesh: ``clusters`` maps names to :class:`SimCluster`; ``knobs`` can be changed.

    >>> mesh = simulate()
    >>> mesh.set(firewall=True).knobs.firewall
    True
    """

    cluster_class: type[SimCluster]  # set below the class SimCluster

    def __init__(
        self, knobs: Knobs, seed: int = 0, clusters: int = 2, versions: Mapping[str, str] | None = None
    ):
        if clusters < 2:
            raise ConfigError("the simulated mesh needs at least two clusters")
        self.seed = seed
        self.knobs = knobs
        self.scenario = "custom"
        self.pki = SimPKI(seed)
        rng = random.Random(seed)
        names = [f"cluster{i}" for i in range(1, clusters + 1)]
        versions = dict(versions or {name: f"v{i}" for i, name in enumerate(names, start=1)})
        self._states: dict[str, _ClusterState] = {}
        for index, name in enumerate(names, start=1):
            region, zone = _LOCALITIES[(index - 1) % len(_LOCALITIES)]
            if index > len(_LOCALITIES):
                region, zone = f"region-{index}", f"region-{index}-a"
            state = _ClusterState(
                name=name,
                index=index,
                network=f"network{index}",
                region=region,
                zone=zone,
                gateway_ip=self.gateway_address(index),
                api_server=f"https://172.18.{index}.10:6443",
            )
            for n in (1, 2):
                labels = {
                    "kubernetes.io/hostname": f"{name}-node-{n}",
                    "topology.kubernetes.io/region": region,
                    "topology.kubernetes.io/zone": zone,
                }
                state.nodes.append(Node(name=f"{name}-node-{n}", labels=labels))
            self._add_pods(state, rng, versions.get(name))
            self._add_replicas(state)
            state.namespaces = {
                "default": {},
                "kube-system": {},
                "istio-system": {"topology.istio.io/network": state.network},
                "sample": {"istio-injection": "enabled"},
            }
            self._states[name] = state
        self.clusters: dict[str, SimCluster] = {name: self.cluster_class(self, name) for name in names}
        self._apply(knobs)

    def address(self, cluster_index: int, subnet: int, host: int) -> str:
        """A pod's IP: subnet 0 for the guide's pods, 1 for pods created through the API, 2 for replicas."""
        return f"10.{cluster_index}.{subnet}.{host}"

    def gateway_address(self, cluster_index: int) -> str:
        """The external IP of a cluster's east-west gateway."""
        return f"172.18.{cluster_index}.100"

    def _add_pods(self, state: _ClusterState, rng: random.Random, version: str | None) -> None:
        ip_count = iter(range(10, 250))

        def add(namespace: str, app: str, labels: dict, containers: tuple, version: str | None = None):
            template = _suffix(rng, 10)
            name = (
                f"{app}-{version}-{template}-{_suffix(rng, 5)}"
                if version
                else f"{app}-{template}-{_suffix(rng, 5)}"
            )
            node = state.nodes[len(state.pods) % len(state.nodes)].name
            pod = Pod(
                name=name,
                namespace=namespace,
                labels={**labels, "pod-template-hash": template},
                annotations={"sidecar.istio.io/status": "{}"} if "istio-proxy" in containers else {},
                node=node,
                ip=self.address(state.index, 0, next(ip_count)),
                phase="Running",
                ready=True,
                containers=containers,
            )
            state.pods.append(_SimPod(pod=pod, app=app, version=version))

        add("istio-system", "istiod", {"app": "istiod", "istio": "pilot"}, ("discovery",))
        add(
            "istio-system",
            "istio-eastwestgateway",
            {
                "app": "istio-eastwestgateway",
                "istio": "eastwestgateway",
                "topology.istio.io/network": state.network,
            },
            ("istio-proxy",),
        )
        add("sample", "curl", {"app": "curl"}, ("curl", "istio-proxy"))
        if version:
            add(
                "sample",
                "helloworld",
                {"app": "helloworld", "version": version},
                ("helloworld", "istio-proxy"),
                version,
            )

    def _add_replicas(self, state: _ClusterState) -> None:
        """helloworld replicas 2..MAX_REPLICAS of the cluster's deployment, named as its ReplicaSet would."""
        first = [p for p in state.pods if p.app == "helloworld"]
        if not first:
            return
        rng = random.Random(f"{self.seed}:{state.name}:helloworld")
        template = first[0].pod.labels["pod-template-hash"]
        state.helloworld = first[:1]
        for n in range(2, MAX_REPLICAS + 1):
            pod = dataclasses.replace(
                first[0].pod,
                name=f"helloworld-{first[0].version}-{template}-{_suffix(rng, 5)}",
                node=state.nodes[n % len(state.nodes)].name,
                ip=self.address(state.index, 2, n),
            )
            state.helloworld.append(_SimPod(pod=pod, app="helloworld", version=first[0].version))

    def _scale(self) -> None:
        """Run as many helloworld pods in each cluster as ``knobs.replicas`` says (default 1)."""
        for name, state in self._states.items():
            if not state.helloworld:
                continue
            want = state.helloworld[: self.knobs.replicas.get(name, 1)]
            scaled = {id(p) for p in state.helloworld}
            at = next((i for i, p in enumerate(state.pods) if id(p) in scaled), len(state.pods))
            others = [p for p in state.pods if id(p) not in scaled]
            state.pods = others[:at] + want + others[at:]

    def _apply(self, knobs: Knobs) -> None:
        unknown = sorted(set(knobs.replicas) - set(self._states))
        if unknown:
            raise ConfigError(f"replicas for unknown cluster(s) {unknown}; clusters: {sorted(self._states)}")
        self.knobs = knobs
        self._scale()

    #: What traffic runs through, in words (shown by the demo).
    kind = "the simulated mesh: a model of Envoy, no cluster needed"

    def close(self) -> None:
        """Nothing to release (the lab's subclass stops its processes); here for ``with`` like the others."""

    def __enter__(self) -> SimMesh:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- derived state ----

    def set(self, **knobs: object) -> SimMesh:
        """Change knobs in place (the world's state derives from them); returns the mesh."""
        self._apply(self.knobs.replace(**knobs))
        self.scenario = "custom"
        return self

    def use(self, scenario: str, **knobs: object) -> SimMesh:
        """Switch to a named scenario (its knobs plus ``knobs``); sidecars forget past ejections.

        >>> simulate().use("trust-mismatch").knobs.trust_mismatch
        True
        """
        if scenario not in SCENARIOS:
            raise ConfigError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        self._apply(Knobs().replace(**SCENARIOS[scenario]).replace(**knobs))
        self.scenario = scenario if not knobs else f"{scenario} (+{', '.join(sorted(knobs))})"
        for cluster in self.clusters.values():
            cluster.forget_ejections()
        log.debug("simulated mesh %s, seed %d: %s", self.scenario, self.seed, self.knobs)
        return self

    def state(self, cluster: str) -> _ClusterState:
        return self._states[cluster]

    def root_of(self, cluster: str) -> str:
        """Which root signs ``cluster``'s workload certificates (a name; equal names trust each other)."""
        if cluster in self.knobs.missing_cacerts:
            return f"self-signed-{cluster}"
        last = list(self._states)[-1]
        return "alt" if self.knobs.trust_mismatch and cluster == last else "root"

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
        name, labels = f"istio-remote-secret-{remote}", {MULTICLUSTER_LABEL: "true"}
        annotations = {CLUSTER_ANNOTATION: remote}
        kubeconfig = self.pki.kubeconfig(remote, self._states[remote].api_server)
        # as `istioctl create-remote-secret | kubectl apply -f -` leaves it: the manifest applied, token
        # and all, in kubectl's annotation (sorted compact JSON and a newline, as kubectl writes it)
        applied = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "annotations": annotations,
                "creationTimestamp": None,
                "labels": labels,
                "name": name,
                "namespace": "istio-system",
            },
            "stringData": {key: kubeconfig.decode()},
        }
        return Secret(
            name=name,
            namespace="istio-system",
            labels=labels,
            annotations={
                **annotations,
                LAST_APPLIED_ANNOTATION: json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n",
            },
            data=SecretData({key: kubeconfig}),
        )

    def istiod_reads(self, owner: str) -> list[str]:
        """Remote clusters whose endpoints ``owner``'s istiod knows (valid remote secret)."""
        return [remote for remote in self._states if self.remote_secret_key(owner, remote) == remote]

    def istiod_log(self, owner: str) -> str:
        """istiod's log in ``owner``, in Istio's line format, from the remote secrets it holds."""
        base = dt.datetime(2026, 11, 28, 9, 0, 0, tzinfo=dt.UTC)
        lines = []

        def line(seconds: float, level: str, scope: str, message: str) -> None:
            stamp = (base + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            lines.append(f"{stamp}\t{level}\t{scope}\t{message}")

        line(0.0, "info", "FLAG", '--clusterID="' + owner + '"')
        line(0.4, "info", "kube", f"Initializing Kubernetes service registry {owner!r}")
        added = 0
        for offset, remote in enumerate(r for r in self._states if r != owner):
            key = self.remote_secret_key(owner, remote)
            if key is None:
                continue
            name = f"istio-system/istio-remote-secret-{remote}"
            when = 1.0 + offset
            line(when, "info", "kube", f"processing secret event for secret {name}")
            if key == remote:
                line(when + 0.1, "info", "kube", f"Adding cluster\tcluster={remote} secret={name}")
                added += 1
            else:
                line(
                    when + 0.1,
                    "error",
                    "kube",
                    f"Add cluster: create remote cluster failed: data key {key!r} is not the name of "
                    f"the cluster in annotation {CLUSTER_ANNOTATION}={remote}\tcluster={key} secret={name}",
                )
        line(5.0, "info", "kube", f"Number of remote clusters: {added}")
        line(5.1, "info", "ads", "All caches have been synced up in 5.1s, marking server ready")
        return "\n".join(lines) + "\n"

    def pod_by_ip(self, ip: str) -> tuple[str, _SimPod] | None:
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

    def pods_of(self, cluster: str, namespace: str, app: str) -> list[_SimPod]:
        return [p for p in self._states[cluster].pods if p.pod.namespace == namespace and p.app == app]

    def locality_of(self, cluster: str) -> tuple[str, str]:
        state = self._states[next(iter(self._states))] if self.knobs.same_locality else self._states[cluster]
        return state.region, state.zone

    @property
    def versions(self) -> dict[str, str]:
        """helloworld's version in each cluster that runs it: version -> cluster (even when scaled to 0).

        >>> simulate().versions
        {'v1': 'cluster1', 'v2': 'cluster2'}
        """
        return {state.helloworld[0].version: name for name, state in self._states.items() if state.helloworld}

    def regions(self) -> list[str]:
        """The clusters' regions, in cluster order, each once."""
        return list(dict.fromkeys(self.locality_of(name)[0] for name in self._states))

    def distribute(self, region: str) -> dict[str, int]:
        """``localityLbSetting.distribute[from: region/*].to`` as percentages by region ({} when not set).

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

    def endpoints(
        self, source: str, namespace: str, service: str, port: int, *, intended: bool = False
    ) -> list[dict]:
        """What the sidecars of ``source`` have as endpoints for ``service:port`` (Istio's EDS).

        ``intended``: as the configuration means it, every remote secret valid (no faults).
        """
        if port != 5000 or service != "helloworld":
            return []
        src_region, src_zone = self.locality_of(source)
        weights = self.distribute(src_region)
        prefer_local = self.knobs.locality_lb and self.knobs.outlier_detection and not weights
        result = []
        remotes = [c for c in self._states if c != source] if intended else self.istiod_reads(source)
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
            common = {
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
                result.append(
                    {
                        **common,
                        "address": state.gateway_ip,
                        "port": 15443,
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

        >>> simulate(replicas={"cluster2": 3}).expected_split("cluster1")
        {'v1': 0.25, 'v2': 0.75}
        >>> simulate(replicas={"cluster2": 3}, lb_policy="RANDOM").expected_split("cluster1")
        {'v1': 0.5, 'v2': 0.5}
        """
        endpoints = self.endpoints(source, namespace, service, port, intended=True)
        if not endpoints:
            return {}
        best = min(ep["priority"] for ep in endpoints)
        return expected_shares([ep for ep in endpoints if ep["priority"] == best], self.knobs.lb_policy)


class SimCluster:
    """One simulated cluster; implements the :class:`meshnb.backends.base.Cluster` contract."""

    def __init__(self, mesh: SimMesh, name: str):
        self.mesh = mesh
        self.name = name
        self.calls: Counter[str] = Counter()
        self._rng = random.Random(f"{mesh.seed}:{name}")
        self._lock = threading.Lock()
        self._clock_ms = 0.0
        self._ejected_until: dict[str, float] = {}
        self._failures: Counter[str] = Counter()
        self._picker = Picker(self._rng)

    def __repr__(self) -> str:
        return f"SimCluster({self.name!r})"

    def forget_ejections(self) -> None:
        """Clear the outlier-detection state of this cluster's sidecars."""
        with self._lock:
            self._picker.forget()
            self._ejected_until.clear()
            self._failures.clear()

    def _call(self, method: str) -> None:
        self.calls[method] += 1
        if self.mesh.knobs.rtt:
            time.sleep(self.mesh.knobs.rtt)
        if self.name in self.mesh.knobs.unreachable:
            server = self.mesh.state(self.name).api_server
            raise Unreachable(self.name, f"cannot connect to the API server at {server}: connection refused")

    def _pod(self, namespace: str, pod: str) -> _SimPod:
        for sim_pod in self.mesh.state(self.name).pods:
            if sim_pod.pod.namespace == namespace and sim_pod.pod.name == pod:
                return sim_pod
        raise NotFound(self.name, f'pods "{pod}" not found in namespace {namespace}')

    # ---- the contract ----

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[Pod]:
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        self._call("list_pods")
        return [
            p.pod
            for p in self.mesh.state(self.name).pods
            if p.pod.namespace == namespace and match_selector(label_selector, p.pod.labels)
        ]

    def list_nodes(self) -> list[Node]:
        self._call("list_nodes")
        region, zone = self.mesh.locality_of(self.name)
        topology = {"topology.kubernetes.io/region": region, "topology.kubernetes.io/zone": zone}
        return [Node(node.name, {**node.labels, **topology}) for node in self.mesh.state(self.name).nodes]

    def list_services(self, namespace: str, label_selector: str | None = None) -> list[Service]:
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        self._call("list_services")
        state = self.mesh.state(self.name)
        services = []
        if namespace == "istio-system":
            labels = {
                "app": "istio-eastwestgateway",
                "istio": "eastwestgateway",
                "topology.istio.io/network": state.network,
            }
            services.append(
                Service(
                    "istio-eastwestgateway",
                    namespace,
                    labels,
                    "LoadBalancer",
                    f"10.{state.index}.96.20",
                    (state.gateway_ip,),
                    (15021, 15443, 15012, 15017),
                )
            )
            services.append(
                Service(
                    "istiod",
                    namespace,
                    {"app": "istiod"},
                    "ClusterIP",
                    f"10.{state.index}.96.10",
                    (),
                    (15010, 15012, 443),
                )
            )
        if self.mesh.serves(namespace, "helloworld"):
            services.append(
                Service(
                    "helloworld",
                    namespace,
                    {"app": "helloworld", "service": "helloworld"},
                    "ClusterIP",
                    f"10.{state.index}.96.30",
                    (),
                    (5000,),
                )
            )
        services += [svc for svc in state.services if svc.namespace == namespace]
        return [svc for svc in services if match_selector(label_selector, svc.labels)]

    def read_config_map(self, namespace: str, name: str) -> dict[str, str]:
        validate_name(namespace, "namespace")
        validate_name(name, "config map name", subdomain=True)
        self._call("read_config_map")
        if (namespace, name) != ("istio-system", "istio"):
            raise NotFound(self.name, f'configmaps "{name}" not found in namespace {namespace}')
        import yaml

        setting: dict = {"enabled": self.mesh.knobs.locality_lb}
        if self.mesh.knobs.locality_distribute is not None and self.mesh.knobs.locality_lb:
            setting["distribute"] = [
                {"from": f"{region}/*", "to": {f"{r}/*": w for r, w in self.mesh.distribute(region).items()}}
                for region in self.mesh.regions()
            ]
        mesh = yaml.safe_dump({"accessLogFile": "/dev/stdout", "localityLbSetting": setting}, sort_keys=False)
        return {"mesh": mesh, "meshNetworks": "networks: {}"}

    def list_custom_objects(self, group: str, version: str, namespace: str, plural: str) -> list[dict]:
        validate_name(namespace, "namespace")
        self._call("list_custom_objects")
        knobs = self.mesh.knobs
        policy: dict = {}
        if knobs.lb_policy != DEFAULT_POLICY:
            policy["loadBalancer"] = {"simple": knobs.lb_policy}
        if knobs.outlier_detection:
            policy["outlierDetection"] = dict(OUTLIER_DETECTION)
            if knobs.max_ejection_percent is not None:
                policy["outlierDetection"]["maxEjectionPercent"] = knobs.max_ejection_percent
        if (group, plural) != ("networking.istio.io", "destinationrules") or not policy:
            return []
        if not self.mesh.serves(namespace, "helloworld"):
            return []
        return [
            {
                "apiVersion": f"{group}/{version}",
                "kind": "DestinationRule",
                "metadata": {"name": "helloworld", "namespace": namespace},
                "spec": {"host": f"helloworld.{namespace}.svc.cluster.local", "trafficPolicy": policy},
            }
        ]

    def create(self, manifest: dict) -> None:
        kind = manifest.get("kind")
        meta = manifest.get("metadata") or {}
        name, namespace = meta.get("name", ""), meta.get("namespace")
        validate_name(name, f"{kind} name", subdomain=True)
        self._call("create")
        state = self.mesh.state(self.name)
        if kind == "Namespace":
            if name in state.namespaces:
                raise ClusterError(self.name, f'namespaces "{name}" already exists', status=409)
            state.namespaces[name] = dict(meta.get("labels") or {})
            return
        if namespace not in state.namespaces:
            raise NotFound(self.name, f'namespaces "{namespace}" not found')
        if kind == "Service":
            ports = tuple(p.get("port") for p in (manifest.get("spec") or {}).get("ports") or [])
            state.services.append(
                Service(name, namespace, dict(meta.get("labels") or {}), "ClusterIP", None, (), ports)
            )
        elif kind == "Pod":
            if any(p.pod.namespace == namespace and p.pod.name == name for p in state.pods):
                raise ClusterError(self.name, f'pods "{name}" already exists', status=409)
            labels = dict(meta.get("labels") or {})
            containers = tuple(c["name"] for c in (manifest.get("spec") or {}).get("containers") or [])
            if state.namespaces[namespace].get("istio-injection") == "enabled":
                containers += ("istio-proxy",)
            state.created_ips += 1
            pod = Pod(
                name=name,
                namespace=namespace,
                labels=labels,
                node=state.nodes[state.created_ips % len(state.nodes)].name,
                ip=self.mesh.address(state.index, 1, state.created_ips % 250 + 1),
                phase="Running",
                ready=True,
                containers=containers,
            )
            state.pods.append(_SimPod(pod=pod, app=labels.get("app", ""), version=labels.get("version")))
        else:
            raise InvalidName(
                f"the simulated mesh creates only Namespace, Service and Pod objects, not {kind!r}"
            )

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        self._call("delete")
        state = self.mesh.state(self.name)
        if kind == "Namespace":
            if state.namespaces.pop(name, None) is None:
                raise NotFound(self.name, f'namespaces "{name}" not found')
            state.pods = [p for p in state.pods if p.pod.namespace != name]
            state.services = [s for s in state.services if s.namespace != name]
            return
        before = (len(state.pods), len(state.services))
        if kind == "Pod":
            state.pods = [p for p in state.pods if not (p.pod.namespace == namespace and p.pod.name == name)]
        elif kind == "Service":
            state.services = [s for s in state.services if not (s.namespace == namespace and s.name == name)]
        if (len(state.pods), len(state.services)) == before:
            raise NotFound(self.name, f'{kind.lower()}s "{name}" not found in namespace {namespace}')

    def _secrets(self, namespace: str) -> list[Secret]:
        if namespace != "istio-system":
            return []
        secrets = []
        if self.name not in self.mesh.knobs.missing_cacerts:
            data = self.mesh.pki.cacerts(self.name, self.mesh.root_of(self.name))
            secrets.append(Secret(name="cacerts", namespace=namespace, data=SecretData(data)))
        for remote in self.mesh.clusters:
            secret = self.mesh.remote_secret(self.name, remote)
            if secret is not None:
                secrets.append(secret)
        return secrets

    def read_secret(self, namespace: str, name: str) -> SecretData:
        validate_name(namespace, "namespace")
        validate_name(name, "secret name", subdomain=True)
        self._call("read_secret")
        for secret in self._secrets(namespace):
            if secret.name == name:
                return secret.data
        raise NotFound(self.name, f'secrets "{name}" not found in namespace {namespace}')

    def list_secrets(self, namespace: str, label_selector: str | None = None) -> list[Secret]:
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        self._call("list_secrets")
        return [s for s in self._secrets(namespace) if match_selector(label_selector, s.labels)]

    def logs(
        self, namespace: str, pod: str, container: str | None = None, tail_lines: int | None = None
    ) -> str:
        validate_name(namespace, "namespace")
        validate_name(pod, "pod name", subdomain=True)
        self._call("logs")
        sim_pod = self._pod(namespace, pod)
        text = self.mesh.istiod_log(self.name) if sim_pod.app == "istiod" else ""
        if tail_lines is not None:
            text = "".join(text.splitlines(keepends=True)[-tail_lines:]) if tail_lines > 0 else ""
        return text

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: list[str],
        container: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ExecResult:
        validate_name(namespace, "namespace")
        validate_name(pod, "pod name", subdomain=True)
        if isinstance(argv, str | bytes) or not argv or not all(isinstance(a, str) for a in argv):
            raise InvalidName(f"argv must be a non-empty list of strings, not a shell string: {argv!r}")
        self._call("exec")
        sim_pod = self._pod(namespace, pod)
        container = container or sim_pod.pod.default_container
        if container not in sim_pod.pod.containers:
            raise ExecError(self.name, f"container {container} is not valid for pod {pod}")
        stdout, stderr, code = self._run(sim_pod, container, list(argv), timeout)
        return ExecResult(tuple(argv), stdout, stderr, code, cluster=self.name, pod=pod)

    # ---- what runs inside pods ----

    def _run(self, sim_pod: _SimPod, container: str, argv: list[str], timeout: float) -> tuple[str, str, int]:
        """Run ``argv`` in the pod's ``container``: (stdout, stderr, exit code)."""
        program = argv[0].rsplit("/", 1)[-1]
        if program == "echo":
            return " ".join(argv[1:]) + "\n", "", 0
        if program == "hostname":
            return sim_pod.pod.name + "\n", "", 0
        if program == "curl" and container in ("curl", "istio-proxy"):
            with self._lock:  # the sidecar's state: clock, ejections, round-robin positions
                return self._curl(sim_pod, argv[1:])
        if program == "pilot-agent" and container == "istio-proxy" and argv[1:3] == ["request", "GET"]:
            return self._admin(sim_pod, argv[3] if len(argv) > 3 else "")
        return "", f'exec: "{argv[0]}": executable file not found in $PATH', 127

    def _admin(self, sim_pod: _SimPod, path: str) -> tuple[str, str, int]:
        if path.split("?", maxsplit=1)[0].strip("/") != "clusters" or "format=json" not in path:
            return "", f"unsupported admin path in the simulated mesh: {path}", 1
        statuses = []
        for service, port in (("helloworld", 5000),):
            hosts = []
            for ep in self.endpoints_view(sim_pod.pod.namespace, service, port):
                host = {
                    "address": {"socket_address": {"address": ep["address"], "port_value": ep["port"]}},
                    "stats": [
                        {"name": "cx_total"},
                        {"name": "rq_total"},
                        {"type": "GAUGE", "name": "cx_active"},
                    ],
                    "health_status": self._health(ep["address"]),
                    "weight": ep["weight"],
                    "locality": {"region": ep["region"], "zone": ep["zone"]},
                }
                if ep["priority"]:
                    host["priority"] = ep["priority"]
                hosts.append(host)
            name = f"outbound|{port}||{service}.{sim_pod.pod.namespace}.svc.cluster.local"
            statuses.append({"name": name, "added_via_api": True, "host_statuses": hosts})
        return json.dumps({"cluster_statuses": statuses}, indent=2) + "\n", "", 0

    def _health(self, address: str) -> dict:
        """A host's health in Envoy's admin JSON: ejected by outlier detection, or as EDS says."""
        health: dict = {"eds_health_status": "HEALTHY"}
        if self._ejected_until.get(address, -1.0) > self._clock_ms:
            health["failed_outlier_check"] = True
        return health

    def endpoints_view(self, namespace: str, service: str, port: int) -> list[dict]:
        """The endpoints this cluster's sidecars hold for a service (derived from the mesh state)."""
        return self.mesh.endpoints(self.name, namespace, service, port)

    def _curl(self, sim_pod: _SimPod, args: list[str]) -> tuple[str, str, int]:
        """A small curl: the options meshnb uses, each URL a transfer through the pod's sidecar."""
        write_out, max_time, urls, show_errors = "", 300.0, [], False
        items = iter(args)
        for arg in items:
            if arg in ("-s", "--silent"):
                continue
            if arg in ("-sS", "-S", "--show-error"):
                show_errors = True
            elif arg in ("-w", "--write-out"):
                write_out = next(items, "")
            elif arg in ("-m", "--max-time"):
                try:
                    max_time = float(next(items, "x"))
                except ValueError:
                    return "", "curl: (2) option --max-time: expected a proper numerical parameter", 2
            elif arg.startswith("-"):
                return "", f"curl: option {arg}: is unknown", 2
            else:
                urls.append(arg)
        if not urls:
            return "", "curl: no URL specified", 2
        out, err, code = [], [], 0
        resolved: dict[str, tuple] = {}  # one name/endpoint lookup per distinct URL, as a sidecar caches
        for url in urls:
            status, body, ms, exit_code, message = self._transfer(sim_pod, url, max_time, resolved)
            out.append(body)
            if exit_code and show_errors:
                err.append(f"curl: ({exit_code}) {message}\n")
            code = exit_code or code
            out.append(
                fill_write_out(
                    f"{status:03d}", f"{ms / 1000:.6f}", str(exit_code), message, template=write_out
                )
            )
        return "".join(out), "".join(err), code

    def _resolve(self, sim_pod: _SimPod, url: str) -> tuple:
        """(host, port, path, endpoints or None when the name does not resolve) for a URL."""
        hostport, _, path = url.split("://", 1)[-1].partition("/")
        host, _, port_text = hostport.partition(":")
        port = int(port_text) if port_text.isdigit() else 80
        labels = host.split(".")
        service, namespace = labels[0], labels[1] if len(labels) > 1 else sim_pod.pod.namespace
        if not self.mesh.serves(namespace, service):
            return host, port, path, None
        return host, port, path, self.endpoints_view(namespace, service, port)

    def _transfer(
        self, sim_pod: _SimPod, url: str, max_time: float, resolved: dict[str, tuple]
    ) -> tuple[int, str, float, int, str]:
        """One request: (status, body, milliseconds, curl exit code, curl error message)."""
        if url not in resolved:
            resolved[url] = self._resolve(sim_pod, url)
        host, port, path, endpoints = resolved[url]
        if _is_ip(host):
            status, body, ms, code, message = self._direct(host, port, path)
            if code == 28 or ms > max_time * 1000:
                waited = int(max_time * 1000) + 1
                return (
                    0,
                    "",
                    waited,
                    28,
                    f"Failed to connect to {host} port {port} after {waited} ms: Timeout was reached",
                )
            return status, body, ms, code, message
        if endpoints is None:
            return 0, "", 2.0, 6, f"Could not resolve host: {host}"
        if port != 5000:  # no such service port: no sidecar listener, the connection is refused
            refused = f"Failed to connect to {host} port {port} after 1 ms: Couldn't connect to server"
            return 0, "", 1.0, 7, refused
        status, body, ms = self._through_sidecar(endpoints, "/" + path)
        if ms > max_time * 1000:
            waited = int(max_time * 1000) + 1
            return 0, "", waited, 28, f"Operation timed out after {waited} milliseconds with 0 bytes received"
        return status, body, ms, 0, ""

    def _direct(self, ip: str, port: int, path: str) -> tuple[int, str, float, int, str]:
        """A request to a pod IP, not through a sidecar: the network decides (the uninjected probe)."""
        found = self.mesh.pod_by_ip(ip)
        if found is None:
            return 0, "", CONNECT_TIMEOUT_MS, 28, ""
        cluster, target = found
        if cluster != self.name and self.mesh.knobs.firewall:
            return 0, "", CONNECT_TIMEOUT_MS, 28, ""
        ms = self._lognormal(self.mesh.knobs.latency_ms) + (
            self._lognormal(self.mesh.knobs.cross_cluster_ms) if cluster != self.name else 0.0
        )
        if target.app != "helloworld" or port != 5000 or target.version in self.mesh.knobs.dead_versions:
            return (
                0,
                "",
                ms,
                7,
                f"Failed to connect to {ip} port {port} after {ms:.0f} ms: Couldn't connect to server",
            )
        if "/" + path != "/hello":
            return 404, "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n", ms, 0, ""
        return 200, f"Hello version: {target.version}, instance: {target.pod.name}\n", ms, 0, ""

    def _lognormal(self, median: float) -> float:
        return median * math.exp(self._rng.gauss(0.0, 0.35))

    def _through_sidecar(self, endpoints: list[dict], path: str) -> tuple[int, str, float]:
        """Envoy's choice of endpoint, Istio's retries to other hosts, and each attempt's outcome."""
        knobs = self.mesh.knobs
        tried: set[str] = set()
        total_ms = 0.0
        status, body = 503, "no healthy upstream"
        for _attempt in range(1 + max(0, knobs.retries)):
            live = [ep for ep in endpoints if self._ejected_until.get(ep["address"], -1.0) <= self._clock_ms]
            if not live:
                status, body = 503, "no healthy upstream"
                break
            best = min(ep["priority"] for ep in live)
            pool = [ep for ep in live if ep["priority"] == best]
            fresh = [ep for ep in pool if ep["address"] not in tried] or pool
            chosen = self._picker.pick(knobs.lb_policy, fresh)
            tried.add(chosen["address"])
            ok, status, body, ms = self._attempt(chosen, path)
            total_ms += ms
            self._clock_ms += ms
            if ok:
                self._failures[chosen["address"]] = 0
                return status, body, total_ms
            self._note_failure(chosen["address"], endpoints)
        return status, body, total_ms

    def _note_failure(self, address: str, endpoints: list[dict]) -> None:
        """Outlier detection: 3 failures in a row eject a host for 30 s, if the limit allows (as Envoy:
        the ejected hosts, this one included, within max_ejection_percent of the cluster's hosts)."""
        knobs = self.mesh.knobs
        if not knobs.outlier_detection:
            return
        self._failures[address] += 1
        if self._failures[address] >= 3:  # consecutive5xxErrors: 3, baseEjectionTime: 30s
            self._failures[address] = 0
            limit = (
                ENVOY_MAX_EJECTION_PERCENT
                if knobs.max_ejection_percent is None
                else knobs.max_ejection_percent
            )
            ejected = sum(self._ejected_until.get(ep["address"], -1.0) > self._clock_ms for ep in endpoints)
            if 100 * (ejected + 1) <= limit * len(endpoints):
                self._ejected_until[address] = self._clock_ms + 30_000.0

    def _attempt(self, endpoint: dict, path: str) -> tuple[bool, int, str, float]:
        knobs = self.mesh.knobs
        remote = endpoint["via_gateway"]
        if remote and knobs.firewall:
            return False, 503, ENVOY_RESET + "connection timeout", CONNECT_TIMEOUT_MS
        if remote and self.mesh.root_of(self.name) != self.mesh.root_of(endpoint["dest_cluster"]):
            reason = "remote connection failure"
            if not knobs.hide_tls_reason:
                reason += ", transport failure reason: " + TLS_VERIFY_FAILED
            return False, 503, ENVOY_RESET + reason, self._lognormal(knobs.cross_cluster_ms)
        pods = [
            p
            for p in self.mesh.pods_of(endpoint["dest_cluster"], endpoint["namespace"], "helloworld")
            if p.pod.ready and ((not remote and p.pod.ip == endpoint["address"]) or remote)
        ]
        sim_pod = self._rng.choice(pods)
        ms = self._lognormal(knobs.latency_ms) + (self._lognormal(knobs.cross_cluster_ms) if remote else 0.0)
        if sim_pod.version in knobs.dead_versions:
            reason = "remote connection failure, transport failure reason: delayed connect error: 111"
            return False, 503, ENVOY_RESET + reason, ms
        if path != "/hello":
            return True, 404, "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n", ms
        return True, 200, f"Hello version: {sim_pod.version}, instance: {sim_pod.pod.name}\n", ms


SimMesh.cluster_class = SimCluster


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(part.isdigit() for part in parts)


def simulate(scenario: str = "healthy", seed: int = 0, *, clusters: int = 2, **knobs: object) -> SimMesh:
    """The simulated two-cluster mesh of Istio's guide, with a scenario's knobs and any set directly.

    >>> mesh = simulate("firewall", seed=1, retries=0)
    >>> (mesh.knobs.firewall, mesh.knobs.retries, sorted(mesh.clusters))
    (True, 0, ['cluster1', 'cluster2'])
    """
    return SimMesh(Knobs(), seed=seed, clusters=clusters).use(scenario, **knobs)
