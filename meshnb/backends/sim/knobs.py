"""What can be wrong (or different) in the simulated mesh: its knobs, and the guide's scenarios.

>>> Knobs().replace(**SCENARIOS["missing-remote-secret"]).missing_remote_secret
('cluster1',)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshnb.backends.sim.lb import DEFAULT_POLICY, POLICIES
from meshnb.errors import ConfigError

__all__ = [
    "CONNECTION_POOL",
    "MAX_REPLICAS",
    "OUTLIER_DETECTION",
    "SCENARIOS",
    "SCENARIO_DESCRIPTIONS",
    "Knobs",
]

MAX_REPLICAS = 10
#: The helloworld DestinationRule's outlier detection (``maxEjectionPercent`` comes from the knob).
OUTLIER_DETECTION = {"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "30s"}
#: What a drifted helloworld DestinationRule adds (``drifted_destination_rule``): one request per
#: connection, a change made by hand in one cluster that no request of the checks shows.
CONNECTION_POOL = {"maxRequestsPerConnection": 1}
#: The ambient profile's service scope (``manifests/helm-profiles/ambient.yaml``): a Service labelled
#: ``istio.io/global: "true"`` is global.
AMBIENT_SCOPE = {
    "servicesSelector": {
        "matchExpressions": [{"key": "istio.io/global", "operator": "In", "values": ["true"]}]
    },
    "scope": "GLOBAL",
}
#: The name a drifted helloworld Service gives its port 5000 (``service_port_drift``; the others: ``http``).
DRIFTED_PORT_NAME = "http-web"


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
    remote_secret_loopback: tuple[str, ...] = ()
    """Clusters whose remote secrets name a loopback server (``https://127.0.0.1:6443``)."""
    remote_secret_revoked: tuple[str, ...] = ()
    """Clusters whose remote secrets carry a revoked token (its service account deleted)."""
    remote_secret_expired: tuple[str, ...] = ()
    """Clusters whose remote secrets carry an expired token (a time-limited token past its ``exp``)."""
    remote_secret_no_endpointslices: tuple[str, ...] = ()
    """Clusters whose remote secrets carry a valid token of an account bound to a narrower role than
    Istio's reader: it may list and watch everything istiod reads but endpointslices."""
    reader_role_removed: tuple[str, ...] = ()
    """Clusters whose binding of Istio's reader role is gone: no other istiod may read them."""
    istiod_down: tuple[str, ...] = ()
    """Clusters whose istiod does not run (its proxies keep the configuration they last had)."""
    remote_syncing: tuple[str, ...] = ()
    """Clusters whose istiod has added the other clusters but not finished reading them (``/debug/clusterz``
    says ``syncing``, as with ``PILOT_REMOTE_CLUSTER_TIMEOUT=0`` and a slow or stuck watch): it gives its
    proxies none of their endpoints."""
    second_gateway: tuple[str, ...] = ()
    """Clusters with a second east-west gateway Service on their network (istiod splits the weight)."""
    stale_proxy: tuple[str, ...] = ()
    """Clusters whose sidecars did not acknowledge istiod's last endpoints (``/debug/syncz``: EDS sent, not
    acked): they keep only their own cluster's endpoints while istiod holds the others'. Sidecars only:
    with ``ambient`` the clients have none."""
    ambient: bool = False
    """The sample namespace is in ambient mode in every cluster: no sidecars; each node's ztunnel carries
    its pods' traffic, picking endpoints at random weighted by capacity (a remote network's pods are one
    split-horizon endpoint, its east-west gateway on 15008, whose capacity is their number)."""
    ambient_local_service: tuple[str, ...] = ()
    """With ``ambient``: clusters whose helloworld Service lacks ``istio.io/global: "true"``: their istiod
    (the local Service's scope decides) sends its ztunnels nothing of the other networks' pods."""
    ambient_no_scope: tuple[str, ...] = ()
    """With ``ambient``: clusters whose mesh config lacks the ambient profile's ``serviceScopeConfigs``
    (a custom mesh config that replaced it): no service is global there."""
    ambient_single_network: tuple[str, ...] = ()
    """With ``ambient``: clusters whose istiod runs without ``AMBIENT_ENABLE_MULTI_NETWORK=true``: it builds
    nothing from the other clusters for its ztunnels, and logs nothing of it."""
    ambient_classic_gateway: tuple[str, ...] = ()
    """With ``ambient``: clusters whose only east-west gateway is the classic one (the Service on 15443),
    no Gateway of class ``istio-east-west``: the other istiods find no gateway for its network (real
    istiod logs ``No network gateway found for network``)."""
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
    drifted_destination_rule: tuple[str, ...] = ()
    """Clusters whose helloworld DestinationRule differs from the others' (it also sets
    ``connectionPool.http.maxRequestsPerConnection``). With it every cluster has the rule."""
    service_port_drift: tuple[str, ...] = ()
    """Clusters whose helloworld Service names its port 5000 ``http-web``, not ``http``: each istiod uses
    its own cluster's Service and matches endpoints to the port by name, so no proxy gets the endpoints
    of a cluster whose port is named otherwise (istiod still holds them)."""
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
        normalised: dict[str, Any] = {
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
    "remote-secret-loopback": {"remote_secret_loopback": ("cluster1",)},
    "remote-secret-revoked-token": {"remote_secret_revoked": ("cluster1",)},
    "remote-secret-expired-token": {"remote_secret_expired": ("cluster1",)},
    "remote-secret-no-endpointslices": {"remote_secret_no_endpointslices": ("cluster1",)},
    "reader-role-removed": {"reader_role_removed": ("cluster2",)},
    "istiod-down": {"istiod_down": ("cluster2",)},
    "remote-cluster-syncing": {"remote_syncing": ("cluster1",)},
    "stale-proxy": {"stale_proxy": ("cluster1",)},
    "second-gateway": {"second_gateway": ("cluster2",)},
    "locality-prefer-local": {"locality_lb": True, "outlier_detection": True},
    "drifted-destination-rule": {"drifted_destination_rule": ("cluster2",)},
    "service-port-drift": {"service_port_drift": ("cluster2",)},
    "ambient": {"ambient": True},
    "ambient-service-not-global": {"ambient": True, "ambient_local_service": ("cluster1",)},
    "ambient-no-global-scope": {"ambient": True, "ambient_no_scope": ("cluster1",)},
    "ambient-multi-network-off": {"ambient": True, "ambient_single_network": ("cluster1",)},
    "ambient-no-east-west-gateway": {"ambient": True, "ambient_classic_gateway": ("cluster2",)},
}

#: What each scenario breaks, in a sentence.
SCENARIO_DESCRIPTIONS: dict[str, str] = {
    "healthy": "nothing is wrong",
    "firewall": "traffic between the clusters' networks is dropped",
    "trust-mismatch": "the last cluster's cacerts chain to a different root",
    "missing-remote-secret": "cluster1's istiod has no remote secret for cluster2",
    "remote-secret-wrong-key": "cluster1's remote secret uses a data key that is not the cluster name",
    "remote-secret-loopback": "cluster1's remote secret for cluster2 names a loopback server",
    "remote-secret-revoked-token": "cluster1's remote secret for cluster2 carries a revoked token",
    "remote-secret-expired-token": "cluster1's remote secret for cluster2 carries an expired token",
    "remote-secret-no-endpointslices": (
        "cluster1's remote secret for cluster2 carries a valid token that may not list endpointslices"
    ),
    "reader-role-removed": "cluster2 no longer binds Istio's reader role: cluster1's istiod may not read it",
    "istiod-down": "cluster2's istiod is not running",
    "remote-cluster-syncing": "cluster1's istiod is stuck syncing cluster2 (it never finishes reading it)",
    "stale-proxy": "cluster1's sidecars did not acknowledge istiod's endpoints of cluster2",
    "second-gateway": "cluster2's network has a second east-west gateway",
    "locality-prefer-local": "locality load balancing with outlier detection keeps traffic local",
    "drifted-destination-rule": "cluster2's helloworld DestinationRule differs from cluster1's",
    "service-port-drift": "cluster2's helloworld Service names its port differently: no cluster gets the "
    "other's endpoints",
    "ambient": "nothing is wrong, in ambient mode (ztunnel, no sidecars)",
    "ambient-service-not-global": "ambient: cluster1's helloworld Service is not labelled istio.io/global",
    "ambient-no-global-scope": "ambient: cluster1's mesh config has no GLOBAL serviceScopeConfigs",
    "ambient-multi-network-off": "ambient: cluster1's istiod runs without AMBIENT_ENABLE_MULTI_NETWORK",
    "ambient-no-east-west-gateway": (
        "ambient: cluster2 has only a classic east-west gateway, no istio-east-west Gateway"
    ),
}
