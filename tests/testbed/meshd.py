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

A pass goes on past what fails: an object that the API refuses to bind, delete or finalize (a pod in a
namespace being terminated, say) is logged once per reason and skipped, and a read that fails leaves
what it feeds as it last was; only a pass whose reads all succeeded counts as synced (``/synced``).

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
import re
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
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
    nodes: list = field(default_factory=list)
    pods_by_ip: dict[str, dict] = field(default_factory=dict)
    endpoints: list[dict] = field(default_factory=list)
    root_pem: bytes | None = None
    ca_pem: bytes | None = None
    locality_lb: bool = True
    outlier: dict | None = None
    secrets_seen: dict[str, str] = field(default_factory=dict)  # secret name -> resourceVersion
    remotes: dict[str, Remote] = field(default_factory=dict)  # secret name -> accepted remote
    synced_at: float = 0.0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ejected_until: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # What failed (a step or one object) -> why, as last logged: each is logged once per reason.
    reported: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)  # what this pass tried, failed or not
    stale: bool = False  # a read of this pass failed: the pass is no sync

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
        # What one call to an API server may raise that is the server's doing, not meshd's: its refusal,
        # or a server that is down, going down or cut off. Anything else is a bug and aborts the pass.
        self.errors = (k8s.ApiException, urllib3.exceptions.HTTPError)
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
                if self._pass(runtime):
                    runtime.synced_at = started
            except Exception as exc:  # a bug of meshd's: logged with its traceback, once per message
                reason = f"{type(exc).__name__}: {exc}"
                if runtime.reported.get("control pass") != reason:
                    runtime.reported["control pass"] = reason
                    log.exception("control pass for %s failed (logged again only if this changes)", name)
            time.sleep(PASS_INTERVAL)

    def _pass(self, rt: ClusterRuntime) -> bool:
        """One pass over cluster ``rt``; True if every read succeeded (then meshd is in sync with it).

        Each step goes on past what fails: one object the API refuses (a binding, a deletion) is logged
        and skipped, and a step whose read fails keeps the last good state of what it computes.
        """
        core = self.k8s.CoreV1Api(rt.api)
        rt.touched, rt.stale = set(), False
        self._step(rt, "listing nodes", self._read_nodes, core, rt)
        self._step(rt, "listing unbound pods", self._schedule, core, rt)
        self._step(rt, "listing namespaces", self._finish_namespaces, core, rt)
        self._step(rt, "listing pods", self._read_pods, core, rt)
        self._run_helloworld(rt)
        self._step(rt, "reading secret istio-system/cacerts", self._read_cacerts, core, rt)
        self._step(rt, "reading configmap istio-system/istio", self._read_mesh_config, core, rt)
        self._step(rt, f"listing destinationrules in {NAMESPACE}", self._read_outlier_detection, rt)
        self._step(rt, "listing remote secrets", self._remote_secrets, core, rt)
        rt.endpoints = self._endpoints(rt)
        self._done(rt, "control pass")
        for what in [w for w in rt.reported if w not in rt.touched]:
            del rt.reported[what]  # gone, or not tried this pass: a failure of it is news again
        return not rt.stale

    # ---- a pass's bookkeeping: each failure logged once per reason ----
    def _step(self, rt: ClusterRuntime, what: str, step, *args) -> bool:
        """Run one step of a pass; if its read fails, log that once and leave its state as it was."""
        try:
            step(*args)
        except self.errors as exc:
            rt.stale = True
            self._failed(rt, what, exc)
            return False
        self._done(rt, what)
        return True

    def _try(self, rt: ClusterRuntime, what: str, call, *args, **kwargs) -> bool:
        """One call about one object; if the API refuses it (or is away), log that once and go on."""
        try:
            call(*args, **kwargs)
        except self.errors as exc:
            self._failed(rt, what, exc)
            return False
        self._done(rt, what)
        return True

    def _failed(self, rt: ClusterRuntime, what: str, exc: Exception) -> None:
        rt.touched.add(what)
        reason = self._reason(exc)
        if rt.reported.get(what) != reason:
            rt.reported[what] = reason
            log.warning(
                "%s: %s failed (skipped; logged again only if this changes): %s", rt.name, what, reason
            )

    def _done(self, rt: ClusterRuntime, what: str) -> None:
        rt.touched.add(what)
        if rt.reported.pop(what, None) is not None:
            log.info("%s: %s works again", rt.name, what)

    def _reason(self, exc: Exception) -> str:
        """What went wrong, the same text each time it goes wrong the same way."""
        if isinstance(exc, self.k8s.ApiException):
            try:
                message = json.loads(exc.body)["message"]
            except (TypeError, ValueError, KeyError):
                message = exc.reason
            return f"{exc.status} {exc.reason}: {message}"
        return re.sub(r" at 0x[0-9a-f]+", "", f"{type(exc).__name__}: {exc}")

    # ---- the steps ----
    def _read_nodes(self, core, rt: ClusterRuntime) -> None:
        rt.nodes = core.list_node().items

    def _read_pods(self, core, rt: ClusterRuntime) -> None:
        pods = core.list_pod_for_all_namespaces().items
        rt.pods_by_ip = {p.status.pod_ip: _pod_info(p, rt.name) for p in pods if _running(p)}

    def _read_cacerts(self, core, rt: ClusterRuntime) -> None:
        cacerts = self._secret_data(core, "cacerts")
        rt.root_pem, rt.ca_pem = cacerts.get("root-cert.pem"), cacerts.get("ca-cert.pem")

    def _read_mesh_config(self, core, rt: ClusterRuntime) -> None:
        try:
            data = core.read_namespaced_config_map("istio", "istio-system").data or {}
        except self.k8s.ApiException as exc:
            if exc.status != 404:
                raise
            data = {}  # no mesh config: istiod's defaults
        try:
            mesh = yaml.safe_load(data.get("mesh") or "") or {}
        except yaml.YAMLError as exc:  # istiod keeps the mesh config it has: so does meshd
            self._failed(rt, "parsing the mesh config of configmap istio-system/istio", exc)
            return
        self._done(rt, "parsing the mesh config of configmap istio-system/istio")
        setting = mesh.get("localityLbSetting") if isinstance(mesh, dict) else None
        rt.locality_lb = (setting if isinstance(setting, dict) else {}).get("enabled", True) is not False

    def _read_outlier_detection(self, rt: ClusterRuntime) -> None:
        rt.outlier = self._outlier_detection(rt)

    def _endpoints(self, rt: ClusterRuntime) -> list[dict]:
        """The helloworld endpoints of ``rt``'s sidecars, from the last good read of each input."""
        locality = {n.metadata.name: _locality(n) for n in rt.nodes}
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
        remote = [ep for r in list(rt.remotes.values()) for ep in self._remote_endpoints(rt, r)]
        here = locality.get(next(iter(locality), ""), ("", ""))
        prefer_local = rt.locality_lb and rt.outlier is not None
        endpoints = []
        for ep in local + remote:
            priority = 0
            if prefer_local:
                priority = 0 if ep["locality"] == here else (1 if ep["locality"][0] == here[0] else 2)
            endpoints.append({**ep, "priority": priority})
        return endpoints

    def _schedule(self, core, rt: ClusterRuntime) -> None:
        """The scheduler's one job: bind pods that name no node, round-robin over the nodes.

        A binding the API refuses (the pod's namespace is being terminated, the pod went away) holds
        only that pod: logged once, tried again next pass, and the other pods are bound meanwhile.
        """
        names = sorted(n.metadata.name for n in rt.nodes)
        for pod in core.list_pod_for_all_namespaces(field_selector="spec.nodeName=").items:
            meta = pod.metadata
            if not names or meta.deletion_timestamp or pod.spec.scheduling_gates:
                continue  # as kube-scheduler: nowhere to bind it, it is going away, or it is gated
            node = names[hash(meta.name) % len(names)]
            body = self.k8s.V1Binding(
                metadata=self.k8s.V1ObjectMeta(name=meta.name),
                target=self.k8s.V1ObjectReference(kind="Node", name=node, api_version="v1"),
            )
            what = f"binding pod {meta.namespace}/{meta.name}"
            bind = core.create_namespaced_binding
            if self._try(rt, what, bind, meta.namespace, body, _preload_content=False):
                log.info("%s: bound %s/%s to %s", rt.name, meta.namespace, meta.name, node)

    def _finish_namespaces(self, core, rt: ClusterRuntime) -> None:
        """The namespace controller's one job: empty a terminating namespace, then finalize it.

        Each namespace, and each object in it, holds only itself: one that cannot be emptied, or one
        held by a finalizer in metadata.finalizers (someone else's to remove), stays Terminating while
        the others are finished.
        """
        for ns in core.list_namespace().items:
            if ns.metadata.deletion_timestamp:
                self._finish_namespace(core, rt, ns)

    def _finish_namespace(self, core, rt: ClusterRuntime, ns) -> None:
        name = ns.metadata.name
        what = f"listing what is left in namespace {name}"
        try:
            pods = core.list_namespaced_pod(name).items
            services = core.list_namespaced_service(name).items
            maps = core.list_namespaced_config_map(name).items
        except self.errors as exc:
            self._failed(rt, what, exc)
            return
        self._done(rt, what)
        deletions = [
            *(("pod", p, core.delete_namespaced_pod) for p in pods),
            *(("service", s, core.delete_namespaced_service) for s in services),
            *(("configmap", c, core.delete_namespaced_config_map) for c in maps),
        ]
        for kind, obj, delete in deletions:
            if not obj.metadata.deletion_timestamp:
                self._try(rt, f"deleting {kind} {name}/{obj.metadata.name}", delete, obj.metadata.name, name)
        finalizers = (ns.spec and ns.spec.finalizers) or []
        if deletions or "kubernetes" not in finalizers:
            return  # gone on a later pass (kwok removes the pods), or finalized: what holds it is not ours
        ns.spec.finalizers = [f for f in finalizers if f != "kubernetes"]
        self._try(rt, f"finalizing namespace {name}", core.replace_namespace_finalize, name, ns)

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
        try:
            rules = custom.list_namespaced_custom_object(
                "networking.istio.io", "v1", NAMESPACE, "destinationrules"
            )
        except self.k8s.ApiException as exc:
            if exc.status != 404:
                raise
            return None  # no DestinationRule CRD: no rule
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
                rt.log("info", "kube", f"Add cluster\tcluster={key} secret={ref}")
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
        except self.errors as exc:  # the remote is away or refuses the token: keep what was last read
            self._failed(rt, f"reading {remote.name} with its remote secret", exc)
            return remote.endpoints
        self._done(rt, f"reading {remote.name} with its remote secret")
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
                try:
                    found = self.k8s.CoreV1Api(rt.api).list_pod_for_all_namespaces(
                        field_selector=f"status.podIP={ip}"
                    )
                except self.errors as exc:  # that cluster's API server is away: ask the others
                    log.warning("%s: looking up pod IP %s failed: %s", rt.name, ip, self._reason(exc))
                    continue
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
