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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from meshnb.backends.base import DEFAULT_TIMEOUT, ExecResult, Node, Pod, Secret, SecretData, Service
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
) -> KubeMesh:
    """Open one independent API client per kubeconfig context.

    ``contexts`` is a list of context names (each cluster is named after its context) or a mapping
    ``{cluster_name: context_name}``. ``kubeconfig`` defaults to ``$KUBECONFIG`` or ``~/.kube/config``.
    ``timeout`` bounds every API call (exec has its own timeout argument).

    mesh = connect({"cluster1": "kind-east", "cluster2": "kind-west"})
    sorted(mesh.clusters)
    # -> ['cluster1', 'cluster2']
    """
    from kubernetes import client, config

    pairs = _context_pairs(contexts)
    path = _kubeconfig_path(kubeconfig)
    available = _available_contexts(path)
    for cluster, ctx in pairs.items():
        if ctx not in available:
            raise ConfigError(
                f"context {ctx!r} (for cluster {cluster!r}) is not in kubeconfig {path}; "
                f"available contexts: {', '.join(available) or '(none)'}"
            )
    clusters: dict[str, KubeCluster] = {}
    try:
        for cluster, ctx in pairs.items():
            configuration = client.Configuration()
            configuration.retries = False  # fail fast: no urllib3 retries against a dead API server
            try:
                api = config.new_client_from_config(
                    config_file=path, context=ctx, persist_config=False, client_configuration=configuration
                )
            except (config.ConfigException, OSError, ValueError) as exc:
                raise ConfigError(f"context {ctx!r} in kubeconfig {path}: {_config_problem(exc)}") from exc
            log.debug("connected cluster %s to context %s at %s", cluster, ctx, configuration.host)
            clusters[cluster] = KubeCluster(cluster, api, timeout)
    except BaseException:
        for built in clusters.values():
            built.close()
        raise
    return KubeMesh(clusters)


def _context_pairs(contexts: str | Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    if isinstance(contexts, str):
        contexts = [contexts]
    pairs = dict(contexts) if isinstance(contexts, Mapping) else {ctx: ctx for ctx in contexts}
    if not pairs:
        raise ConfigError("connect() needs at least one kubeconfig context")
    for cluster, ctx in pairs.items():
        if not (isinstance(cluster, str) and cluster and isinstance(ctx, str) and ctx):
            raise ConfigError(f"cluster and context names must be non-empty strings: {cluster!r}: {ctx!r}")
    return pairs


def _kubeconfig_path(kubeconfig: str | os.PathLike[str] | None) -> str:
    path = os.fspath(kubeconfig) if kubeconfig is not None else os.environ.get("KUBECONFIG", "~/.kube/config")
    files = [os.path.expanduser(p) for p in path.split(os.pathsep) if p]
    if not any(os.path.isfile(f) for f in files):
        raise ConfigError(f"kubeconfig {path or '(empty)'} does not exist or is not a file")
    return os.pathsep.join(files)


def _available_contexts(path: str) -> list[str]:
    import yaml
    from kubernetes import config

    try:
        contexts, _current = config.list_kube_config_contexts(config_file=path)
    except (config.ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {_config_problem(exc)}") from exc
    return [c["name"] for c in contexts or [] if isinstance(c, Mapping) and "name" in c]


def _config_problem(exc: BaseException) -> str:
    """Describe a kubeconfig problem without quoting file content (a YAML error quotes the bad line)."""
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"not valid YAML ({exc.problem}{where})"
    if isinstance(exc, yaml.YAMLError):
        return "not valid YAML"
    return f"{type(exc).__name__}: {exc}"[:_MAX_DETAIL]


# ----------------------------------------------------------------------------------------------- mesh
class KubeMesh:
    """Clusters reached through kubeconfig contexts; close it (or use ``with``) to free connections.

    with connect(["kind-east"]) as mesh:
        mesh.clusters["kind-east"].version()
    # -> 'v1.30.0'
    """

    def __init__(self, clusters: Mapping[str, KubeCluster]):
        self.clusters: dict[str, KubeCluster] = dict(clusters)

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

    def __init__(self, name: str, api_client: ApiClient, timeout: float = 10.0):
        self.name = name
        self.api_client = api_client
        self.timeout = float(timeout)
        self._core: CoreV1Api | None = None

    def __repr__(self) -> str:
        return f"KubeCluster({self.name!r}, host={self.api_client.configuration.host!r})"

    def close(self) -> None:
        """Close the API client's connection pool."""
        self.api_client.close()

    @property
    def core(self) -> CoreV1Api:
        if self._core is None:
            from kubernetes import client

            self._core = client.CoreV1Api(self.api_client)
        return self._core

    # -- reads ----------------------------------------------------------------------------------------
    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[Pod]:
        """Pods in ``namespace`` matching ``label_selector``, e.g. ``list_pods("sample", "app=curl")``."""
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        log.debug("%s: list pods in %s (selector %r)", self.name, namespace, label_selector)
        with self._errors(f"pods in namespace {namespace}"):
            items = self.core.list_namespaced_pod(
                namespace, label_selector=label_selector or None, _request_timeout=self.timeout
            ).items
        return [_pod(p) for p in items or []]

    def read_secret(self, namespace: str, name: str) -> SecretData:
        """A secret's decoded data, e.g. ``read_secret("istio-system", "cacerts")["root-cert.pem"]``."""
        validate_name(namespace, "namespace")
        validate_name(name, "secret name", subdomain=True)
        log.debug("%s: read secret %s/%s", self.name, namespace, name)
        with self._errors(f"secret {namespace}/{name}"):
            secret = self.core.read_namespaced_secret(name, namespace, _request_timeout=self.timeout)
        return self._decode(secret.data, f"secret {namespace}/{name}")

    def list_secrets(self, namespace: str, label_selector: str | None = None) -> list[Secret]:
        """Secrets in ``namespace``, e.g. ``list_secrets("istio-system", "istio/multiCluster=true")``."""
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        log.debug("%s: list secrets in %s (selector %r)", self.name, namespace, label_selector)
        with self._errors(f"secrets in namespace {namespace}"):
            items = self.core.list_namespaced_secret(
                namespace, label_selector=label_selector or None, _request_timeout=self.timeout
            ).items
        return [
            Secret(
                name=s.metadata.name,
                namespace=s.metadata.namespace or namespace,
                type=s.type or "Opaque",
                labels=dict(s.metadata.labels or {}),
                annotations=dict(s.metadata.annotations or {}),
                data=self._decode(s.data, f"secret {namespace}/{s.metadata.name}"),
            )
            for s in items or []
        ]

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
        with self._errors(f"pod {namespace}/{pod}" + (f" container {container}" if container else "")):
            resp = self.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=tail_lines,
                _preload_content=False,  # raw text: preloading may reparse log lines that look like JSON
                _request_timeout=self.timeout,
            )
            try:
                data = resp.data
            finally:
                resp.release_conn()
        return data.decode("utf-8", "replace")

    def list_nodes(self) -> list[Node]:
        """Every node with its labels (``region``/``zone`` come from the topology labels)."""
        log.debug("%s: list nodes", self.name)
        with self._errors("nodes"):
            items = self.core.list_node(_request_timeout=self.timeout).items
        return [Node(name=n.metadata.name, labels=dict(n.metadata.labels or {})) for n in items or []]

    def list_services(self, namespace: str, label_selector: str | None = None) -> list[Service]:
        """Services in ``namespace``, e.g. ``list_services("istio-system", "istio=eastwestgateway")``."""
        validate_name(namespace, "namespace")
        validate_selector(label_selector)
        log.debug("%s: list services in %s (selector %r)", self.name, namespace, label_selector)
        with self._errors(f"services in namespace {namespace}"):
            items = self.core.list_namespaced_service(
                namespace, label_selector=label_selector or None, _request_timeout=self.timeout
            ).items
        return [_service(item) for item in items or []]

    def read_config_map(self, namespace: str, name: str) -> dict[str, str]:
        """A ConfigMap's data, e.g. ``read_config_map("istio-system", "istio")["mesh"]``."""
        validate_name(namespace, "namespace")
        validate_name(name, "config map name", subdomain=True)
        log.debug("%s: read config map %s/%s", self.name, namespace, name)
        with self._errors(f"configmap {namespace}/{name}"):
            item = self.core.read_namespaced_config_map(name, namespace, _request_timeout=self.timeout)
        return dict(item.data or {})

    def list_custom_objects(self, group: str, version: str, namespace: str, plural: str) -> list[dict]:
        """Custom resources as plain dicts, e.g. DestinationRules (networking.istio.io, v1)."""
        from kubernetes import client

        validate_name(namespace, "namespace")
        validate_name(group, "API group", subdomain=True)
        validate_name(version, "API version")
        validate_name(plural, "resource")
        log.debug("%s: list %s.%s/%s in %s", self.name, plural, group, version, namespace)
        with self._errors(f"{plural}.{group} in namespace {namespace}"):
            listing = client.CustomObjectsApi(self.api_client).list_namespaced_custom_object(
                group, version, namespace, plural, _request_timeout=self.timeout
            )
        return list(listing.get("items") or [])

    def create(self, manifest: dict) -> None:
        """Create a Namespace, Service or Pod (the only writes meshnb makes, when the user allows them)."""
        kind = manifest.get("kind")
        meta = manifest.get("metadata") or {}
        name, namespace = meta.get("name", ""), meta.get("namespace")
        validate_name(name, f"{kind} name", subdomain=True)
        log.info("%s: create %s %s/%s", self.name, kind, namespace or "-", name)
        with self._errors(f"{kind} {namespace + '/' if namespace else ''}{name}"):
            if kind == "Namespace":
                self.core.create_namespace(manifest, _request_timeout=self.timeout)
            elif kind in ("Service", "Pod"):
                validate_name(namespace, "namespace")
                create = (
                    self.core.create_namespaced_service
                    if kind == "Service"
                    else self.core.create_namespaced_pod
                )
                create(namespace, manifest, _request_timeout=self.timeout)
            else:
                raise InvalidName(f"meshnb creates only Namespace, Service and Pod objects, not {kind!r}")

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete a Namespace, Service or Pod."""
        validate_name(name, f"{kind} name", subdomain=True)
        log.info("%s: delete %s %s/%s", self.name, kind, namespace or "-", name)
        with self._errors(f"{kind} {namespace + '/' if namespace else ''}{name}"):
            if kind == "Namespace":
                self.core.delete_namespace(name, _request_timeout=self.timeout)
            elif kind == "Service":
                self.core.delete_namespaced_service(
                    name, validate_name(namespace, "namespace"), _request_timeout=self.timeout
                )
            elif kind == "Pod":
                self.core.delete_namespaced_pod(
                    name,
                    validate_name(namespace, "namespace"),
                    grace_period_seconds=0,
                    _request_timeout=self.timeout,
                )
            else:
                raise InvalidName(f"meshnb deletes only Namespace, Service and Pod objects, not {kind!r}")

    def version(self) -> str:
        """The API server's git version, e.g. ``'v1.30.2'``."""
        from kubernetes import client

        log.debug("%s: version", self.name)
        with self._errors("version"):
            resp = client.VersionApi(self.api_client).get_code(
                _preload_content=False, _request_timeout=self.timeout
            )
            try:
                data = resp.data
            finally:
                resp.release_conn()
        try:
            return str(json.loads(data)["gitVersion"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ClusterError(self.name, "version: the API server's answer has no gitVersion") from exc

    # -- exec -----------------------------------------------------------------------------------------
    def _default_container(self, namespace: str, pod: str) -> str | None:
        """Read the pod for the container kubectl would pick (the API server refuses an exec without
        one in a pod of several); callers that hold the Pod pass ``pod.default_container`` instead."""
        with self._errors(f"pod {namespace}/{pod}"):
            found = self.core.read_namespaced_pod(pod, namespace, _request_timeout=self.timeout)
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
        with self._errors(subject):
            channels, closed = self._run_exec(
                namespace=namespace,
                pod=pod,
                command=command,
                container=container,
                deadline=deadline,
                timeout=timeout,
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
    ) -> tuple[dict[int, bytes], bool]:
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
        closed = False
        try:
            while ws.is_open():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClusterTimeout(
                        self.name, f"{command[0]!r} in {namespace}/{pod} did not finish within {timeout:g}s"
                    )
                ws.sock.settimeout(remaining)  # bounds a frame that arrives only in part
                try:
                    ws.update(timeout=remaining)
                except WebSocketConnectionClosedException:
                    break  # dropped without a close frame: whatever arrived is judged below
            closed = not ws.is_open()
            return {c: ws.read_channel(c, timeout=0) for c in (_STDOUT, _STDERR, _ERROR)}, closed
        finally:
            _close_websocket(ws)

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

    def _returncode(self, status: bytes, closed: bool, subject: str, command: list[str]) -> int:
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
    def _errors(self, subject: str) -> Iterator[None]:
        """Turn kubernetes/urllib3/websocket errors into meshnb errors naming ``subject``."""
        try:
            yield
        except MeshnbError:
            raise
        except Exception as exc:
            mapped = self._map_error(exc, subject)
            if mapped is None:
                raise
            log.debug("%s", mapped)
            raise mapped from exc

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
        detail = exc.reason if getattr(exc, "reason", None) and not isinstance(exc, OSError) else exc
        return Unreachable(
            self.name, self._scrub(f"{subject}: cannot reach {host} ({type(exc).__name__}: {detail})")
        )

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
    """Close an exec websocket now: websocket-client's ``close()`` would wait 3 s for the peer's close
    frame, and after the peer's close frame it returns without closing the socket at all."""
    ws.close(timeout=0)
    ws.sock.shutdown()


def _status_message(body: str | bytes | None) -> str:
    """The ``message`` of a Kubernetes Status JSON body, or '' if the body is not one."""
    if not body:
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    return str(doc.get("message") or "") if isinstance(doc, dict) else ""


def _service(item: Any) -> Service:
    spec, status = item.spec, item.status
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    return Service(
        name=item.metadata.name,
        namespace=item.metadata.namespace,
        labels=dict(item.metadata.labels or {}),
        type=(spec.type if spec else None) or "ClusterIP",
        cluster_ip=spec.cluster_ip if spec else None,
        external_addresses=tuple(a for i in ingress for a in (i.ip, i.hostname) if a),
        ports=tuple(p.port for p in (spec.ports if spec else None) or []),
    )


def _pod(p: Any) -> Pod:
    meta, spec, status = p.metadata, p.spec, p.status
    conditions = (status.conditions if status else None) or []
    return Pod(
        name=meta.name,
        namespace=meta.namespace,
        labels=dict(meta.labels or {}),
        annotations=dict(meta.annotations or {}),
        node=spec.node_name if spec else None,
        ip=status.pod_ip if status else None,
        phase=(status.phase if status else None) or "Unknown",
        ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
        containers=tuple(c.name for c in (spec.containers if spec else None) or []),
    )
