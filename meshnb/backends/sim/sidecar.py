"""The modelled Envoy: what a pod's curl gets through its sidecar, and the sidecar's admin API.

A sidecar holds the endpoints its cluster's istiod programmed (:meth:`SimMesh.endpoints`), picks
among them as Envoy does (priorities, weights, :mod:`meshnb.backends.sim.lb`), retries connect
failures on another host as Istio's default route does, and ejects a host after 3 failures in a row
when outlier detection is on. Each attempt succeeds or fails from the knobs: the firewall, roots
that differ, dead backends; latency is log-normal around the knobs' medians. A curl to a pod's IP
does not go through a sidecar (the uninjected probe): the network decides. ``pilot-agent request
GET clusters?format=json`` answers with the admin API's JSON, ejections included.

>>> import meshnb
>>> mesh = meshnb.simulate("missing-remote-secret")
>>> pod = mesh.pods_of("cluster1", "sample", "curl")[0]
>>> mesh.data_plane.curl("cluster1", pod, ["-s", "http://helloworld:5000/hello"], 5.0)[0].split(",")[0]
'Hello version: v1'
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from meshnb.backends.sim import curl
from meshnb.backends.sim.curl import Outcome
from meshnb.backends.sim.dataplane import CommandOutput, SimPod
from meshnb.backends.sim.lb import Picker

if TYPE_CHECKING:
    from meshnb.backends.sim.state import MeshState

__all__ = [
    "CONNECT_TIMEOUT_MS",
    "ENVOY_MAX_EJECTION_PERCENT",
    "ENVOY_RESET",
    "TLS_VERIFY_FAILED",
    "SimSidecars",
]

#: Envoy's max_ejection_percent when the DestinationRule does not set it.
ENVOY_MAX_EJECTION_PERCENT = 10
CONNECT_TIMEOUT_MS = 10_000.0  # Istio's default connectTimeout
ENVOY_RESET = "upstream connect error or disconnect/reset before headers. reset reason: "
TLS_VERIFY_FAILED = (
    "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: "
    "X509_verify_cert: certificate verification error at depth 0: unable to get local issuer "
    "certificate:TLS_error_end"
)
#: curl's message when ztunnel closes a connection it accepted (exit code 56).
RESET_BY_PEER = "Recv failure: Connection reset by peer"
NOT_FOUND = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n"
#: (host, port, path, endpoints or None when the name does not resolve) of a URL.
Resolved = tuple[str, int, str, list[dict[str, Any]] | None]


class SimSidecars:
    """The modelled data plane of ``mesh``: one sidecar per cluster (a :class:`DataPlane`)."""

    def __init__(self, mesh: MeshState):
        self.mesh = mesh
        self._sidecars = {name: _Sidecar(mesh, name) for name in mesh.clusters}

    def curl(self, cluster: str, pod: SimPod, args: list[str], timeout: float) -> CommandOutput:
        """``curl args`` run in ``pod`` of ``cluster``, each request through the cluster's sidecar."""
        sidecar = self._sidecars[cluster]
        with sidecar.lock:  # the sidecar's state: clock, ejections, round-robin positions
            resolved: dict[str, Resolved] = {}  # one lookup per distinct URL, as a sidecar caches
            return curl.run(args, lambda url, max_time: sidecar.transfer(pod, url, max_time, resolved))

    def admin(self, cluster: str, pod: SimPod, path: str) -> CommandOutput:
        """The sidecar's admin API at ``path`` (only ``clusters?format=json``), as ``pilot-agent`` gets it."""
        return self._sidecars[cluster].admin(pod, path)

    def on_change(self, *, new_scenario: bool = False) -> None:
        """The sidecars read the mesh's state as they go; a new scenario clears their ejections."""
        if new_scenario:
            for sidecar in self._sidecars.values():
                sidecar.forget_ejections()


class _Sidecar:
    """The sidecars of one cluster: Envoy's clock, ejections and load-balancer state, and its answers."""

    def __init__(self, mesh: MeshState, cluster: str):
        self.mesh = mesh
        self.cluster = cluster
        self.lock = threading.Lock()
        self._rng = random.Random(f"{mesh.seed}:{cluster}")
        self._clock_ms = 0.0
        self._ejected_until: dict[str, float] = {}
        self._failures: Counter[str] = Counter()
        self._picker = Picker(self._rng)

    def forget_ejections(self) -> None:
        """Clear the outlier-detection state of this cluster's sidecars."""
        with self.lock:
            self._picker.forget()
            self._ejected_until.clear()
            self._failures.clear()

    def _endpoints(self, namespace: str, service: str, port: int) -> list[dict[str, Any]]:
        return self.mesh.endpoints(self.cluster, namespace, service, port)

    # ---- the admin API ----

    def admin(self, pod: SimPod, path: str) -> CommandOutput:
        if path.split("?", maxsplit=1)[0].strip("/") != "clusters" or "format=json" not in path:
            return "", f"unsupported admin path in the simulated mesh: {path}", 1
        statuses = []
        for service, port in (("helloworld", 5000),):
            hosts = []
            for ep in self._endpoints(pod.pod.namespace, service, port):
                host: dict[str, Any] = {
                    "address": {"socket_address": {"address": ep["address"], "port_value": ep["port"]}},
                    "stats": [
                        {"name": "cx_total"},
                        {"name": "rq_total"},
                        {"type": "GAUGE", "name": "cx_active"},
                    ],
                    "health_status": self._health(ep["address"]),
                    "weight": ep["weight"],
                    "locality": {"region": ep["region"], "zone": ep["zone"]},
                }
                if ep["priority"]:
                    host["priority"] = ep["priority"]
                hosts.append(host)
            name = f"outbound|{port}||{service}.{pod.pod.namespace}.svc.cluster.local"
            statuses.append({"name": name, "added_via_api": True, "host_statuses": hosts})
        return json.dumps({"cluster_statuses": statuses}, indent=2) + "\n", "", 0

    def _health(self, address: str) -> dict[str, object]:
        """A host's health in Envoy's admin JSON: ejected by outlier detection, or as EDS says."""
        health: dict[str, object] = {"eds_health_status": "HEALTHY"}
        if self._ejected_until.get(address, -1.0) > self._clock_ms:
            health["failed_outlier_check"] = True
        return health

    # ---- requests ----

    def _resolve(self, pod: SimPod, url: str) -> Resolved:
        hostport, _, path = url.split("://", 1)[-1].partition("/")
        host, _, port_text = hostport.partition(":")
        port = int(port_text) if port_text.isdigit() else 80
        labels = host.split(".")
        service, namespace = labels[0], labels[1] if len(labels) > 1 else pod.pod.namespace
        if not self.mesh.serves(namespace, service):
            return host, port, path, None
        return host, port, path, self._endpoints(namespace, service, port)

    def transfer(self, pod: SimPod, url: str, max_time: float, resolved: dict[str, Resolved]) -> Outcome:
        """One request of ``pod``'s curl (``resolved``: the names this curl has looked up)."""
        if url not in resolved:
            resolved[url] = self._resolve(pod, url)
        host, port, path, endpoints = resolved[url]
        if _is_ip(host):
            outcome = self._direct(host, port, path)
            if outcome.exit_code == 28 or outcome.ms > max_time * 1000:
                waited = int(max_time * 1000) + 1
                message = f"Failed to connect to {host} port {port} after {waited} ms: Timeout was reached"
                return Outcome(0, "", waited, 28, message)
            return outcome
        if endpoints is None:
            return Outcome(0, "", 2.0, 6, f"Could not resolve host: {host}")
        if port != 5000:  # no such service port: no sidecar listener, the connection is refused
            refused = f"Failed to connect to {host} port {port} after 1 ms: Couldn't connect to server"
            return Outcome(0, "", 1.0, 7, refused)
        if "istio-proxy" not in pod.pod.containers and self.mesh.state(self.cluster).ambient:
            outcome = self._through_ztunnel(endpoints, "/" + path)
        else:
            outcome = Outcome(*self._through_sidecar(endpoints, "/" + path))
        return curl.timed_out(max_time) if outcome.ms > max_time * 1000 else outcome

    def _through_ztunnel(self, endpoints: list[dict[str, Any]], path: str) -> Outcome:
        """ztunnel's choice of endpoint (at random, weighted by capacity) and the attempt's outcome.

        ztunnel carries TCP, not HTTP: it has accepted the client's connection before it connects on,
        and a failure to connect closes it, which curl reports as a reset. It does not retry.
        """
        if not endpoints:
            return Outcome(0, "", 1.0, 56, RESET_BY_PEER)
        chosen = self._rng.choices(endpoints, weights=[float(ep["weight"]) for ep in endpoints])[0]
        ok, status, body, ms = self._attempt(chosen, path)
        self._clock_ms += ms
        return Outcome(status, body, ms) if ok else Outcome(0, "", ms, 56, RESET_BY_PEER)

    def _direct(self, ip: str, port: int, path: str) -> Outcome:
        """A request to a pod IP, not through a sidecar: the network decides (the uninjected probe)."""
        found = self.mesh.pod_by_ip(ip)
        if found is None:
            return Outcome(0, "", CONNECT_TIMEOUT_MS, 28)
        cluster, target = found
        knobs = self.mesh.knobs
        if cluster != self.cluster and knobs.firewall:
            return Outcome(0, "", CONNECT_TIMEOUT_MS, 28)
        ms = self._lognormal(knobs.latency_ms) + (
            self._lognormal(knobs.cross_cluster_ms) if cluster != self.cluster else 0.0
        )
        if target.app != "helloworld" or port != 5000 or target.version in knobs.dead_versions:
            message = f"Failed to connect to {ip} port {port} after {ms:.0f} ms: Couldn't connect to server"
            return Outcome(0, "", ms, 7, message)
        if "/" + path != "/hello":
            return Outcome(404, NOT_FOUND, ms)
        return Outcome(200, f"Hello version: {target.version}, instance: {target.pod.name}\n", ms)

    def _lognormal(self, median: float) -> float:
        return median * math.exp(self._rng.gauss(0.0, 0.35))

    def _through_sidecar(self, endpoints: list[dict[str, Any]], path: str) -> tuple[int, str, float]:
        """Envoy's choice of endpoint, Istio's retries to other hosts, and each attempt's outcome."""
        knobs = self.mesh.knobs
        tried: set[str] = set()
        total_ms = 0.0
        status, body = 503, "no healthy upstream"
        for _attempt in range(1 + max(0, knobs.retries)):
            live = [ep for ep in endpoints if self._ejected_until.get(ep["address"], -1.0) <= self._clock_ms]
            if not live:
                status, body = 503, "no healthy upstream"
                break
            best = min(ep["priority"] for ep in live)
            pool = [ep for ep in live if ep["priority"] == best]
            fresh = [ep for ep in pool if ep["address"] not in tried] or pool
            chosen = self._picker.pick(knobs.lb_policy, fresh)
            tried.add(chosen["address"])
            ok, status, body, ms = self._attempt(chosen, path)
            total_ms += ms
            self._clock_ms += ms
            if ok:
                self._failures[chosen["address"]] = 0
                return status, body, total_ms
            self._note_failure(chosen["address"], endpoints)
        return status, body, total_ms

    def _note_failure(self, address: str, endpoints: list[dict[str, Any]]) -> None:
        """Outlier detection: 3 failures in a row eject a host for 30 s, if the limit allows.

        The limit is Envoy's: the ejected hosts, this one included, within max_ejection_percent of the
        cluster's hosts.
        """
        knobs = self.mesh.knobs
        if not knobs.outlier_detection:
            return
        self._failures[address] += 1
        if self._failures[address] >= 3:  # consecutive5xxErrors: 3, baseEjectionTime: 30s
            self._failures[address] = 0
            limit = (
                ENVOY_MAX_EJECTION_PERCENT
                if knobs.max_ejection_percent is None
                else knobs.max_ejection_percent
            )
            ejected = sum(self._ejected_until.get(ep["address"], -1.0) > self._clock_ms for ep in endpoints)
            if 100 * (ejected + 1) <= limit * len(endpoints):
                self._ejected_until[address] = self._clock_ms + 30_000.0

    def _attempt(self, endpoint: dict[str, Any], path: str) -> tuple[bool, int, str, float]:
        knobs = self.mesh.knobs
        remote = endpoint["via_gateway"]
        if remote and knobs.firewall:
            return False, 503, ENVOY_RESET + "connection timeout", CONNECT_TIMEOUT_MS
        if remote and self.mesh.root_of(self.cluster) != self.mesh.root_of(endpoint["dest_cluster"]):
            reason = "remote connection failure"
            if not knobs.hide_tls_reason:
                reason += ", transport failure reason: " + TLS_VERIFY_FAILED
            return False, 503, ENVOY_RESET + reason, self._lognormal(knobs.cross_cluster_ms)
        pods = [
            p
            for p in self.mesh.pods_of(endpoint["dest_cluster"], endpoint["namespace"], "helloworld")
            if p.pod.ready and ((not remote and p.pod.ip == endpoint["address"]) or remote)
        ]
        target = self._rng.choice(pods)
        ms = self._lognormal(knobs.latency_ms) + (self._lognormal(knobs.cross_cluster_ms) if remote else 0.0)
        if target.version in knobs.dead_versions:
            reason = "remote connection failure, transport failure reason: delayed connect error: 111"
            return False, 503, ENVOY_RESET + reason, ms
        if path != "/hello":
            return True, 404, NOT_FOUND, ms
        return True, 200, f"Hello version: {target.version}, instance: {target.pod.name}\n", ms


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(part.isdigit() for part in parts)
