"""The guide's layout: each simulated cluster's nodes, namespaces and pods, as the mesh starts.

Per cluster (the multicluster guide's): two nodes in the cluster's region and zone, istiod and the
east-west gateway in ``istio-system``, and in ``sample`` a curl pod and helloworld (``v1`` in
cluster1, ``v2`` in cluster2, ...), with replicas 2 to :data:`MAX_REPLICAS` kept aside for scaling.
Names (pod-template hashes and suffixes) are drawn from the seed, as a ReplicaSet would.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from meshnb.backends.base import KeysOnly, Node, Pod, Service
from meshnb.backends.sim.knobs import MAX_REPLICAS

__all__ = ["ClusterState", "SimPod", "new_cluster"]

#: A pod's IP from (cluster index, subnet, host): :meth:`meshnb.backends.sim.SimMesh.address`.
Address = Callable[[int, int, int], str]

_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"
_LOCALITIES = [("us-east", "us-east-1a"), ("us-west", "us-west-1b"), ("eu-west", "eu-west-1a")]


@dataclass
class SimPod:
    """A pod as the simulated mesh holds it: the cluster API's record, its app, helloworld's version."""

    pod: Pod
    app: str
    version: str | None = None


@dataclass
class ClusterState:
    """What one simulated cluster holds (the cluster API and the sidecars read it)."""

    name: str
    index: int
    network: str
    region: str
    zone: str
    gateway_ip: str
    api_server: str
    nodes: list[Node] = field(default_factory=list)
    pods: list[SimPod] = field(default_factory=list)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    services: list[Service] = field(default_factory=list)  # created through create()
    created_ips: int = 0
    helloworld: list[SimPod] = field(default_factory=list)  # replica 1, 2, ...: scaled by knobs.replicas
    ambient: bool = False  # the sample namespace in ambient mode (see use_ambient)

    def scale(self, replicas: int) -> None:
        """Run the first ``replicas`` helloworld pods, where the deployment's pods are listed."""
        if not self.helloworld:
            return
        want = self.helloworld[:replicas]
        scaled = {id(p) for p in self.helloworld}
        at = next((i for i, p in enumerate(self.pods) if id(p) in scaled), len(self.pods))
        others = [p for p in self.pods if id(p) not in scaled]
        self.pods = others[:at] + want + others[at:]

    def use_ambient(self, ambient: bool, address: Address) -> None:
        """Put the sample namespace in ambient mode (or back in sidecar mode), as Istio would run it.

        Ambient: the namespace labelled ``istio.io/dataplane-mode=ambient`` instead of injected, its pods
        without sidecars and annotated by Istio's CNI as redirected to ztunnel, a ztunnel pod (the
        DaemonSet's) on every node, and the east-west gateway listening for HBONE on 15008.
        """
        if ambient == self.ambient:
            return
        self.ambient = ambient
        self.namespaces["sample"] = {"istio.io/dataplane-mode": "ambient"} if ambient else dict(INJECTED)
        for sim_pod in {id(p): p for p in [*self.pods, *self.helloworld]}.values():
            if sim_pod.pod.namespace == "sample":
                sim_pod.pod = _in_mode(sim_pod.pod, ambient)
        if not ambient:
            self.pods = [p for p in self.pods if p.app != "ztunnel"]
            return
        for n, node in enumerate(self.nodes, start=1):
            rng = random.Random(f"{self.name}:ztunnel:{n}")
            pod = Pod(
                name=f"ztunnel-{_suffix(rng, 5)}",
                namespace="istio-system",
                labels={"app": "ztunnel", "k8s-app": "istio-ztunnel"},
                node=node.name,
                ip=address(self.index, 3, n),
                phase="Running",
                ready=True,
                containers=("istio-proxy",),  # the DaemonSet's container name, though it runs ztunnel
            )
            self.pods.append(SimPod(pod=pod, app="ztunnel"))


#: The sample namespace's labels in sidecar mode.
INJECTED = {"istio-injection": "enabled"}


def _in_mode(pod: Pod, ambient: bool) -> Pod:
    """``pod`` with a sidecar, or without one and redirected to ztunnel (Istio CNI's annotation)."""
    app = tuple(c for c in pod.containers if c != "istio-proxy")
    if ambient:
        return dataclasses.replace(
            pod, containers=app, annotations=KeysOnly({"ambient.istio.io/redirection": "enabled"})
        )
    return dataclasses.replace(
        pod, containers=(*app, "istio-proxy"), annotations=KeysOnly({"sidecar.istio.io/status": "{}"})
    )


def _suffix(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_SUFFIX) for _ in range(length))


def new_cluster(
    name: str,
    index: int,
    rng: random.Random,
    seed: int,
    version: str | None,
    address: Address,
    gateway_ip: str,
) -> ClusterState:
    """Cluster ``index`` (from 1) of the guide, its names drawn from ``rng`` (shared, in cluster order)."""
    region, zone = _LOCALITIES[(index - 1) % len(_LOCALITIES)]
    if index > len(_LOCALITIES):
        region, zone = f"region-{index}", f"region-{index}-a"
    state = ClusterState(
        name=name,
        index=index,
        network=f"network{index}",
        region=region,
        zone=zone,
        gateway_ip=gateway_ip,
        api_server=f"https://172.18.{index}.10:6443",
    )
    for n in (1, 2):
        labels = {
            "kubernetes.io/hostname": f"{name}-node-{n}",
            "topology.kubernetes.io/region": region,
            "topology.kubernetes.io/zone": zone,
        }
        state.nodes.append(Node(name=f"{name}-node-{n}", labels=labels))
    _add_pods(state, rng, version, address)
    _add_replicas(state, seed, address)
    state.namespaces = {
        "default": {},
        "kube-system": {},
        "istio-system": {"topology.istio.io/network": state.network},
        "sample": dict(INJECTED),
    }
    return state


def _add_pods(state: ClusterState, rng: random.Random, version: str | None, address: Address) -> None:
    ip_count = iter(range(10, 250))

    def add(
        namespace: str,
        app: str,
        labels: dict[str, str],
        containers: tuple[str, ...],
        version: str | None = None,
    ) -> None:
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
            annotations=KeysOnly({"sidecar.istio.io/status": "{}"} if "istio-proxy" in containers else {}),
            node=node,
            ip=address(state.index, 0, next(ip_count)),
            phase="Running",
            ready=True,
            containers=containers,
        )
        state.pods.append(SimPod(pod=pod, app=app, version=version))

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


def _add_replicas(state: ClusterState, seed: int, address: Address) -> None:
    """helloworld replicas 2..MAX_REPLICAS of the cluster's deployment, named as its ReplicaSet would."""
    first = [p for p in state.pods if p.app == "helloworld"]
    if not first:
        return
    rng = random.Random(f"{seed}:{state.name}:helloworld")
    template = first[0].pod.labels["pod-template-hash"]
    state.helloworld = first[:1]
    for n in range(2, MAX_REPLICAS + 1):
        pod = dataclasses.replace(
            first[0].pod,
            name=f"helloworld-{first[0].version}-{template}-{_suffix(rng, 5)}",
            node=state.nodes[n % len(state.nodes)].name,
            ip=address(state.index, 2, n),
        )
        state.helloworld.append(SimPod(pod=pod, app="helloworld", version=first[0].version))
