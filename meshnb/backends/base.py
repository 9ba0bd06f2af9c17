"""The backend contract: what a diagnostic may ask of a cluster.

A :class:`Mesh` maps cluster names to :class:`Cluster` objects. Every backend (real clusters
through the kubernetes client, the simulated mesh, later the lab) returns these plain records,
never client objects, and raises only :mod:`meshnb.errors` exceptions.

Example:
    >>> import meshnb
    >>> mesh = meshnb.simulate()
    >>> sorted(mesh.clusters)
    ['cluster1', 'cluster2']
    >>> pod = mesh.clusters["cluster1"].list_pods("sample", "app=curl")[0]
    >>> mesh.clusters["cluster1"].exec("sample", pod.name, ["echo", "hi"]).stdout
    'hi\\n'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from meshnb.errors import ExecError

__all__ = [
    "DEFAULT_TIMEOUT",
    "Cluster",
    "ExecResult",
    "Mesh",
    "Node",
    "Pod",
    "Secret",
    "SecretData",
    "Service",
]

#: Seconds any single backend call may take unless the caller says otherwise.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a pod produced (like ``subprocess.CompletedProcess``)."""

    argv: tuple[str, ...]
    stdout: str
    stderr: str
    returncode: int
    cluster: str = ""
    pod: str = ""

    def check_returncode(self) -> ExecResult:
        """Raise :class:`ExecError` if the command exited non-zero; return self otherwise."""
        if self.returncode != 0:
            raise ExecError(
                self.cluster,
                f"{self.argv[0]!r} in pod {self.pod} exited {self.returncode}: {self.stderr.strip()[:300]}",
            )
        return self


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    node: str | None = None
    ip: str | None = None
    phase: str = "Unknown"
    ready: bool = False
    containers: tuple[str, ...] = ()

    @property
    def default_container(self) -> str | None:
        """The container ``kubectl exec`` picks when none is named: the one the
        ``kubectl.kubernetes.io/default-container`` annotation names, else the first.

        >>> Pod("p", "ns", containers=("curl", "istio-proxy")).default_container
        'curl'
        """
        chosen = self.annotations.get("kubectl.kubernetes.io/default-container")
        return chosen if chosen in self.containers else next(iter(self.containers), None)


@dataclass(frozen=True)
class Service:
    """A Service: its cluster IP, load-balancer addresses (IPs or host names) and port numbers."""

    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    type: str = "ClusterIP"
    cluster_ip: str | None = None
    external_addresses: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def region(self) -> str | None:
        return self.labels.get("topology.kubernetes.io/region")

    @property
    def zone(self) -> str | None:
        return self.labels.get("topology.kubernetes.io/zone")


class SecretData(Mapping[str, bytes]):
    """A secret's decoded data. Its repr shows the keys only, never the values.

    >>> SecretData({"token": b"s3cr3t"})
    SecretData(keys=['token'])
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, bytes]):
        self._data = dict(data)

    def __getitem__(self, key: str) -> bytes:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"SecretData(keys={sorted(self._data)!r})"

    def text(self, key: str) -> str:
        """The value of ``key`` decoded as UTF-8 (replacing undecodable bytes)."""
        return self._data[key].decode("utf-8", "replace")


@dataclass(frozen=True)
class Secret:
    name: str
    namespace: str
    type: str = "Opaque"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    data: SecretData = field(default_factory=lambda: SecretData({}))


@runtime_checkable
class Cluster(Protocol):
    """One Kubernetes cluster. Every method may raise a :class:`meshnb.errors.ClusterError`."""

    name: str

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[Pod]: ...

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: list[str],
        container: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ExecResult: ...

    def read_secret(self, namespace: str, name: str) -> SecretData: ...

    def list_secrets(self, namespace: str, label_selector: str | None = None) -> list[Secret]: ...

    def logs(
        self, namespace: str, pod: str, container: str | None = None, tail_lines: int | None = None
    ) -> str: ...

    def list_nodes(self) -> list[Node]: ...

    def list_services(self, namespace: str, label_selector: str | None = None) -> list[Service]: ...

    def read_config_map(self, namespace: str, name: str) -> dict[str, str]: ...

    def list_custom_objects(self, group: str, version: str, namespace: str, plural: str) -> list[dict]: ...

    # Writes: only for checks the user explicitly allows to change the cluster (and that clean up).
    def create(self, manifest: dict) -> None:
        """Create a Namespace, Service or Pod from its manifest (a dict as in YAML)."""
        ...

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete a Namespace, Service or Pod; NotFound if it is not there."""
        ...


@runtime_checkable
class Mesh(Protocol):
    """Clusters that form one Istio mesh, by cluster name."""

    clusters: Mapping[str, Cluster]
