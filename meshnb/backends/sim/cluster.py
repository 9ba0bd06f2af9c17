"""The simulated cluster API: what ``kubectl`` (the kubernetes client) would answer, from the mesh's state.

:class:`SimCluster` implements the :class:`meshnb.backends.base.Cluster` contract: pods, nodes,
services, the ``istio`` config map, DestinationRules, secrets (``cacerts`` and remote secrets),
istiod's log, creating and deleting namespaces, services and pods, and ``exec``. In a pod, ``echo``
and ``hostname`` run here; ``curl`` and ``pilot-agent request GET`` go to the mesh's data plane
(:mod:`meshnb.backends.sim.dataplane`); ``pilot-discovery request GET`` in istiod's pod answers its debug
views (:mod:`meshnb.backends.sim.debug`).

>>> import meshnb
>>> c = meshnb.simulate().clusters["cluster1"]
>>> [p.labels["app"] for p in c.list_pods("sample")]
['curl', 'helloworld']
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import DEFAULT_TIMEOUT, ExecResult, Node, Pod, PortSpec, Secret, SecretData, Service
from meshnb.backends.sim import debug
from meshnb.backends.sim.dataplane import CommandOutput
from meshnb.backends.sim.knobs import AMBIENT_SCOPE, CONNECTION_POOL, OUTLIER_DETECTION
from meshnb.backends.sim.layout import SimPod
from meshnb.backends.sim.lb import DEFAULT_POLICY
from meshnb.errors import ClusterError, ExecError, InvalidName, NotFound, Unreachable
from meshnb.names import match_selector, validate_name, validate_selector

if TYPE_CHECKING:
    from meshnb.backends.sim.state import MeshState

__all__ = ["SimCluster"]


class SimCluster:
    """One simulated cluster; implements the :class:`meshnb.backends.base.Cluster` contract."""

    def __init__(self, mesh: MeshState, name: str):
        self.mesh = mesh
        self.name = name
        self.calls: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"SimCluster({self.name!r})"

    def _call(self, method: str) -> None:
        self.calls[method] += 1
        if self.mesh.knobs.rtt:
            time.sleep(self.mesh.knobs.rtt)
        if self.name in self.mesh.knobs.unreachable:
            server = self.mesh.state(self.name).api_server
            raise Unreachable(self.name, f"cannot connect to the API server at {server}: connection refused")

    def _pod(self, namespace: str, pod: str) -> SimPod:
        for sim_pod in self.mesh.state(self.name).pods:
            if sim_pod.pod.namespace == namespace and sim_pod.pod.name == pod:
                return sim_pod
        raise NotFound(self.name, f'pods "{pod}" not found in namespace {namespace}')

    # ---- the contract ----

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[Pod]:
        """The simulated pods in ``namespace``, only those matching ``label_selector`` if one is given."""
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        self._call("list_pods")
        down = self.name in self.mesh.knobs.istiod_down  # its pod deleted (the Deployment scaled to 0)
        return [
            p.pod
            for p in self.mesh.state(self.name).pods
            if p.pod.namespace == namespace
            and match_selector(label_selector, p.pod.labels)
            and not (down and p.app == "istiod")
        ]

    def list_nodes(self) -> list[Node]:
        """The cluster's nodes, their topology labels set to the cluster's region and zone."""
        self._call("list_nodes")
        region, zone = self.mesh.locality_of(self.name)
        topology = {"topology.kubernetes.io/region": region, "topology.kubernetes.io/zone": zone}
        return [Node(node.name, {**node.labels, **topology}) for node in self.mesh.state(self.name).nodes]

    def list_services(self, namespace: str, label_selector: str | None = None) -> list[Service]:
        """The services in ``namespace`` (the gateway and istiod, helloworld, those created) by selector."""
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
                    _specs({"status-port": 15021, "tls": 15443, "tls-istiod": 15012, "tls-webhook": 15017}),
                    {"istio": "eastwestgateway"},
                )
            )
            if self.name in self.mesh.knobs.second_gateway:
                services.append(
                    Service(
                        "istio-eastwestgateway-2",
                        namespace,
                        {**labels, "app": "istio-eastwestgateway-2"},
                        "LoadBalancer",
                        f"10.{state.index}.96.21",
                        (self.mesh.second_gateway_address(state.index),),
                        (15021, 15443),
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
                    _specs({"grpc-xds": 15010, "https-dns": 15012, "https-webhook": 443}),
                    {"app": "istiod"},
                )
            )
        if self.mesh.serves(namespace, "helloworld"):
            services.append(
                Service(
                    "helloworld",
                    namespace,
                    {"app": "helloworld", "service": "helloworld"}
                    | ({"istio.io/global": "true"} if self._global() else {}),
                    "ClusterIP",
                    f"10.{state.index}.96.30",
                    (),
                    (5000,),
                    _specs({self.mesh.port_name(self.name): 5000}),
                    {"app": "helloworld"},
                )
            )
        services += [svc for svc in state.services if svc.namespace == namespace]
        return [svc for svc in services if match_selector(label_selector, svc.labels)]

    def read_config_map(self, namespace: str, name: str) -> dict[str, str]:
        """The ``istio-system/istio`` ConfigMap (its mesh config from the knobs); NotFound for others."""
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
        config: dict[str, Any] = {"accessLogFile": "/dev/stdout", "localityLbSetting": setting}
        if self.mesh.knobs.ambient and self.name not in self.mesh.knobs.ambient_no_scope:
            config["serviceScopeConfigs"] = [AMBIENT_SCOPE]
        mesh = yaml.safe_dump(config, sort_keys=False)
        return {"mesh": mesh, "meshNetworks": "networks: {}"}

    def namespace_labels(self, name: str) -> dict[str, str]:
        """The labels of a namespace (istio-system's names the cluster's network); NotFound if none."""
        validate_name(name, "namespace")
        self._call("namespace_labels")
        labels = self.mesh.state(self.name).namespaces.get(name)
        if labels is None:
            raise NotFound(self.name, f'namespaces "{name}" not found')
        return dict(labels)

    def list_custom_objects(self, group: str, version: str, namespace: str, plural: str) -> list[dict]:
        """The helloworld DestinationRule the knobs call for, if any; no other custom resources.

        With ``drifted_destination_rule``, every cluster has one (the mesh's load-balancing policy
        written out), and in the clusters it names it also limits the connection pool: a drift no
        traffic shows, which the sameness check finds.
        """
        validate_name(namespace, "namespace")
        self._call("list_custom_objects")
        knobs = self.mesh.knobs
        policy: dict = {}
        if knobs.lb_policy != DEFAULT_POLICY or knobs.drifted_destination_rule:
            policy["loadBalancer"] = {"simple": knobs.lb_policy}
        if knobs.outlier_detection:
            policy["outlierDetection"] = dict(OUTLIER_DETECTION)
            if knobs.max_ejection_percent is not None:
                policy["outlierDetection"]["maxEjectionPercent"] = knobs.max_ejection_percent
        if self.name in knobs.drifted_destination_rule:
            policy["connectionPool"] = {"http": dict(CONNECTION_POOL)}
        if (group, plural) == ("gateway.networking.k8s.io", "gateways"):
            return self._east_west_gateways(namespace, version)
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

    def _global(self) -> bool:
        """Whether this cluster's helloworld Service is labelled ``istio.io/global`` (in ambient mode)."""
        return self.mesh.knobs.ambient and self.name not in self.mesh.knobs.ambient_local_service

    def _east_west_gateways(self, namespace: str, version: str) -> list[dict]:
        """In ambient mode, the ``istio-east-west`` Gateway (two with ``second_gateway``).

        As the ambient multicluster install makes it: the network label, an HBONE listener on 15008 that
        terminates TLS, its load balancer's address in the status.
        """
        knobs, state = self.mesh.knobs, self.mesh.state(self.name)
        if namespace != "istio-system" or not knobs.ambient or self.name in knobs.ambient_classic_gateway:
            return []
        addresses = [state.gateway_ip]
        if self.name in knobs.second_gateway:
            addresses.append(self.mesh.second_gateway_address(state.index))
        return [
            {
                "apiVersion": f"gateway.networking.k8s.io/{version}",
                "kind": "Gateway",
                "metadata": {
                    "name": "istio-eastwestgateway" + (f"-{n}" if n > 1 else ""),
                    "namespace": namespace,
                    "labels": {"topology.istio.io/network": state.network},
                },
                "spec": {
                    "gatewayClassName": "istio-east-west",
                    "listeners": [
                        {"name": "mesh", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Terminate"}}
                    ],
                },
                "status": {"addresses": [{"type": "IPAddress", "value": address}]},
            }
            for n, address in enumerate(addresses, start=1)
        ]

    def create(self, manifest: dict[str, Any]) -> None:
        """Create a Namespace, Service or Pod from its manifest, then update the data plane."""
        self._create(manifest)
        self.mesh.data_plane.on_change()

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete a Namespace (with its pods and services), Service or Pod; NotFound if it is not there."""
        self._delete(kind, namespace, name)
        self.mesh.data_plane.on_change()

    def _create(self, manifest: dict[str, Any]) -> None:
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
            spec = manifest.get("spec") or {}
            ports = tuple(p.get("port") for p in spec.get("ports") or [])
            specs = tuple(
                PortSpec(p.get("port"), p.get("name", ""), p.get("protocol", "TCP"), p.get("appProtocol"))
                for p in spec.get("ports") or []
            )
            labels = dict(meta.get("labels") or {})
            selector = dict(spec["selector"]) if spec.get("selector") is not None else None
            state.services.append(
                Service(name, namespace, labels, "ClusterIP", None, (), ports, specs, selector)
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
            state.pods.append(SimPod(pod=pod, app=labels.get("app", ""), version=labels.get("version")))
        else:
            raise InvalidName(
                f"the simulated mesh creates only Namespace, Service and Pod objects, not {kind!r}"
            )

    def _delete(self, kind: str, namespace: str | None, name: str) -> None:
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
        cacerts = self.mesh.cacerts(self.name)
        if cacerts is not None:
            secrets.append(Secret(name="cacerts", namespace=namespace, data=SecretData(cacerts)))
        for remote in self.mesh.clusters:
            secret = self.mesh.remote_secret(self.name, remote)
            if secret is not None:
                secrets.append(secret)
        return secrets

    def read_secret(self, namespace: str, name: str) -> SecretData:
        """The data of ``cacerts`` or a remote secret in ``istio-system``; NotFound if it is not there."""
        validate_name(namespace, "namespace")
        validate_name(name, "secret name", subdomain=True)
        self._call("read_secret")
        for secret in self._secrets(namespace):
            if secret.name == name:
                return secret.data
        raise NotFound(self.name, f'secrets "{name}" not found in namespace {namespace}')

    def list_secrets(self, namespace: str, label_selector: str | None = None) -> list[Secret]:
        """The secrets in ``namespace`` (``cacerts`` and remote secrets in ``istio-system``) by selector."""
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        self._call("list_secrets")
        return [s for s in self._secrets(namespace) if match_selector(label_selector, dict(s.labels))]

    def logs(
        self, namespace: str, pod: str, container: str | None = None, tail_lines: int | None = None
    ) -> str:
        """A pod's log: istiod's simulated log for an istiod pod, empty for others (last ``tail_lines``)."""
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
        """Run ``argv`` in a pod: ``echo``, ``hostname``, and ``curl``/``pilot-agent`` on the data plane."""
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

    def _run(self, sim_pod: SimPod, container: str, argv: list[str], timeout: float) -> CommandOutput:
        """Run ``argv`` in the pod's ``container``: (stdout, stderr, exit code)."""
        program = argv[0].rsplit("/", 1)[-1]
        if program == "echo":
            return " ".join(argv[1:]) + "\n", "", 0
        if program == "hostname":
            return sim_pod.pod.name + "\n", "", 0
        if program == "curl" and container in ("curl", "istio-proxy"):
            return self.mesh.data_plane.curl(self.name, sim_pod, argv[1:], timeout)
        if program == "pilot-agent" and container == "istio-proxy" and argv[1:3] == ["request", "GET"]:
            return self.mesh.data_plane.admin(self.name, sim_pod, argv[3] if len(argv) > 3 else "")
        if program == "pilot-discovery" and container == "discovery" and argv[1:3] == ["request", "GET"]:
            return debug.answer(self.mesh, self.name, argv[3] if len(argv) > 3 else ""), "", 0
        return "", f'exec: "{argv[0]}": executable file not found in $PATH', 127

    def endpoints_view(self, namespace: str, service: str, port: int) -> list[dict[str, Any]]:
        """The endpoints this cluster's sidecars hold for a service (derived from the mesh state)."""
        return self.mesh.endpoints(self.name, namespace, service, port)


def _specs(ports: dict[str, int]) -> tuple[PortSpec, ...]:
    """Ports named as Istio's charts and samples name them (Istio reads the protocol from the name)."""
    return tuple(PortSpec(port, name) for name, port in ports.items())
