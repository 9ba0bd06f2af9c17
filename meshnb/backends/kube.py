"""Real clusters through the official kubernetes client: one ``ApiClient`` per kubeconfig context.

``connect`` never calls ``load_kube_config`` (it changes process-wide defaults); every cluster gets its
own client built with ``new_client_from_config(context=...)``, with urllib3 retries switched off so an
unreachable API server fails at once instead of after several back-offs. ``kubernetes`` is imported
inside the functions that need it, so importing this module is cheap.

Every call has a timeout and raises only :mod:`meshnb.errors` exceptions, mapped at this boundary
(``raise ... from exc``)::

    ApiException 401 / 403 / 404 -> Unauthorized / Forbidden / NotFound (with the API's message)
    other ApiException status    -> ClusterError(status=...)
    connection refused, DNS, TLS -> Unreachable
    connect or read timeout      -> ClusterTimeout

Exec notes (kubernetes 37, ``kubernetes/stream/ws_client.py``): ``_request_timeout`` is ignored when
``_preload_content=False``, the websocket handshake runs on a blocking socket with no timeout at all, and
``stream()`` swaps ``call_api`` on the ApiClient it is given for the duration of the call (not thread
safe). So :meth:`KubeCluster.exec` opens each exec with a private ApiClient sharing the configuration,
bounds the handshake with a helper thread, then sets a socket timeout and polls until the deadline.

Example (against real clusters)::
    from meshnb.backends.kube import connect
    with connect(["kind-east", "kind-west"]) as mesh:
        east = mesh.clusters["kind-east"]
        pod = east.list_pods("sample", "app=curl")[0]
        east.exec("sample", pod.name, ["curl", "-s", "helloworld:5000/hello"]).stdout
    # -> 'Hello version: v1, instance: helloworld-v1-...\\n'
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from meshnb.backends import bounded, remote_api
from meshnb.backends.base import DEFAULT_TIMEOUT, ExecResult, Node, Pod, PortSpec, Secret, SecretData, Service
from meshnb.backends.bounded import MAX_ANSWER_BYTES
from meshnb.backends.kubeconfig import CREDENTIAL_TIMEOUT, kubeconfig_path, read_kubeconfig
from meshnb.errors import (
    ClusterError,
    ClusterTimeout,
    ConfigError,
    ExecError,
    Forbidden,
    InvalidName,
    MeshnbError,
    NotFound,
    Unauthorized,
    Unreachable,
)
from meshnb.names import validate_name, validate_selector

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, CoreV1Api

    from meshnb.backends.remote_api import Attempt

__all__ = ["KubeCluster", "KubeMesh", "connect"]

log = logging.getLogger("meshnb")

_STDOUT, _STDERR, _ERROR = 1, 2, 3
_MAX_DETAIL = 600


# ----------------------------------------------------------------------------------------------- connect
def connect(
    contexts: str | Sequence[str] | Mapping[str, str],
    kubeconfig: str | os.PathLike[str] | None = None,
    *,
    timeout: float = 10.0,
    credential_timeout: float = CREDENTIAL_TIMEOUT,
    max_answer_bytes: int = MAX_ANSWER_BYTES,
) -> KubeMesh:
    """Open one independent API client per kubeconfig context.

    ``contexts`` is a list of context names (each cluster is named after its context) or a mapping
    ``{cluster_name: context_name}``. ``kubeconfig`` defaults to ``$KUBECONFIG`` or ``~/.kube/config``.
    ``timeout`` bounds every API call from start to end (exec has its own timeout argument);
    ``credential_timeout`` bounds each run of a credential plugin (``exec``, the gcp ``cmd-path``);
    ``max_answer_bytes`` refuses a larger answer to any one call.

    mesh = connect({"cluster1": "kind-east", "cluster2": "kind-west"})
    sorted(mesh.clusters)
    # -> ['cluster1', 'cluster2']
    """
    from kubernetes import client

    pairs = context_pairs(contexts)
    config = read_kubeconfig(kubeconfig_path(kubeconfig))
    for cluster, ctx in pairs.items():
        if ctx not in config.contexts:
            raise ConfigError(
                f"context {ctx!r} (for cluster {cluster!r}) is not in kubeconfig {config.path}; "
                f"available contexts: {', '.join(config.contexts) or '(none)'}"
            )
    clusters: dict[str, KubeCluster] = {}
    try:
        for cluster, ctx in pairs.items():
            configuration = client.Configuration()
            configuration.retries = False  # fail fast: no urllib3 retries against a dead API server
            api = config.client(ctx, configuration, credential_timeout=credential_timeout)
            log.debug("connected cluster %s to context %s at %s", cluster, ctx, configuration.host)
            clusters[cluster] = KubeCluster(
                cluster, api, timeout, max_answer_bytes=max_answer_bytes, context=ctx
            )
    except BaseException:
        for built in clusters.values():
            built.close()
        raise
    return KubeMesh(clusters, kubeconfig=None if kubeconfig is None else os.fspath(kubeconfig))


def context_pairs(contexts: str | Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    """``{cluster name: context}`` from what :func:`connect` accepts (a name, a list or a mapping).

    >>> context_pairs(["kind-east"]), context_pairs({"cluster1": "kind-east"})
    ({'kind-east': 'kind-east'}, {'cluster1': 'kind-east'})
    """
    if isinstance(contexts, str):
        contexts = [contexts]
    pairs = dict(contexts) if isinstance(contexts, Mapping) else {ctx: ctx for ctx in contexts}
    if not pairs:
        raise ConfigError("connect() needs at least one kubeconfig context")
    for cluster, ctx in pairs.items():
        if not (isinstance(cluster, str) and cluster and isinstance(ctx, str) and ctx):
            raise ConfigError(f"cluster and context names must be non-empty strings: {cluster!r}: {ctx!r}")
    return pairs


# ----------------------------------------------------------------------------------------------- mesh
class KubeMesh:
    """Clusters reached through kubeconfig contexts; close it (or use ``with``) to free connections.

    with connect(["kind-east"]) as mesh:
        mesh.clusters["kind-east"].version()
    # -> 'v1.30.0'
    """

    def __init__(self, clusters: Mapping[str, KubeCluster], *, kubeconfig: str | None = None):
        self.clusters: dict[str, KubeCluster] = dict(clusters)
        self.kubeconfig = kubeconfig  # the file named to connect(), for commands a person runs by hand

    def try_kubeconfig(self, kubeconfig: bytes, *, timeout: float = 5.0) -> Attempt:
        """A remote secret's kubeconfig tried from this machine, read-only, over real HTTP.

        Its token stays in memory (an in-memory ``ssl.SSLContext``, a bearer header); see
        :mod:`meshnb.backends.remote_api`.
        """
        return remote_api.try_kubeconfig(kubeconfig, timeout=timeout)

    def close(self) -> None:
        """Close every cluster's API client."""
        for cluster in self.clusters.values():
            cluster.close()

    def __enter__(self) -> KubeMesh:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KubeMesh(clusters={sorted(self.clusters)!r})"


# ----------------------------------------------------------------------------------------------- cluster
class KubeCluster:
    """One cluster behind one ``ApiClient``; implements :class:`meshnb.backends.base.Cluster`.

    from kubernetes.config import new_client_from_config
    east = KubeCluster("east", new_client_from_config(context="kind-east"), timeout=5)
    [n.zone for n in east.list_nodes()]
    # -> ['us-east-1a']
    """

    def __init__(
        self,
        name: str,
        api_client: ApiClient,
        timeout: float = 10.0,
        *,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        context: str | None = None,
    ):
        self.name = name
        self.context = context  # its kubeconfig context, for commands a person runs by hand
        self.api_client = api_client
        self.timeout = float(timeout)
        self.max_answer_bytes = max_answer_bytes
        self._core: CoreV1Api | None = None
        bounded.install(api_client)

    def __repr__(self) -> str:
        return f"KubeCluster({self.name!r}, host={self.api_client.configuration.host!r})"

    def close(self) -> None:
        """Close the API client's connection pool."""
        self.api_client.close()

    @property
    def core(self) -> CoreV1Api:
        """The cluster's ``CoreV1Api`` on this client, made on first use."""
        if self._core is None:
            from kubernetes import client

            self._core = client.CoreV1Api(self.api_client)
        return self._core

    # -- reads ----------------------------------------------------------------------------------------
    def _get(self, subject: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> bytearray:
        """The body of one API call, within ``timeout`` from start to end and ``max_answer_bytes``."""
        with self._errors(subject) as watch:
            response = call(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
            complete = False
            try:
                body = bounded.read_body(response, self.max_answer_bytes)
                complete = not watch.fired  # a body cut by the deadline is not an answer
            finally:
                if not complete:
                    response.close()  # a refused or broken answer: the connection is not reused
                response.release_conn()
            if watch.fired:
                raise self._timeout(subject, self.timeout)
        return body

    def _json(
        self, subject: str, kind: str | None, call: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """An API answer parsed as a JSON object of ``kind``, or a ClusterError.

        ``kind`` is any ``...List`` for ``"List"``, not checked for None; the ClusterError says what came
        instead.
        """
        body = self._get(subject, call, *args, **kwargs)
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):  # HTML from a proxy, bytes that are not UTF-8, nesting
            raise ClusterError(
                self.name, f"{subject}: the API server's answer is not JSON ({_looks_like(body)})"
            ) from None
        if not isinstance(doc, dict):
            raise ClusterError(self.name, f"{subject}: the API server's answer is not a JSON object")
        got = doc.get("kind")
        if kind is not None and not (got == kind or (kind == "List" and str(got).endswith("List"))):
            shown = repr(got)[:40] if isinstance(got, str) else "no kind"
            raise ClusterError(
                self.name, f"{subject}: the API server's answer is {shown}, not a {kind} (not the API?)"
            )
        return doc

    def _items(self, subject: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[_Doc]:
        """The ``items`` of a list answer."""
        doc = _Doc(self._json(subject, "List", call, *args, **kwargs), subject, self.name)
        return doc.objs("items")

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[Pod]:
        """Pods in ``namespace`` matching ``label_selector``, e.g. ``list_pods("sample", "app=curl")``."""
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        log.debug("%s: list pods in %s (selector %r)", self.name, namespace, label_selector)
        subject = f"pods in namespace {namespace}"
        items = self._items(
            subject, self.core.list_namespaced_pod, namespace, label_selector=label_selector or None
        )
        return [_pod(p) for p in items]

    def read_secret(self, namespace: str, name: str) -> SecretData:
        """A secret's decoded data, e.g. ``read_secret("istio-system", "cacerts")["root-cert.pem"]``."""
        validate_name(namespace, "namespace")
        validate_name(name, "secret name", subdomain=True)
        log.debug("%s: read secret %s/%s", self.name, namespace, name)
        subject = f"secret {namespace}/{name}"
        secret = _Doc(
            self._json(subject, "Secret", self.core.read_namespaced_secret, name, namespace),
            subject,
            self.name,
        )
        return self._decode(secret.strings("data"), subject)

    def list_secrets(self, namespace: str, label_selector: str | None = None) -> list[Secret]:
        """Secrets in ``namespace``, e.g. ``list_secrets("istio-system", "istio/multiCluster=true")``."""
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        log.debug("%s: list secrets in %s (selector %r)", self.name, namespace, label_selector)
        subject = f"secrets in namespace {namespace}"
        items = self._items(
            subject, self.core.list_namespaced_secret, namespace, label_selector=label_selector or None
        )
        secrets = []
        for item in items:
            meta = item.obj("metadata")
            secrets.append(
                Secret(
                    name=meta.text("name"),
                    namespace=meta.text("namespace", namespace),
                    type=item.text("type", "Opaque"),
                    labels=meta.strings("labels"),
                    annotations=meta.strings("annotations"),
                    data=self._decode(item.strings("data"), f"secret {namespace}/{meta.text('name')}"),
                )
            )
        return secrets

    def logs(
        self, namespace: str, pod: str, container: str | None = None, tail_lines: int | None = None
    ) -> str:
        """A container's log text, e.g. ``logs("istio-system", "istiod-abc", tail_lines=200)``."""
        validate_name(namespace, "namespace")
        validate_name(pod, "pod name", subdomain=True)
        if container is not None:
            validate_name(container, "container name")
        if tail_lines is not None and (isinstance(tail_lines, bool) or not isinstance(tail_lines, int)):
            raise InvalidName(f"invalid tail_lines {tail_lines!r}: use a whole number")
        log.debug("%s: logs %s/%s (container %s, tail %s)", self.name, namespace, pod, container, tail_lines)
        subject = f"pod {namespace}/{pod}" + (f" container {container}" if container else "")
        data = self._get(
            subject,
            self.core.read_namespaced_pod_log,  # raw text: log lines that look like JSON stay text
            pod,
            namespace,
            container=container,
            tail_lines=tail_lines,
        )
        return data.decode("utf-8", "replace")

    def list_nodes(self) -> list[Node]:
        """Every node with its labels (``region``/``zone`` come from the topology labels)."""
        log.debug("%s: list nodes", self.name)
        items = self._items("nodes", self.core.list_node)
        metas = [item.obj("metadata") for item in items]
        return [Node(name=meta.text("name"), labels=meta.strings("labels")) for meta in metas]

    def list_services(self, namespace: str, label_selector: str | None = None) -> list[Service]:
        """Services in ``namespace``, e.g. ``list_services("istio-system", "istio=eastwestgateway")``."""
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        log.debug("%s: list services in %s (selector %r)", self.name, namespace, label_selector)
        subject = f"services in namespace {namespace}"
        items = self._items(
            subject, self.core.list_namespaced_service, namespace, label_selector=label_selector or None
        )
        return [_service(item) for item in items]

    def namespace_labels(self, name: str) -> dict[str, str]:
        """A namespace's labels, e.g. ``namespace_labels("istio-system")["topology.istio.io/network"]``."""
        validate_name(name, "namespace")
        log.debug("%s: read namespace %s", self.name, name)
        subject = f"namespace {name}"
        item = self._json(subject, "Namespace", self.core.read_namespace, name)
        return _Doc(item, subject, self.name).obj("metadata").strings("labels")

    def read_config_map(self, namespace: str, name: str) -> dict[str, str]:
        """A ConfigMap's data, e.g. ``read_config_map("istio-system", "istio")["mesh"]``."""
        validate_name(namespace, "namespace")
        validate_name(name, "config map name", subdomain=True)
        log.debug("%s: read config map %s/%s", self.name, namespace, name)
        subject = f"configmap {namespace}/{name}"
        item = self._json(subject, "ConfigMap", self.core.read_namespaced_config_map, name, namespace)
        return _Doc(item, subject, self.name).strings("data")

    def list_custom_objects(
        self, group: str, version: str, namespace: str, plural: str
    ) -> list[dict[str, Any]]:
        """Custom resources as plain dicts, e.g. DestinationRules (networking.istio.io, v1)."""
        from kubernetes import client

        validate_name(namespace, "namespace")
        validate_name(group, "API group", subdomain=True)
        validate_name(version, "API version")
        validate_name(plural, "resource")
        log.debug("%s: list %s.%s/%s in %s", self.name, plural, group, version, namespace)
        subject = f"{plural}.{group} in namespace {namespace}"
        api = client.CustomObjectsApi(self.api_client)
        items = self._items(subject, api.list_namespaced_custom_object, group, version, namespace, plural)
        return [item.value for item in items]

    def create(self, manifest: dict[str, Any]) -> None:
        """Create a Namespace, Service or Pod (the only writes meshnb makes, when the user allows them)."""
        kind = manifest.get("kind")
        meta = manifest.get("metadata") or {}
        name, namespace = meta.get("name", ""), meta.get("namespace")
        validate_name(name, f"{kind} name", subdomain=True)
        call: Callable[..., object]
        args: tuple[Any, ...]
        if kind == "Namespace":
            call, args = self.core.create_namespace, (manifest,)
        elif kind in ("Service", "Pod"):
            validate_name(namespace, "namespace")
            creators: dict[str, Callable[..., object]] = {
                "Service": self.core.create_namespaced_service,
                "Pod": self.core.create_namespaced_pod,
            }
            call, args = creators[kind], (namespace, manifest)
        else:
            raise InvalidName(f"meshnb creates only Namespace, Service and Pod objects, not {kind!r}")
        log.info("%s: create %s %s/%s", self.name, kind, namespace or "-", name)
        self._get(f"{kind} {namespace + '/' if namespace else ''}{name}", call, *args)

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete a Namespace, Service or Pod."""
        validate_name(name, f"{kind} name", subdomain=True)
        kwargs: dict[str, Any] = {}
        call: Callable[..., object]
        args: tuple[Any, ...]
        if kind == "Namespace":
            call, args = self.core.delete_namespace, (name,)
        elif kind in ("Service", "Pod"):
            namespace = validate_name(namespace, "namespace")
            call = {"Service": self.core.delete_namespaced_service, "Pod": self.core.delete_namespaced_pod}[
                kind
            ]
            args = (name, namespace)
            if kind == "Pod":
                kwargs["grace_period_seconds"] = 0
        else:
            raise InvalidName(f"meshnb deletes only Namespace, Service and Pod objects, not {kind!r}")
        log.info("%s: delete %s %s/%s", self.name, kind, namespace or "-", name)
        self._get(f"{kind} {namespace + '/' if namespace else ''}{name}", call, *args, **kwargs)

    def version(self) -> str:
        """The API server's git version, e.g. ``'v1.30.2'``."""
        from kubernetes import client

        log.debug("%s: version", self.name)
        doc = self._json("version", None, client.VersionApi(self.api_client).get_code)
        version = doc.get("gitVersion")
        if not isinstance(version, str):
            raise ClusterError(self.name, "version: the API server's answer has no gitVersion")
        return version

    # -- exec -----------------------------------------------------------------------------------------
    def _default_container(self, namespace: str, pod: str) -> str | None:
        """Read the pod for the container kubectl would pick.

        The API server refuses an exec without one in a pod of several; callers that hold the Pod pass
        ``pod.default_container`` instead.
        """
        subject = f"pod {namespace}/{pod}"
        found = _Doc(
            self._json(subject, "Pod", self.core.read_namespaced_pod, pod, namespace), subject, self.name
        )
        return _pod(found).default_container

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: list[str],
        container: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ExecResult:
        """Run ``argv`` (a list, never a shell string) in a pod and wait for it at most ``timeout`` seconds.

        east.exec("sample", "curl-5f7", ["curl", "-s", "helloworld:5000/hello"]).stdout
        # -> 'Hello version: v2, instance: helloworld-v2-7f8c\\n'
        """
        validate_name(namespace, "namespace")
        validate_name(pod, "pod name", subdomain=True)
        if container is not None:
            validate_name(container, "container name")
        command = _check_argv(argv)
        if container is None:
            container = self._default_container(namespace, pod)
        subject = f"pod {namespace}/{pod} container {container}"
        log.debug("%s: exec in %s: %r (timeout %ss)", self.name, subject, command, timeout)
        deadline = time.monotonic() + timeout
        with self._errors(subject, timeout) as watch:
            channels, closed = self._run_exec(
                namespace=namespace,
                pod=pod,
                command=command,
                container=container,
                deadline=deadline,
                timeout=timeout,
                watch=watch,
            )
        stdout, stderr = (channels.get(c, b"").decode("utf-8", "replace") for c in (_STDOUT, _STDERR))
        returncode = self._returncode(channels.get(_ERROR, b""), closed, subject, command)
        return ExecResult(tuple(command), stdout, stderr, returncode, cluster=self.name, pod=pod)

    def _run_exec(
        self,
        *,
        namespace: str,
        pod: str,
        command: list[str],
        container: str | None,
        deadline: float,
        timeout: float,
        watch: bounded.Deadline,
    ) -> tuple[dict[int, bytearray], bool]:
        """Open the exec websocket and collect its channels until it closes; always close it."""
        from websocket import WebSocketConnectionClosedException

        ws = self._open_exec(
            namespace=namespace,
            pod=pod,
            command=command,
            container=container,
            deadline=deadline,
            timeout=timeout,
        )
        watch.watch(getattr(ws.sock, "sock", None))  # a trickle of frames is cut at the deadline too
        out: dict[int, bytearray] = {c: bytearray() for c in (_STDOUT, _STDERR, _ERROR)}
        try:
            while ws.is_open():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or watch.fired:
                    raise ClusterTimeout(
                        self.name, f"{command[0]!r} in {namespace}/{pod} did not finish within {timeout:g}s"
                    )
                ws.sock.settimeout(remaining)  # bounds a frame that arrives only in part
                try:
                    ws.update(timeout=remaining)
                except WebSocketConnectionClosedException:
                    if watch.fired:
                        raise
                    break  # dropped without a close frame: whatever arrived is judged below
                self._drain(ws, out, f"{command[0]!r} in {namespace}/{pod}")
            closed = not ws.is_open()
            self._drain(ws, out, f"{command[0]!r} in {namespace}/{pod}")
            return out, closed  # bytearrays, decoded once by the caller (no copy)
        finally:
            _close_websocket(ws)

    def _drain(self, ws: Any, out: dict[int, bytearray], what: str) -> None:
        """Move what arrived on each channel into ``out``; refuse output past ``max_answer_bytes``."""
        for channel in out:
            out[channel] += ws.read_channel(channel, timeout=0)
        size = sum(len(received) for received in out.values())
        if size > self.max_answer_bytes:
            raise ClusterError(
                self.name,
                f"{what}: printed over {self.max_answer_bytes:,} bytes; refused "
                "(connect(max_answer_bytes=...) allows more)",
            )

    def _open_exec(
        self,
        *,
        namespace: str,
        pod: str,
        command: list[str],
        container: str | None,
        deadline: float,
        timeout: float,
    ) -> Any:
        """Do the websocket handshake in a helper thread, so a server that never answers cannot hang us."""
        from kubernetes import client
        from kubernetes.stream import stream

        api = client.ApiClient(self.api_client.configuration)  # private: stream() patches call_api on it
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def handshake() -> None:
            try:
                ws = stream(
                    client.CoreV1Api(api).connect_get_namespaced_pod_exec,
                    pod,
                    namespace,
                    command=command,
                    container=container,
                    stdin=False,
                    stdout=True,
                    stderr=True,
                    tty=False,
                    binary=True,
                    _preload_content=False,
                )
                future.set_result(ws)
            except BaseException as exc:  # handed over to the waiting thread through the future
                future.set_exception(exc)
            finally:
                api.close()

        threading.Thread(target=handshake, name=f"meshnb-exec-{self.name}", daemon=True).start()
        try:
            return future.result(timeout=max(deadline - time.monotonic(), 0.0))
        except concurrent.futures.TimeoutError:
            future.add_done_callback(_close_late_websocket)
            raise ClusterTimeout(
                self.name, f"exec in pod {namespace}/{pod}: no answer to the handshake within {timeout:g}s"
            ) from None

    def _returncode(self, status: bytes | bytearray, closed: bool, subject: str, command: list[str]) -> int:
        """Read the exit code from the error channel's Status (``{"status": "Success"}`` means 0)."""
        if not status:
            why = "closed without" if closed else "lost before"
            raise ExecError(self.name, f"{command[0]!r} in {subject}: the connection {why} an exit status")
        try:
            doc = json.loads(status)
            if doc.get("status") == "Success":
                return 0
            if doc.get("reason") == "NonZeroExitCode":
                for cause in (doc.get("details") or {}).get("causes") or []:
                    if cause.get("reason") == "ExitCode":
                        return int(cause["message"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ExecError(self.name, f"{command[0]!r} in {subject}: unreadable exit status") from exc
        message = self._scrub(str(doc.get("message") or doc.get("reason") or "unknown failure"))
        raise ExecError(self.name, f"{command[0]!r} in {subject} could not be run: {message}")

    # -- errors ---------------------------------------------------------------------------------------
    @contextmanager
    def _errors(self, subject: str, seconds: float | None = None) -> Iterator[bounded.Deadline]:
        """Bound the calls in the block and turn client errors into meshnb errors.

        The calls in the block take ``seconds`` (the cluster's timeout) in all; kubernetes, urllib3 and
        websocket errors become meshnb errors naming ``subject``.
        """
        seconds = self.timeout if seconds is None else seconds
        with bounded.deadline(seconds) as watch:
            try:
                yield watch
            except MeshnbError:
                raise
            except bounded.AnswerTooLarge as exc:
                raise ClusterError(
                    self.name, f"{subject}: refused an {exc} (connect(max_answer_bytes=...) allows more)"
                ) from exc
            except Exception as exc:
                mapped = self._timeout(subject, seconds) if watch.fired else self._map_error(exc, subject)
                if mapped is None:
                    raise
                log.debug("%s", mapped)
                raise mapped from exc

    def _timeout(self, subject: str, seconds: float) -> ClusterTimeout:
        return ClusterTimeout(self.name, f"{subject}: no complete answer within {seconds:g}s")

    def _map_error(self, exc: BaseException, subject: str) -> ClusterError | None:
        import pydantic
        import urllib3
        from kubernetes.client.exceptions import ApiException
        from websocket import WebSocketBadStatusException, WebSocketException, WebSocketTimeoutException

        if isinstance(exc, ApiException) and not exc.status:
            # the client wraps transport errors (websocket handshake, TLS) in ApiException(status=0)
            inner = exc.__cause__ or exc.__context__
            if inner is not None and inner is not exc:
                return self._map_error(inner, subject)
            return self._unreachable(exc, subject)
        if isinstance(exc, ApiException):
            return self._for_status(exc.status, _status_message(exc.body) or str(exc.reason or ""), subject)
        if isinstance(exc, WebSocketBadStatusException):
            body = exc.resp_body.decode("utf-8", "replace") if exc.resp_body else ""
            message = _status_message(body) or exc.status_message or ""
            return self._for_status(exc.status_code, message, subject)
        if isinstance(exc, pydantic.ValidationError):  # never str(exc): it quotes the (secret?) input
            fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
            return ClusterError(
                self.name, f"{subject}: unexpected answer from the API server (fields {fields})"
            )
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            return self._map_error(exc.reason, subject)
        if isinstance(exc, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError subclass!
            return self._unreachable(exc, subject)
        if isinstance(exc, (urllib3.exceptions.TimeoutError, WebSocketTimeoutException, TimeoutError)):
            return ClusterTimeout(self.name, f"{subject}: no answer within {self.timeout:g}s")
        if isinstance(exc, (urllib3.exceptions.HTTPError, WebSocketException, OSError)):
            return self._unreachable(exc, subject)
        return None

    def _unreachable(self, exc: BaseException, subject: str) -> Unreachable:
        host = self.api_client.configuration.host
        return Unreachable(self.name, self._scrub(f"{subject}: cannot reach {host}: {_why_unreachable(exc)}"))

    def _for_status(self, status: int, message: str, subject: str) -> ClusterError:
        message = self._scrub(message)
        if status == 401:
            return Unauthorized(self.name, f"{subject}: {message or 'credentials were rejected'}", status=401)
        if status == 403:
            return Forbidden(self.name, message or f"access to {subject} denied", status=403)
        if status == 404:
            return NotFound(self.name, f"{subject}: {message or 'not found'}", status=404)
        if status in (408, 504):
            return ClusterTimeout(self.name, f"{subject}: HTTP {status} {message}".rstrip(), status=status)
        return ClusterError(self.name, f"{subject}: HTTP {status} {message}".rstrip(), status=status)

    def _scrub(self, text: str) -> str:
        """Cut ``text`` short and blank out anything that looks like this cluster's credentials."""
        configuration = self.api_client.configuration
        for value in (configuration.api_key or {}).values():
            for secret in {str(value), str(value).removeprefix("Bearer ")}:
                if len(secret) >= 8:
                    text = text.replace(secret, "<redacted>")
        text = re.sub(r"(?i)(bearer\s+)[^\s'\",}]+", r"\1<redacted>", text)
        return text[:_MAX_DETAIL]

    def _decode(self, data: Mapping[str, str] | None, subject: str) -> SecretData:
        try:
            return SecretData({k: base64.b64decode(v or "", validate=True) for k, v in (data or {}).items()})
        except (binascii.Error, ValueError) as exc:
            raise ClusterError(self.name, f"{subject}: data is not valid base64") from exc


# ----------------------------------------------------------------------------------------------- helpers
def _check_argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, (str, bytes)):
        raise InvalidName(f"argv must be a list of strings, not a shell string: {argv!r}")
    command = list(argv) if isinstance(argv, (list, tuple)) else None
    if not command or not all(isinstance(a, str) and "\x00" not in a for a in command):
        raise InvalidName(f"argv must be a non-empty list of strings without NUL bytes, got {argv!r}")
    return command


def _close_late_websocket(future: concurrent.futures.Future[Any]) -> None:
    """Close a websocket whose handshake finished after its caller gave up waiting."""
    if not future.cancelled() and future.exception() is None:
        _close_websocket(future.result())


def _close_websocket(ws: Any) -> None:
    """Close an exec websocket now.

    websocket-client's ``close()`` would wait 3 s for the peer's close frame, and after the peer's
    close frame it returns without closing the socket at all.
    """
    ws.close(timeout=0)
    ws.sock.shutdown()


def _why_unreachable(exc: BaseException) -> str:
    """What the operating system or TLS said, from the innermost error that says it; else the error.

    >>> import ssl, urllib3
    >>> refused = ConnectionRefusedError(111, "Connection refused")
    >>> try:
    ...     raise urllib3.exceptions.NewConnectionError(None, "Failed to establish a connection") from refused
    ... except Exception as exc:
    ...     _why_unreachable(exc)
    'connection refused'
    >>> bad = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    >>> bad.verify_message = "self-signed certificate in certificate chain"
    >>> _why_unreachable(bad)
    'TLS: certificate verify failed: self-signed certificate in certificate chain'
    """
    import ssl

    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"TLS: certificate verify failed: {error.verify_message}"
        if isinstance(error, ssl.SSLError):
            return f"TLS: {error.reason or error.strerror or error}"
        if isinstance(error, OSError) and error.strerror:
            return error.strerror[:1].lower() + error.strerror[1:]
        reason = getattr(error, "reason", None)  # urllib3's MaxRetryError and the like name their cause
        error = reason if isinstance(reason, BaseException) else error.__cause__ or error.__context__
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}: {reason if reason and not isinstance(exc, OSError) else exc}"


def _status_message(body: str | bytes | None) -> str:
    """The ``message`` of a Kubernetes Status JSON body, or '' if the body is not one."""
    if not body:
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    return str(doc.get("message") or "") if isinstance(doc, dict) else ""


def _looks_like(body: bytes | bytearray) -> str:
    """What a body that is not JSON seems to be, without quoting it."""
    head = body[:512].lstrip().lower()
    if not body:
        return "an empty answer"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return f"an HTML page of {len(body):,} bytes: a proxy or load balancer in front of it?"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return f"{len(body):,} bytes that are not UTF-8 text"
    return f"{len(body):,} bytes of text"


class _Doc:
    """A JSON object from the API with typed reads.

    A field of the wrong type is a ClusterError that names the field (an API server, or what answers
    in its place, may send anything).
    """

    __slots__ = ("cluster", "subject", "value", "where")

    def __init__(self, value: Any, subject: str, cluster: str, where: str = ""):
        self.value, self.subject, self.cluster, self.where = value, subject, cluster, where

    def _wrong(self, key: str, expected: str) -> ClusterError:
        field = f"{self.where}.{key}".lstrip(".")
        return ClusterError(
            self.cluster, f"{self.subject}: unexpected answer from the API server ({field} is not {expected})"
        )

    def _field(self, key: str, kind: type | tuple[type, ...], expected: str) -> Any:
        value = self.value.get(key)
        if value is not None and not isinstance(value, kind):
            raise self._wrong(key, expected)
        return value

    def obj(self, key: str) -> _Doc:
        value = self._field(key, dict, "an object") or {}
        return _Doc(value, self.subject, self.cluster, f"{self.where}.{key}")

    def objs(self, key: str) -> list[_Doc]:
        items = self._field(key, list, "a list") or []
        if not all(isinstance(item, dict) for item in items):
            raise self._wrong(key, "a list of objects")
        return [_Doc(item, self.subject, self.cluster, f"{self.where}.{key}[]") for item in items]

    def text(self, key: str, default: str | None = None) -> Any:
        return self._field(key, str, "a string") or default

    def strings(self, key: str) -> dict[str, str]:
        value = self._field(key, dict, "an object") or {}
        if not all(isinstance(v, str) for v in value.values()):
            raise self._wrong(key, "an object of strings")
        return dict(value)


def _service(item: _Doc) -> Service:
    meta, spec = item.obj("metadata"), item.obj("spec")
    ingress = item.obj("status").obj("loadBalancer").objs("ingress")
    return Service(
        name=meta.text("name"),
        namespace=meta.text("namespace"),
        labels=meta.strings("labels"),
        type=spec.text("type", "ClusterIP"),
        cluster_ip=spec.text("clusterIP"),
        # as istiod reads a gateway's addresses (pilot/pkg/serviceregistry/kube/conversion.go): the load
        # balancer's, then spec.externalIPs
        external_addresses=tuple(
            [a for i in ingress for a in (i.text("ip"), i.text("hostname")) if a]
            + [a for a in spec.value.get("externalIPs") or [] if isinstance(a, str)]
        ),
        ports=tuple(p.value["port"] for p in spec.objs("ports") if isinstance(p.value.get("port"), int)),
        port_specs=tuple(_port_spec(p) for p in spec.objs("ports") if isinstance(p.value.get("port"), int)),
        selector=spec.strings("selector") if spec.value.get("selector") is not None else None,
    )


def _port_spec(port: _Doc) -> PortSpec:
    target = port.value.get("targetPort")
    return PortSpec(
        port=port.value["port"],
        name=port.text("name", ""),
        protocol=port.text("protocol", "TCP"),
        app_protocol=port.text("appProtocol"),
        target_port=str(target) if isinstance(target, int | str) and not isinstance(target, bool) else None,
    )


def _pod(item: _Doc) -> Pod:
    meta, spec, status = item.obj("metadata"), item.obj("spec"), item.obj("status")
    conditions = status.objs("conditions")
    return Pod(
        name=meta.text("name"),
        namespace=meta.text("namespace"),
        labels=meta.strings("labels"),
        annotations=meta.strings("annotations"),
        node=spec.text("nodeName"),
        ip=status.text("podIP"),
        phase=status.text("phase", "Unknown"),
        ready=any(c.text("type") == "Ready" and c.text("status") == "True" for c in conditions),
        containers=tuple(c.text("name") for c in spec.objs("containers")),
    )
