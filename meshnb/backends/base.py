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

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from meshnb.errors import ExecError

if TYPE_CHECKING:
    from meshnb.backends.remote_api import Attempt

__all__ = [
    "DEFAULT_TIMEOUT",
    "Cluster",
    "ExecResult",
    "KeysOnly",
    "Mesh",
    "Node",
    "Pod",
    "PortSpec",
    "Secret",
    "SecretData",
    "Service",
    "TriesKubeconfigs",
]

V = TypeVar("V")


class _Printer(Protocol):  # IPython's pretty printer, as far as _repr_pretty_ uses it
    def text(self, obj: str) -> None: ...


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


class KeysOnly(Generic[V]):
    """A read-only mapping that every rendering shows by its keys only.

    Every rendering: repr, str, pprint, IPython, and a pandas cell (pandas prints each value of a
    ``collections.abc.Mapping``, so this is deliberately not one; it reads like one: ``[key]``, ``get``,
    ``in``, ``keys``/``items``/``values``, ``dict()``).

    >>> annotations = KeysOnly({"kubectl.kubernetes.io/last-applied-configuration": '{"token": "x"}'})
    >>> annotations
    KeysOnly(keys=['kubectl.kubernetes.io/last-applied-configuration'])
    >>> len(dict(annotations)["kubectl.kubernetes.io/last-applied-configuration"])
    14
    """

    __slots__ = ("_data",)
    __hash__ = None  # type: ignore[assignment]  # like a dict

    def __init__(self, data: Mapping[str, V] | KeysOnly[V] | None = None):
        self._data: dict[str, V] = dict(data.items() if data is not None else ())

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeysOnly):
            return self._data == other._data
        return isinstance(other, Mapping) and self._data == dict(other)

    def keys(self) -> KeysView[str]:
        """The keys, as ``dict.keys()`` gives them."""
        return self._data.keys()

    def items(self) -> ItemsView[str, V]:
        """The (key, value) pairs, as ``dict.items()`` gives them."""
        return self._data.items()

    def values(self) -> ValuesView[V]:
        """The values, as ``dict.values()`` gives them."""
        return self._data.values()

    def get(self, key: str, default: V | None = None) -> V | None:
        """The value of ``key``, or ``default`` if there is no such key."""
        return self._data.get(key, default)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={sorted(self._data)!r})"

    def _repr_pretty_(self, printer: _Printer, cycle: bool) -> None:  # IPython: as repr, not as a dict
        printer.text(repr(self))


@dataclass(frozen=True)
class Pod:
    """A pod; its annotations show their keys only (:class:`KeysOnly`).

    A pod applied with ``kubectl apply`` carries its whole manifest, env values included, in
    ``kubectl.kubernetes.io/last-applied-configuration``, and any tool may write any text into an
    annotation. Labels (``app``, ``version``) stay visible.

    >>> Pod("curl-1", "sample", labels={"app": "curl"}, annotations={"sidecar.istio.io/status": "{}"})
    ... # doctest: +NORMALIZE_WHITESPACE
    Pod(name='curl-1', namespace='sample', labels={'app': 'curl'},
        annotations=KeysOnly(keys=['sidecar.istio.io/status']), node=None, ip=None, phase='Unknown',
        ready=False, containers=())
    """

    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: KeysOnly[str] = field(default_factory=KeysOnly)
    node: str | None = None
    ip: str | None = None
    phase: str = "Unknown"
    ready: bool = False
    containers: tuple[str, ...] = ()

    if TYPE_CHECKING:  # the generated __init__, as __post_init__ lets it be called: annotations any mapping

        def __init__(
            self,
            name: str,
            namespace: str,
            labels: Mapping[str, str] = ...,
            annotations: Mapping[str, str] | KeysOnly[str] = ...,
            node: str | None = None,
            ip: str | None = None,
            phase: str = "Unknown",
            ready: bool = False,
            containers: tuple[str, ...] = (),
        ) -> None: ...

    @property
    def default_container(self) -> str | None:
        """The container ``kubectl exec`` picks when none is named.

        That is the one the ``kubectl.kubernetes.io/default-container`` annotation names, else the first.

        >>> Pod("p", "ns", containers=("curl", "istio-proxy")).default_container
        'curl'
        """
        chosen = self.annotations.get("kubectl.kubernetes.io/default-container")
        return chosen if chosen in self.containers else next(iter(self.containers), None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", KeysOnly(self.annotations))


@dataclass(frozen=True)
class PortSpec:
    """One port of a Service as its spec declares it: number, name, protocol and appProtocol.

    Istio reads a port's protocol from ``appProtocol``, else from the name's prefix (``http-web``), else
    sniffs it; and it matches endpoints to a service port by the port's name.

    >>> PortSpec(5000, "http")
    PortSpec(port=5000, name='http', protocol='TCP', app_protocol=None, target_port=None)
    """

    port: int
    name: str = ""
    protocol: str = "TCP"
    app_protocol: str | None = None
    target_port: str | None = None  # as written: a number or a container port's name


@dataclass(frozen=True)
class Service:
    """A Service: its cluster IP, external addresses (load balancer, then ``externalIPs``) and ports.

    ``port_specs`` says more of each port (:class:`PortSpec`); ``selector`` is the spec's pod selector.
    A backend that only knows the numbers leaves ``port_specs`` empty: :attr:`specs` then makes them up
    from ``ports``.

    >>> Service("helloworld", "sample", ports=(5000,)).specs
    (PortSpec(port=5000, name='', protocol='TCP', app_protocol=None, target_port=None),)
    """

    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    type: str = "ClusterIP"
    cluster_ip: str | None = None
    external_addresses: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    port_specs: tuple[PortSpec, ...] = ()
    selector: Mapping[str, str] | None = None

    @property
    def specs(self) -> tuple[PortSpec, ...]:
        """Each port's :class:`PortSpec` (from ``ports`` alone when ``port_specs`` is not known)."""
        return self.port_specs or tuple(PortSpec(port) for port in self.ports)


@dataclass(frozen=True)
class Node:
    """A node and its labels; ``region`` and ``zone`` read its topology labels."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def region(self) -> str | None:
        """The node's ``topology.kubernetes.io/region`` label (None if it has none)."""
        return self.labels.get("topology.kubernetes.io/region")

    @property
    def zone(self) -> str | None:
        """The node's ``topology.kubernetes.io/zone`` label (None if it has none)."""
        return self.labels.get("topology.kubernetes.io/zone")


class SecretData(KeysOnly[bytes]):
    """A secret's decoded data. Its repr shows the keys only, never the values.

    >>> SecretData({"token": b"s3cr3t"})
    SecretData(keys=['token'])
    """

    __slots__ = ()

    def text(self, key: str) -> str:
        """The value of ``key`` decoded as UTF-8 (replacing undecodable bytes)."""
        return self._data[key].decode("utf-8", "replace")


@dataclass(frozen=True)
class Secret:
    """A secret whose every rendering shows the keys of its labels, annotations and data, never a value.

    Its labels, annotations and data are :class:`KeysOnly`, so every rendering of it (repr,
    str, pprint, IPython, a pandas cell, ``pd.DataFrame(cluster.list_secrets(...))``) shows their keys,
    never a value: ``istioctl create-remote-secret | kubectl apply -f -``
    leaves the whole kubeconfig, token included, in the ``kubectl.kubernetes.io/last-applied-configuration``
    annotation, and a label value can hold a token's segment. ``data`` given as a plain mapping is
    wrapped in :class:`SecretData`.

    >>> Secret("istio-remote-secret-cluster2", "istio-system", labels={"istio/multiCluster": "true"},
    ...        annotations={"networking.istio.io/cluster": "cluster2"}, data={"cluster2": b"token: x"})
    ... # doctest: +NORMALIZE_WHITESPACE
    Secret(name='istio-remote-secret-cluster2', namespace='istio-system', type='Opaque',
           labels=KeysOnly(keys=['istio/multiCluster']),
           annotations=KeysOnly(keys=['networking.istio.io/cluster']), data=SecretData(keys=['cluster2']))
    """

    name: str
    namespace: str
    type: str = "Opaque"
    labels: KeysOnly[str] = field(default_factory=KeysOnly)
    annotations: KeysOnly[str] = field(default_factory=KeysOnly)
    data: SecretData = field(default_factory=SecretData)

    if TYPE_CHECKING:  # the generated __init__, as __post_init__ lets it be called: any mappings

        def __init__(
            self,
            name: str,
            namespace: str,
            type: str = "Opaque",
            labels: Mapping[str, str] | KeysOnly[str] = ...,
            annotations: Mapping[str, str] | KeysOnly[str] = ...,
            data: Mapping[str, bytes] | KeysOnly[bytes] = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", KeysOnly(self.labels))
        object.__setattr__(self, "annotations", KeysOnly(self.annotations))
        if not isinstance(self.data, SecretData):
            object.__setattr__(self, "data", SecretData(self.data))


@runtime_checkable
class Cluster(Protocol):
    """One Kubernetes cluster. Every method may raise a :class:`meshnb.errors.ClusterError`."""

    name: str

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[Pod]:
        """The pods in ``namespace``, only those matching ``label_selector`` if one is given."""
        ...

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: list[str],
        container: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ExecResult:
        """Run ``argv`` (a list, never a shell string) in a pod and wait at most ``timeout`` seconds."""
        ...

    def read_secret(self, namespace: str, name: str) -> SecretData:
        """The decoded data of the secret ``name`` in ``namespace``; NotFound if it is not there."""
        ...

    def list_secrets(self, namespace: str, label_selector: str | None = None) -> list[Secret]:
        """The secrets in ``namespace``, only those matching ``label_selector`` if one is given."""
        ...

    def logs(
        self, namespace: str, pod: str, container: str | None = None, tail_lines: int | None = None
    ) -> str:
        """A container's log text (only its last ``tail_lines`` lines if given)."""
        ...

    def list_nodes(self) -> list[Node]:
        """Every node of the cluster, with its labels."""
        ...

    def list_services(self, namespace: str, label_selector: str | None = None) -> list[Service]:
        """The services in ``namespace``, only those matching ``label_selector`` if one is given."""
        ...

    def read_config_map(self, namespace: str, name: str) -> dict[str, str]:
        """The data of the ConfigMap ``name`` in ``namespace``; NotFound if it is not there."""
        ...

    def namespace_labels(self, name: str) -> dict[str, str]:
        """The labels of the namespace ``name`` (``topology.istio.io/network``, ...); NotFound if none."""
        ...

    def list_custom_objects(
        self, group: str, version: str, namespace: str, plural: str
    ) -> list[dict[str, Any]]:
        """The custom resources ``plural`` of ``group``/``version`` in ``namespace``, as plain dicts."""
        ...

    # Writes: only for checks the user explicitly allows to change the cluster (and that clean up).
    def create(self, manifest: dict[str, Any]) -> None:
        """Create a Namespace, Service or Pod from its manifest (a dict as in YAML)."""
        ...

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete a Namespace, Service or Pod; NotFound if it is not there."""
        ...


@runtime_checkable
class Mesh(Protocol):
    """Clusters that form one Istio mesh, by cluster name."""

    @property
    def clusters(self) -> Mapping[str, Cluster]:  # read-only here, so a dict of any Cluster type fits
        """The mesh's clusters, by cluster name."""
        ...


@runtime_checkable
class TriesKubeconfigs(Protocol):
    """A mesh that can try a remote secret's kubeconfig, read-only (the credentials check needs it).

    The kube backend asks the kubeconfig's server over real HTTP from this machine; the simulated mesh
    answers from its state. The kubeconfig stays in memory, and the :class:`Attempt` holds no credential.
    """

    def try_kubeconfig(self, kubeconfig: bytes, *, timeout: float = 5.0) -> Attempt:
        """Who the kubeconfig's server says its user is, and what the user may list and watch."""
        ...
