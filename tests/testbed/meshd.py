"""meshd: what runs in the test bed's clusters besides the API server, etcd and kwok.

One process playing, per cluster and from nothing but what the API servers hold:

- the scheduler and the namespace controller, one job each (bind pods that name no node; finish
  deleting namespaces), since the test bed runs no kube-scheduler or kube-controller-manager;
- istiod's multicluster discovery: it reads the remote secrets (``istio/multiCluster=true``), refuses a
  data key that is not the cluster named in the annotation, and with each accepted kubeconfig (a real
  service-account token) lists the remote cluster's helloworld pods, network and east-west gateway;
  it logs what it did to ``DIR/clusterN/istiod.log`` in Istio's line format (CRI framing, which kwok
  serves as the istiod pod's log);
- the sidecars: an HTTP proxy per cluster (kwok's exec gives processes in that cluster's pods
  ``http_proxy`` pointing at it) that picks endpoints as Envoy does (priorities from locality, weights,
  Istio's default retries to other hosts, outlier ejection) and verifies the peer's certificate chain
  against its own root for traffic to another network; the same port answers Envoy's admin
  ``/clusters?format=json`` (what ``pilot-agent request GET`` reaches);
- the helloworld containers: one small HTTP server per Running helloworld pod, answering as Istio's
  sample does.

    python -m testbed.meshd DIR
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import http.server
import ipaddress
import json
import logging
import random
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .bed import Testbed

log = logging.getLogger("testbed.meshd")

SERVICE, NAMESPACE, PORT = "helloworld", "sample", 5000
RESET = "upstream connect error or disconnect/reset before headers. reset reason: "
TLS_FAILED = (
    "remote connection failure, transport failure reason: TLS_error:|268435581:SSL routines:"
    "OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: X509_verify_cert: certificate "
    "verification error at depth 0: unable to get local issuer certificate:TLS_error_end"
)
REFUSED = "remote connection failure, transport failure reason: delayed connect error: 111"
RETRIES = 2  # Istio's default retry policy: 2 retries, on other hosts where there are any
PASS_INTERVAL = 0.3


# ---- helloworld ----------------------------------------------------------------------------------
class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.path.split("?")[0] == "/hello":
            status, body = 200, f"Hello version: {self.server.version}, instance: {self.server.instance}\n"
        else:
            status, body = 404, "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n"
        _reply(self, status, body, "text/html; charset=utf-8")

    def log_message(self, *args):
        pass


def _reply(handler, status: int, body: str, content_type: str = "text/plain") -> None:
    data = body.encode()
    handler.send_response(status)
    handler.send_header("content-type", content_type)
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def serve_helloworld(version: str, instance: str) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    server.version, server.instance = version, instance
    threading.Thread(target=server.serve_forever, name=f"hello-{instance}", daemon=True).start()
    return server


# ---- one cluster's view ------------------------------------------------------------------------------
@dataclass
class Remote:
    name: str  # the cluster, as the secret's data key names it
    api: object  # an ApiClient built from the secret's kubeconfig
    endpoints: list[dict] = field(default_factory=list)  # the last read, kept while the remote is away


@dataclass
class ClusterRuntime:
    name: str
    network: str
    api: object
    log_path: Path
    pods_by_ip: dict[str, dict] = field(default_factory=dict)
    endpoints: list[dict] = field(default_factory=list)
    root_pem: bytes | None = None
    ca_pem: bytes | None = None
    outlier: dict | None = None
    secrets_seen: dict[str, str] = field(default_factory=dict)  # secret name -> resourceVersion
    remotes: dict[str, Remote] = field(default_factory=dict)  # secret name -> accepted remote
    synced_at: float = 0.0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ejected_until: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, level: str, scope: str, message: str) -> None:
        """One istiod line, framed as the kubelet stores container output (kwok serves it as is)."""
        now = dt.datetime.now(dt.UTC)
        line = f"{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}\t{level}\t{scope}\t{message}"
        with open(self.log_path, "a") as out:
            out.write(f"{now.strftime('%Y-%m-%dT%H:%M:%S.%f000Z')} stderr F {line}\n")


class Meshd:
    def __init__(self, bed: Testbed):
        from kubernetes import client as k8s

        self.bed = bed
        self.k8s = k8s
        self.runtimes: dict[str, ClusterRuntime] = {}
        for name in bed.state["clusters"]:
            runtime = ClusterRuntime(
                name, bed.cluster(name).network, bed.client(name), bed.dir(name) / "istiod.log"
            )
            runtime.log("info", "FLAG", f'--clusterID="{name}"')
            runtime.log("info", "kube", f"Initializing Kubernetes service registry {name!r}")
            self.runtimes[name] = runtime
        self.backends: dict[tuple[str, str, str], http.server.ThreadingHTTPServer] = {}
        self.backends_lock = threading.Lock()
        self.rng = random.Random()

    # ---- the control loop ----
    def run(self) -> None:
        for name in self.runtimes:
            threading.Thread(target=self._loop, args=(name,), name=f"control-{name}", daemon=True).start()

    def _loop(self, name: str) -> None:
        runtime = self.runtimes[name]
        while True:
            started = time.time()
            try:
                self._pass(runtime)
                runtime.synced_at = started
            except Exception:
                log.exception("control pass for %s failed", name)
            time.sleep(PASS_INTERVAL)

    def _pass(self, rt: ClusterRuntime) -> None:
        core = self.k8s.CoreV1Api(rt.api)
        nodes = core.list_node().items
        self._schedule(core, rt, nodes)
        self._finish_namespaces(core)
        pods = core.list_pod_for_all_namespaces().items
        rt.pods_by_ip = {p.status.pod_ip: _pod_info(p, rt.name) for p in pods if _running(p)}
        self._run_helloworld(rt)
        cacerts = self._secret_data(core, "cacerts")
        rt.root_pem, rt.ca_pem = cacerts.get("root-cert.pem"), cacerts.get("ca-cert.pem")
        mesh = (
            yaml.safe_load(core.read_namespaced_config_map("istio", "istio-system").data.get("mesh") or "")
            or {}
        )
        locality_lb = (mesh.get("localityLbSetting") or {}).get("enabled", True)
        rt.outlier = self._outlier_detection(rt)
        self._remote_secrets(core, rt)
        locality = {n.metadata.name: _locality(n) for n in nodes}
        local = [
            {
                "address": ip,
                "port": PORT,
                "weight": 1,
                "cluster": rt.name,
                "via_gateway": False,
                "locality": locality.get(p["node"], ("", "")),
            }
            for ip, p in rt.pods_by_ip.items()
            if p["namespace"] == NAMESPACE and p["labels"].get("app") == SERVICE
        ]
        remote = [ep for r in rt.remotes.values() for ep in self._remote_endpoints(rt, r)]
        here = locality.get(next(iter(locality), ""), ("", ""))
        prefer_local = locality_lb is not False and rt.outlier is not None
        endpoints = []
        for ep in local + remote:
            priority = 0
            if prefer_local:
                priority = 0 if ep["locality"] == here else (1 if ep["locality"][0] == here[0] else 2)
            endpoints.append({**ep, "priority": priority})
        rt.endpoints = endpoints

    def _schedule(self, core, rt: ClusterRuntime, nodes) -> None:
        """The scheduler's one job: bind pods that name no node, round-robin over the nodes."""
        names = sorted(n.metadata.name for n in nodes)
        for pod in core.list_pod_for_all_namespaces(field_selector="spec.nodeName=").items:
            if not names or pod.metadata.deletion_timestamp:
                continue
            node = names[hash(pod.metadata.name) % len(names)]
            body = self.k8s.V1Binding(
                metadata=self.k8s.V1ObjectMeta(name=pod.metadata.name),
                target=self.k8s.V1ObjectReference(kind="Node", name=node, api_version="v1"),
            )
            core.create_namespaced_binding(pod.metadata.namespace, body, _preload_content=False)
            log.info("%s: bound %s/%s to %s", rt.name, pod.metadata.namespace, pod.metadata.name, node)

    def _finish_namespaces(self, core) -> None:
        """The namespace controller's one job: empty a terminating namespace, then finalize it."""
        for ns in core.list_namespace().items:
            if not ns.metadata.deletion_timestamp:
                continue
            name = ns.metadata.name
            left = core.list_namespaced_pod(name).items
            for pod in left:
                if not pod.metadata.deletion_timestamp:
                    core.delete_namespaced_pod(pod.metadata.name, name)
            for svc in core.list_namespaced_service(name).items:
                core.delete_namespaced_service(svc.metadata.name, name)
            for cm in core.list_namespaced_config_map(name).items:
                core.delete_namespaced_config_map(cm.metadata.name, name)
            if left:
                continue  # kwok removes the pods; finalize on a later pass
            ns.spec.finalizers = []
            core.replace_namespace_finalize(name, ns)

    def _run_helloworld(self, rt: ClusterRuntime) -> None:
        """Start a helloworld server for each Running helloworld pod, stop those whose pod is gone."""
        wanted = {_backend_key(p) for p in rt.pods_by_ip.values() if p["labels"].get("app") == SERVICE}
        for pod in rt.pods_by_ip.values():
            self._container(pod)
        with self.backends_lock:
            gone = [k for k in self.backends if k[0] == rt.name and k not in wanted]
            servers = [self.backends.pop(key) for key in gone]
        for server in servers:
            server.shutdown()
            server.server_close()

    def _container(self, pod: dict) -> http.server.ThreadingHTTPServer | None:
        """The helloworld server of a helloworld pod, started on first need (the pod runs: so does it)."""
        if pod["labels"].get("app") != SERVICE:
            return None
        with self.backends_lock:
            key = _backend_key(pod)
            if key not in self.backends:
                self.backends[key] = serve_helloworld(pod["labels"].get("version", "v1"), pod["name"])
            return self.backends[key]

    def _secret_data(self, core, name: str) -> dict[str, bytes]:
        try:
            secret = core.read_namespaced_secret(name, "istio-system")
        except self.k8s.ApiException as exc:
            if exc.status == 404:
                return {}
            raise
        return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}

    def _outlier_detection(self, rt: ClusterRuntime) -> dict | None:
        custom = self.k8s.CustomObjectsApi(rt.api)
        rules = custom.list_namespaced_custom_object(
            "networking.istio.io", "v1", NAMESPACE, "destinationrules"
        )
        for rule in rules.get("items", []):
            spec = rule.get("spec") or {}
            if spec.get("host") in (
                SERVICE,
                f"{SERVICE}.{NAMESPACE}",
                f"{SERVICE}.{NAMESPACE}.svc.cluster.local",
            ):
                found = (spec.get("trafficPolicy") or {}).get("outlierDetection")
                if found:
                    return found
        return None

    # ---- istiod: remote secrets ----
    def _remote_secrets(self, core, rt: ClusterRuntime) -> None:
        secrets = core.list_namespaced_secret("istio-system", label_selector="istio/multiCluster=true").items
        current = {s.metadata.name: s for s in secrets}
        changed = False
        for name in [n for n in rt.secrets_seen if n not in current]:
            rt.log("info", "kube", f"processing secret event for secret istio-system/{name}")
            gone = rt.remotes.pop(name, None)
            if gone:
                rt.log("info", "kube", f"Deleting cluster\tcluster={gone.name} secret=istio-system/{name}")
            del rt.secrets_seen[name]
            changed = True
        for name, secret in current.items():
            if rt.secrets_seen.get(name) == secret.metadata.resource_version:
                continue
            rt.secrets_seen[name] = secret.metadata.resource_version
            changed = True
            rt.remotes.pop(name, None)
            ref = f"istio-system/{name}"
            rt.log("info", "kube", f"processing secret event for secret {ref}")
            annotated = (secret.metadata.annotations or {}).get("networking.istio.io/cluster")
            for key, value in (secret.data or {}).items():
                if annotated and key != annotated:
                    rt.log(
                        "error",
                        "kube",
                        f"Add cluster: create remote cluster failed: data key {key!r} is not the name of the "
                        f"cluster in annotation networking.istio.io/cluster={annotated}"
                        f"\tcluster={key} secret={ref}",
                    )
                    continue
                if key == rt.name:
                    continue
                try:
                    api = _client_from_kubeconfig(base64.b64decode(value))
                    self.k8s.VersionApi(api).get_code()
                except Exception as exc:
                    rt.log(
                        "error",
                        "kube",
                        f"Add cluster: create remote cluster failed: {exc}\tcluster={key} secret={ref}",
                    )
                    continue
                rt.remotes[name] = Remote(key, api)
                rt.log("info", "kube", f"Adding cluster\tcluster={key} secret={ref}")
        if changed:
            rt.log("info", "kube", f"Number of remote clusters: {len(rt.remotes)}")

    def _remote_endpoints(self, rt: ClusterRuntime, remote: Remote) -> list[dict]:
        """The remote cluster's helloworld endpoints, read with the remote secret's own credentials."""
        core = self.k8s.CoreV1Api(remote.api)
        try:
            pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app={SERVICE}").items
            nodes = {n.metadata.name: _locality(n) for n in core.list_node().items}
            network = (core.read_namespace("istio-system").metadata.labels or {}).get(
                "topology.istio.io/network"
            )
            gateways = core.list_namespaced_service(
                "istio-system", label_selector=f"topology.istio.io/network={network}"
            ).items
        except Exception as exc:
            log.warning("%s: reading %s with its remote secret failed: %s", rt.name, remote.name, exc)
            return remote.endpoints
        ready = [p for p in pods if _running(p)]
        where = nodes.get(ready[0].spec.node_name, ("", "")) if ready else ("", "")
        addresses = [
            ingress.ip
            for svc in gateways
            for ingress in ((svc.status.load_balancer and svc.status.load_balancer.ingress) or [])
            if ingress.ip
        ]
        if network == rt.network:  # one network: the remote pods directly
            found = [
                {"address": p.status.pod_ip, "port": PORT, "weight": 1, "cluster": remote.name,
                 "via_gateway": False, "locality": nodes.get(p.spec.node_name, ("", ""))}
                for p in ready
            ]  # fmt: skip
        else:  # another network: the remote east-west gateway on 15443, weighted by the pods behind it
            found = [
                {"address": address, "port": 15443, "weight": len(ready), "cluster": remote.name,
                 "via_gateway": True, "locality": where}
                for address in addresses[:1]
                if ready
            ]  # fmt: skip
        remote.endpoints = found
        return found

    # ---- the sidecar ----
    def route(self, source: str, host: str, port: int, path: str) -> tuple[int, str]:
        """One request from a pod of ``source`` to ``host:port`` (status, body), as its sidecar sends it."""
        if _is_ip(host):
            return self._direct(host, port, path)
        name = host.split(".")
        if name[0] != SERVICE or port != PORT or (len(name) > 1 and name[1] != NAMESPACE):
            return 503, "no healthy upstream"  # an unknown service: Envoy's passthrough finds nothing here
        rt = self.runtimes[source]
        endpoints = list(rt.endpoints)
        tried: set[str] = set()
        status, body = 503, "no healthy upstream"
        for _attempt in range(1 + RETRIES):
            now = time.monotonic()
            with rt.lock:
                live = [ep for ep in endpoints if rt.ejected_until.get(ep["address"], 0.0) <= now]
            if not live:
                return 503, "no healthy upstream"
            best = min(ep["priority"] for ep in live)
            pool = [ep for ep in live if ep["priority"] == best]
            fresh = [ep for ep in pool if ep["address"] not in tried] or pool
            chosen = self.rng.choices(fresh, weights=[ep["weight"] for ep in fresh])[0]
            tried.add(chosen["address"])
            ok, status, body = self._attempt(rt, chosen, path)
            with rt.lock:
                if ok:
                    rt.failures[chosen["address"]] = 0
                    return status, body
                self._note_failure(rt, chosen["address"])
        return status, body

    def _note_failure(self, rt: ClusterRuntime, address: str) -> None:
        if not rt.outlier:
            return
        rt.failures[address] += 1
        if rt.failures[address] >= int(rt.outlier.get("consecutive5xxErrors", 5)):
            seconds = float(str(rt.outlier.get("baseEjectionTime", "30s")).rstrip("s") or 30)
            rt.ejected_until[address] = time.monotonic() + seconds
            rt.failures[address] = 0

    def _attempt(self, rt: ClusterRuntime, endpoint: dict, path: str) -> tuple[bool, int, str]:
        if endpoint["via_gateway"]:
            peer = self.runtimes[endpoint["cluster"]]
            if not (_signed_by(peer.ca_pem, rt.root_pem) and _signed_by(rt.ca_pem, peer.root_pem)):
                return False, 503, RESET + TLS_FAILED
            pods = [
                p
                for p in peer.pods_by_ip.values()
                if p["namespace"] == NAMESPACE and p["labels"].get("app") == SERVICE
            ]
            if not pods:
                return False, 503, "no healthy upstream"
            target = self.rng.choice(pods)
        else:
            target = self.runtimes[endpoint["cluster"]].pods_by_ip.get(endpoint["address"])
            if target is None:
                return False, 503, RESET + REFUSED
        answer = self._backend(target, path)
        if answer is None:
            return False, 503, RESET + REFUSED
        return answer[0] < 500, answer[0], answer[1]

    def _direct(self, ip: str, port: int, path: str) -> tuple[int, str]:
        """A request to a pod IP: what that pod answers (any cluster: the networks are routable)."""
        target = next((rt.pods_by_ip[ip] for rt in self.runtimes.values() if ip in rt.pods_by_ip), None)
        if target is None:  # a pod that started since the last pass: ask the API servers now
            for rt in self.runtimes.values():
                found = self.k8s.CoreV1Api(rt.api).list_pod_for_all_namespaces(
                    field_selector=f"status.podIP={ip}"
                )
                target = next((_pod_info(p, rt.name) for p in found.items if _running(p)), target)
        answer = self._backend(target, path) if target and port == PORT else None
        return answer if answer else (502, f"nothing listens on {ip}:{port}")

    def _backend(self, pod: dict | None, path: str) -> tuple[int, str] | None:
        server = pod and self._container(pod)
        if not server:
            return None
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        except OSError:
            return None
        finally:
            conn.close()

    def admin_clusters(self, source: str) -> dict:
        """Envoy's ``/clusters?format=json`` for the helloworld cluster of ``source``'s sidecars."""
        hosts = []
        for ep in self.runtimes[source].endpoints:
            host = {
                "address": {"socket_address": {"address": ep["address"], "port_value": ep["port"]}},
                "stats": [{"name": "cx_total"}, {"name": "rq_total"}, {"type": "GAUGE", "name": "cx_active"}],
                "health_status": {"eds_health_status": "HEALTHY"},
                "weight": ep["weight"],
                "locality": {"region": ep["locality"][0], "zone": ep["locality"][1]},
            }
            if ep["priority"]:
                host["priority"] = ep["priority"]
            hosts.append(host)
        name = f"outbound|{PORT}||{SERVICE}.{NAMESPACE}.svc.cluster.local"
        return {"cluster_statuses": [{"name": name, "added_via_api": True, "host_statuses": hosts}]}


def _running(pod) -> bool:
    return bool(pod.status.pod_ip and pod.status.phase == "Running" and not pod.metadata.deletion_timestamp)


def _pod_info(pod, cluster: str) -> dict:
    meta = pod.metadata
    return {"name": meta.name, "namespace": meta.namespace, "labels": meta.labels or {},
            "node": pod.spec.node_name, "cluster": cluster}  # fmt: skip


def _backend_key(pod: dict) -> tuple[str, str, str]:
    return pod["cluster"], pod["namespace"], pod["name"]


def _locality(node) -> tuple[str, str]:
    labels = node.metadata.labels or {}
    return labels.get("topology.kubernetes.io/region", ""), labels.get("topology.kubernetes.io/zone", "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _signed_by(cert_pem: bytes | None, root_pem: bytes | None) -> bool:
    """Whether ``cert_pem`` verifies against ``root_pem`` (the check an mTLS handshake makes)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    if not cert_pem or not root_pem:
        return False
    try:
        x509.load_pem_x509_certificate(cert_pem).verify_directly_issued_by(
            x509.load_pem_x509_certificate(root_pem)
        )
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _client_from_kubeconfig(data: bytes):
    from kubernetes import config

    return config.new_client_from_config_dict(yaml.safe_load(data))


# ---- HTTP front doors ---------------------------------------------------------------------------
class _Sidecar(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        meshd, cluster = self.server.meshd, self.server.cluster
        if self.path.startswith("http://"):  # a proxied request from a pod of this cluster
            url = urllib.parse.urlsplit(self.path)
            status, body = meshd.route(cluster, url.hostname or "", url.port or 80, url.path or "/")
            return _reply(self, status, body)
        path, _, query = self.path.partition("?")
        if path == "/clusters" and "format=json" in query:
            return _reply(
                self, 200, json.dumps(meshd.admin_clusters(cluster), indent=2) + "\n", "application/json"
            )
        if path == "/ready":
            return _reply(self, 200, "LIVE\n")
        return _reply(self, 404, "invalid path\n")

    def log_message(self, *args):
        pass


class _Control(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/synced":
            synced = {n: rt.synced_at for n, rt in self.server.meshd.runtimes.items() if rt.synced_at}
            return _reply(self, 200, json.dumps(synced), "application/json")
        return _reply(self, 404, "invalid path\n")

    def log_message(self, *args):
        pass


def _serve(port: int, handler, **attrs) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    for key, value in attrs.items():
        setattr(server, key, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    bed = Testbed(Path(argv[0]))
    meshd = Meshd(bed)
    for name in bed.state["clusters"]:
        _serve(bed.cluster(name).sidecar, _Sidecar, meshd=meshd, cluster=name)
    meshd.run()
    _serve(bed.state["meshd_port"], _Control, meshd=meshd)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
