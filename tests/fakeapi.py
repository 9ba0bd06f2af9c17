"""A fake Kubernetes API server that serves any :class:`meshnb.backends.base.Cluster` over real HTTP.

It listens on 127.0.0.1 (a free port), answers the few core/v1 endpoints meshnb uses with JSON built
from the wrapped cluster's records, and speaks the exec websocket (``v4.channel.k8s.io``) with a
hand-written RFC 6455 server side. meshnb errors raised by the wrapped cluster become Kubernetes
``Status`` responses (NotFound 404, Forbidden 403, Unauthorized 401). Switches: ``token`` (401 without
``Authorization: Bearer <token>``), ``deny("secrets")`` (403 with an RBAC message), ``hang``
(``"request"``: never answer; ``"exec"``: answer the exec handshake, then send nothing). It answers
SelfSubjectReviews (as ``user``) and SelfSubjectAccessReviews (denied for the resources ``deny`` names),
and serves https with ``tls=(cert_file, key_file)``.

Example:
    with FakeApiServer(StubCluster("cluster1"), token="t0ken") as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"cluster1": server})
        mesh = meshnb.connect(["cluster1"], path)
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import socket
import struct
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from meshnb.backends.base import Cluster, Pod, PortSpec, Secret
from meshnb.errors import ClusterError, ExecError, Forbidden, NotFound, Unauthorized

__all__ = ["RBAC_USER", "FakeApiServer", "closed_port", "write_kubeconfig"]

log = logging.getLogger("meshnb.fakeapi")

RBAC_USER = "system:serviceaccount:meshnb:reader"
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_NS = r"/api/v1/namespaces/(?P<ns>[^/]+)"
_ROUTES = [  # (pattern, resource for RBAC, verb, handler method name)
    (re.compile(r"^/version/?$"), None, "get", "_version"),
    (re.compile(r"^/api/v1/nodes$"), "nodes", "list", "_nodes"),
    (re.compile(_NS + r"/pods$"), "pods", "list", "_pods"),
    (re.compile(_NS + r"/pods/(?P<name>[^/]+)$"), "pods", "get", "_pod"),
    (re.compile(_NS + r"/pods/(?P<name>[^/]+)/log$"), "pods/log", "get", "_log"),
    (re.compile(_NS + r"/pods/(?P<name>[^/]+)/exec$"), "pods/exec", "create", "_exec"),
    (re.compile(_NS + r"/secrets$"), "secrets", "list", "_secrets"),
    (re.compile(_NS + r"/services$"), "services", "list", "_services"),
    (re.compile(_NS + r"/configmaps/(?P<name>[^/]+)$"), "configmaps", "get", "_config_map"),
    (re.compile(r"^/api/v1/namespaces/(?P<name>[^/]+)$"), "namespaces", "get", "_namespace"),
    (
        re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)$"),
        "customresources",
        "list",
        "_custom_objects",
    ),
    (re.compile(_NS + r"/secrets/(?P<name>[^/]+)$"), "secrets", "get", "_secret"),
]
_WRITE_ROUTES = {
    "POST": [  # the reviews first: they are answered to any authenticated user, and create nothing
        (re.compile(r"^/apis/authentication\.k8s\.io/v1/selfsubjectreviews$"), None, "create", "_whoami"),
        (
            re.compile(r"^/apis/authorization\.k8s\.io/v1/selfsubjectaccessreviews$"),
            None,
            "create",
            "_access_review",
        ),
        (re.compile(r"^/api/v1/namespaces$"), "namespaces", "create", "_create"),
        (re.compile(_NS + r"/(?:pods|services)$"), "pods", "create", "_create"),
    ],
    "DELETE": [
        (re.compile(r"^/api/v1/namespaces/(?P<name>[^/]+)$"), "namespaces", "delete", "_delete_namespace"),
        (re.compile(_NS + r"/(?P<plural>pods|services)/(?P<name>[^/]+)$"), "pods", "delete", "_delete"),
    ],
}
_KINDS = {"pods": "Pod", "services": "Service"}
_STATUS_REASON = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "AlreadyExists",
    500: "InternalError",
}


def _status(code: int, message: str, **extra: Any) -> dict[str, Any]:
    reason = _STATUS_REASON.get(code, "InternalError")
    doc = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    return doc | {"reason": reason, "code": code} | extra


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _port_json(spec: PortSpec) -> dict[str, Any]:
    port: dict[str, Any] = {"port": spec.port, "protocol": spec.protocol}
    if spec.name:
        port["name"] = spec.name
    if spec.app_protocol:
        port["appProtocol"] = spec.app_protocol
    if spec.target_port is not None:
        port["targetPort"] = int(spec.target_port) if spec.target_port.isdigit() else spec.target_port
    return port


def _pod_json(pod: Pod) -> dict[str, Any]:
    return {
        "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": dict(pod.labels),
                     "annotations": dict(pod.annotations)},
        "spec": {"nodeName": pod.node, "containers": [{"name": c} for c in pod.containers]},
        "status": {"phase": pod.phase, "podIP": pod.ip,
                   "conditions": [{"type": "Ready", "status": "True" if pod.ready else "False"}]},
    }  # fmt: skip


def _secret_json(secret: Secret) -> dict[str, Any]:
    return {
        "metadata": {"name": secret.name, "namespace": secret.namespace, "labels": dict(secret.labels),
                     "annotations": dict(secret.annotations)},
        "type": secret.type,
        "data": {key: _b64(value) for key, value in secret.data.items()},
    }  # fmt: skip


def ws_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One unmasked server-to-client RFC 6455 frame with FIN set."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # the request line only, never headers
        log.debug("fakeapi %s: " + format, self.server.fake.name, *args)

    def do_GET(self) -> None:
        self._dispatch(_ROUTES)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = json.loads(self.rfile.read(length) or b"{}")
        self._dispatch(_WRITE_ROUTES["POST"])

    def do_DELETE(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._dispatch(_WRITE_ROUTES["DELETE"])

    def _dispatch(self, routes: list) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        self.query = {k: v for k, v in parse_qs(url.query).items()}
        if fake.hang == "request":
            self.close_connection = True
            fake.released.wait()
            return
        if fake.token is not None and self.headers.get("Authorization") != f"Bearer {fake.token}":
            return self._send_json(401, _status(401, "Unauthorized"))
        for pattern, resource, verb, method in routes:
            match = pattern.match(url.path)
            if not match:
                continue
            args = match.groupdict()
            if resource in fake.denied:
                return self._send_json(403, self._rbac_status(resource, verb, args))
            try:
                return getattr(self, method)(fake.cluster, **args)
            except (NotFound, Forbidden, Unauthorized) as err:
                code = {NotFound: 404, Forbidden: 403, Unauthorized: 401}[type(err)]
                return self._send_json(code, _status(code, err.detail))
            except ClusterError as err:
                code = err.status if err.status in _STATUS_REASON else 500
                return self._send_json(code, _status(code, err.detail))
        self._send_json(404, _status(404, f"the server could not find the requested resource ({url.path})"))

    # -- responses ------------------------------------------------------------------------------------
    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, code: int, doc: Any) -> None:
        self._send(code, json.dumps(doc).encode(), "application/json")

    def _rbac_status(self, resource: str, verb: str, args: Mapping[str, str]) -> dict[str, Any]:
        plural, _, sub = resource.partition("/")
        what = f'{plural} "{args["name"]}"' if "name" in args else plural
        scope = f' in the namespace "{args["ns"]}"' if "ns" in args else " at the cluster scope"
        message = (
            f'{what} is forbidden: User "{RBAC_USER}" cannot {verb} resource "{resource}" '
            f'in API group ""{scope}'
        )
        details = {"name": args.get("name", ""), "kind": plural} | ({"group": ""} if not sub else {})
        return _status(403, message, details=details)

    def _one(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[-1] if values else None

    # -- endpoints ------------------------------------------------------------------------------------
    def _version(self, cluster: Cluster) -> None:
        version = self.server.fake.git_version
        doc = {"major": "1", "minor": "30", "gitVersion": version, "gitCommit": "0" * 40, "compiler": "gc",
               "gitTreeState": "clean", "buildDate": "2024-06-11T00:00:00Z", "goVersion": "go1.22.4",
               "platform": "linux/amd64"}  # fmt: skip
        self._send_json(200, doc)

    def _nodes(self, cluster: Cluster) -> None:
        items = [{"metadata": {"name": n.name, "labels": dict(n.labels)}} for n in cluster.list_nodes()]
        self._send_json(200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": items})

    def _pods(self, cluster: Cluster, ns: str) -> None:
        items = [_pod_json(p) for p in cluster.list_pods(ns, self._one("labelSelector"))]
        self._send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})

    def _pod(self, cluster: Cluster, ns: str, name: str) -> None:
        found = next((p for p in cluster.list_pods(ns) if p.name == name), None)
        if found is None:
            return self._send_json(404, _status(404, f'pods "{name}" not found'))
        self._send_json(200, {"kind": "Pod", "apiVersion": "v1", **_pod_json(found)})

    def _services(self, cluster: Cluster, ns: str) -> None:
        items = [
            {
                "metadata": {"name": svc.name, "namespace": svc.namespace, "labels": dict(svc.labels)},
                "spec": {
                    "type": svc.type,
                    "clusterIP": svc.cluster_ip,
                    "ports": [_port_json(p) for p in svc.specs],
                    **({"selector": dict(svc.selector)} if svc.selector is not None else {}),
                },
                "status": {"loadBalancer": {"ingress": [{"ip": a} for a in svc.external_addresses]}},
            }
            for svc in cluster.list_services(ns, self._one("labelSelector"))
        ]
        self._send_json(200, {"kind": "ServiceList", "apiVersion": "v1", "metadata": {}, "items": items})

    def _secrets(self, cluster: Cluster, ns: str) -> None:
        items = [_secret_json(s) for s in cluster.list_secrets(ns, self._one("labelSelector"))]
        self._send_json(200, {"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": items})

    def _whoami(self, cluster: Cluster) -> None:
        user = {"username": self.server.fake.user, "groups": ["system:authenticated"]}
        self._send_json(201, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                              "metadata": {}, "status": {"userInfo": user}})  # fmt: skip

    def _access_review(self, cluster: Cluster) -> None:
        attributes = (self.body.get("spec") or {}).get("resourceAttributes") or {}
        self.server.fake.reviews.append(dict(attributes))
        allowed = attributes.get("resource") not in self.server.fake.denied
        status = {"allowed": allowed} | ({"reason": "RBAC: allowed by the fake"} if allowed else {})
        self._send_json(201, {**self.body, "status": status})

    def _create(self, cluster: Cluster, ns: str | None = None) -> None:
        cluster.create(self.body)
        self._send_json(201, self.body)

    def _delete_namespace(self, cluster: Cluster, name: str) -> None:
        cluster.delete("Namespace", None, name)
        self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})

    def _delete(self, cluster: Cluster, ns: str, plural: str, name: str) -> None:
        cluster.delete(_KINDS[plural], ns, name)
        self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})

    def _config_map(self, cluster: Cluster, ns: str, name: str) -> None:
        data = cluster.read_config_map(ns, name)
        self._send_json(
            200,
            {
                "kind": "ConfigMap",
                "apiVersion": "v1",
                "metadata": {"name": name, "namespace": ns},
                "data": data,
            },
        )

    def _namespace(self, cluster: Cluster, name: str) -> None:
        labels = cluster.namespace_labels(name)
        self._send_json(
            200, {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name, "labels": labels}}
        )

    def _custom_objects(self, cluster: Cluster, group: str, version: str, ns: str, plural: str) -> None:
        items = cluster.list_custom_objects(group, version, ns, plural)
        self._send_json(
            200, {"apiVersion": f"{group}/{version}", "kind": "List", "metadata": {}, "items": items}
        )

    def _secret(self, cluster: Cluster, ns: str, name: str) -> None:
        data = cluster.read_secret(ns, name)
        secret = _secret_json(Secret(name=name, namespace=ns, data=data))
        self._send_json(200, {"kind": "Secret", "apiVersion": "v1", **secret})

    def _log(self, cluster: Cluster, ns: str, name: str) -> None:
        tail = self._one("tailLines")
        text = cluster.logs(ns, name, self._one("container"), int(tail) if tail is not None else None)
        self._send(200, text.encode(), "text/plain")

    def _exec(self, cluster: Cluster, ns: str, name: str) -> None:
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        key = self.headers.get("Sec-WebSocket-Key")
        if (
            self.headers.get("Upgrade", "").lower() != "websocket"
            or not key
            or "v4.channel.k8s.io" not in offered
        ):
            return self._send_json(400, _status(400, "exec needs a websocket upgrade with v4.channel.k8s.io"))
        pod = next((p for p in cluster.list_pods(ns) if p.name == name), None)
        if pod and len(pod.containers) > 1 and not self._one("container"):  # as the API server answers
            message = (
                f"a container name must be specified for pod {name}, choose one of: {list(pod.containers)}"
            )
            return self._send_json(400, _status(400, message))
        frames: list[bytes] = []
        if self.server.fake.hang != "exec":
            argv = self.query.get("command", [])
            try:
                result = cluster.exec(ns, name, argv, self._one("container"))
            except ExecError as err:  # started but could not run: a Failure status on the error channel
                status = {
                    "metadata": {},
                    "status": "Failure",
                    "message": err.detail,
                    "reason": "InternalError",
                }
            else:
                frames += [b"\x01" + result.stdout.encode()] if result.stdout else []
                frames += [b"\x02" + result.stderr.encode()] if result.stderr else []
                status = {"metadata": {}, "status": "Success"}
                if result.returncode:
                    cause = {"reason": "ExitCode", "message": str(result.returncode)}
                    status = {"metadata": {}, "status": "Failure", "message": f"command terminated with "
                              f"non-zero exit code: {result.returncode}", "reason": "NonZeroExitCode",
                              "details": {"causes": [cause]}}  # fmt: skip
            frames.append(b"\x03" + json.dumps(status).encode())
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()
        self.close_connection = True
        if self.server.fake.hang == "exec":
            self.wfile.flush()
            self.server.fake.released.wait()
            return
        chunk = 32 * 1024  # big output goes out in several frames, as from a real API server
        for frame in frames:
            for start in range(1, len(frame), chunk):
                self.wfile.write(ws_frame(frame[:1] + frame[start : start + chunk]))
        self.wfile.write(ws_frame(struct.pack("!H", 1000), opcode=0x8))
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeApiServer


class FakeApiServer:
    """Serve ``cluster`` as a Kubernetes API on 127.0.0.1; use as a context manager.

    with FakeApiServer(cluster, token="t0ken") as server:
        server.url
    # -> 'http://127.0.0.1:41234'
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        token: str | None = None,
        git_version: str = "v1.30.0-fake",
        tls: tuple[Path, Path] | None = None,
        user: str = RBAC_USER,
    ):
        self.cluster = cluster
        self.tls = tls  # (certificate chain file, key file): serve https
        self.user = user  # who a SelfSubjectReview says the token is
        self.reviews: list[dict[str, Any]] = []  # the resourceAttributes of each access review
        self.name = getattr(cluster, "name", "cluster")
        self.token = token
        self.git_version = git_version
        self.denied: set[str] = set()
        self.hang: str | None = None  # None, "request" or "exec"
        self.released = threading.Event()
        self._httpd: _Server | None = None

    def deny(self, *resources: str) -> None:
        """Answer 403 (RBAC) for these resources, e.g. ``deny("secrets", "pods/exec")``."""
        self.denied.update(resources)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> FakeApiServer:
        self.released.clear()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        if self.tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, self.tls))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name=f"fakeapi-{self.name}", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.released.set()  # let hung handlers return
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def closed_port() -> int:
    """A local port nothing listens on (bound, then released), for 'connection refused'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_kubeconfig(
    path: str | Path,
    servers: Mapping[str, FakeApiServer],
    *,
    token: str | None = None,
    unreachable: str | None = None,
) -> Path:
    """Write a kubeconfig with one context per server (named by the mapping's keys).

    Each context's user carries ``token`` or else its server's token; ``unreachable`` adds a context
    of that name pointing at a closed local port.
    """
    endpoints = {name: (srv.url, token or srv.token) for name, srv in servers.items()}
    if unreachable:
        endpoints[unreachable] = (f"http://127.0.0.1:{closed_port()}", token)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": url}} for n, (url, _) in endpoints.items()],
        "users": [{"name": n, "user": {"token": tok} if tok else {}} for n, (_, tok) in endpoints.items()],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in endpoints],
        "current-context": next(iter(endpoints)),
    }
    path = Path(path)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
