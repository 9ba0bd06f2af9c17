"""The lab's data plane: real Envoys, helloworld servers and curl for a simulated mesh's state.

Per cluster a sidecar Envoy for the curl pod and an east-west gateway Envoy on 15443 with mTLS, and a
helloworld server on each ready pod's IP. :class:`EnvoyDataPlane` is a
:class:`meshnb.backends.sim.DataPlane`: ``curl`` runs this machine's curl (through the cluster's sidecar
for injected pods), ``admin`` reads the Envoy's admin API, and ``on_change`` rewrites every Envoy's
configuration from the mesh (:mod:`meshnb.backends.lab.control_plane`) and waits until they run it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from meshnb.backends.base import Pod
from meshnb.backends.lab import control_plane as cp
from meshnb.backends.lab.envoy import HIDE_TLS_REASON, Envoy
from meshnb.backends.lab.pki import workload_files
from meshnb.backends.lab.workloads import Blackhole, Helloworld
from meshnb.backends.sim import CommandOutput, SimPod
from meshnb.errors import ClusterTimeout, ConfigError

if TYPE_CHECKING:
    from meshnb.backends.sim import SimMesh

__all__ = ["AddressTaken", "EnvoyDataPlane"]


class AddressTaken(ConfigError):
    """An address the lab needs is in use: another net (``127.N``) is picked."""


def _ip(pod: Pod) -> str:
    if not pod.ip:
        raise ConfigError(f"lab: pod {pod.namespace}/{pod.name} has no IP")
    return pod.ip


class EnvoyDataPlane:
    """The real data plane of ``mesh`` (whose addresses are on loopback); files go under ``directory``."""

    def __init__(self, mesh: SimMesh, directory: Path):
        self.mesh = mesh
        self.directory = directory
        self.started = False
        self.generation = 0
        self.sidecars: dict[str, Envoy] = {}
        self.gateways: dict[str, Envoy] = {}
        self._helloworlds: dict[str, Helloworld] = {}  # pod IP -> server
        self._blackholes: dict[str, Blackhole] = {}  # cluster -> what answers for its dropped gateway
        self._dropper: Blackhole | None = None  # where direct traffic across a firewall goes
        self._tls: dict[tuple[str, str, str], dict[str, Path]] = {}
        self._sync_lock = threading.RLock()
        # Envoys die with the thread that started them (PR_SET_PDEATHSIG): one thread starts them all
        self._launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meshnb-lab-launcher")

    def _pod(self, cluster: str, namespace: str, app: str) -> Pod:
        return self.mesh.pods_of(cluster, namespace, app)[0].pod

    # ---- lifecycle ----

    def start(self, timeout: float = 10.0) -> None:
        """Start every proxy and backend and wait until all run the configuration (RuntimeError if not)."""
        deadline = time.monotonic() + timeout
        for index, name in enumerate(self.mesh.clusters, start=1):
            curl = self._pod(name, "sample", "curl")
            gateway = self._pod(name, "istio-system", "istio-eastwestgateway")
            self.sidecars[name] = self._envoy(
                name, "sidecar", curl, f"sidecar~{curl.ip}~{curl.name}.sample~sample.svc.cluster.local"
            )
            self.gateways[name] = self._envoy(
                name, "gateway", gateway, f"router~{gateway.ip}~{gateway.name}.istio-system"
            )
            self._check_free(
                [
                    (_ip(curl), cp.ADMIN_PORT),
                    (_ip(curl), cp.PROXY_PORT),
                    (self.mesh.gateway_address(index), cp.GATEWAY_PORT),
                ]
            )
        self._configure()
        for envoy in [*self.sidecars.values(), *self.gateways.values()]:
            if envoy in self.gateways.values() and self.mesh.knobs.firewall:
                continue
            envoy.start()
        self.started = True
        for envoy in self._running():
            envoy.wait_ready(deadline)
        self._reconcile()

    def _envoy(self, cluster: str, role: str, pod: Pod, node_id: str) -> Envoy:
        """The Envoy of ``pod`` (its admin API on the pod's IP), with the cluster's locality."""
        locality = dict(zip(("region", "zone"), self.mesh.locality_of(cluster), strict=True))
        return Envoy(
            f"{cluster} {role} ({pod.name})",
            self.directory / cluster / role,
            {"id": node_id, "cluster": cluster, "locality": locality},
            (_ip(pod), cp.ADMIN_PORT),
            self._launcher,
        )

    def _check_free(self, addresses: list[tuple[str, int]]) -> None:
        for ip, port in addresses:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Envoy binds
                try:
                    probe.bind((ip, port))
                except OSError as exc:
                    raise AddressTaken(f"lab: {ip}:{port} is taken ({exc})") from exc

    def _running(self) -> list[Envoy]:
        return [envoy for envoy in [*self.sidecars.values(), *self.gateways.values()] if envoy.running()]

    def processes(self) -> list[int]:
        """PIDs of the Envoy processes running."""
        return [envoy.process.pid for envoy in self._running() if envoy.process is not None]

    def close(self) -> None:
        """Stop every process, server and socket started (safe to call twice)."""
        self.started = False
        for envoy in [*self.sidecars.values(), *self.gateways.values()]:
            envoy.stop()
        self._launcher.shutdown(wait=True)
        for server in self._helloworlds.values():
            server.stop()
        self._helloworlds.clear()
        for hole in [*self._blackholes.values(), *([self._dropper] if self._dropper else [])]:
            hole.stop()
        self._blackholes.clear()
        self._dropper = None

    # ---- the control plane ----

    def on_change(self, *, new_scenario: bool = False) -> None:
        """Reprogram the data plane (if started).

        A new scenario rebuilds the sidecars' helloworld cluster, so Envoy forgets its ejections.
        """
        if new_scenario:
            self.generation += 1
        self.sync()

    def sync(self) -> None:
        """Bring the data plane to the mesh's state and wait until every Envoy runs it."""
        with self._sync_lock:  # clusters create and delete in parallel threads
            if not self.started:
                return
            self._configure()
            self._reconcile()
            for envoy in self._running():
                envoy.wait_applied()

    def _tls_files(self, cluster: str, workload: str) -> dict[str, Path]:
        key = (cluster, workload, self.mesh.root_of(cluster))
        if key not in self._tls:
            self._tls[key] = workload_files(
                self.mesh.pki, self.directory / "certs", cluster, key[2], workload
            )
        return self._tls[key]

    def cacerts_files(self, cluster: str) -> dict[str, bytes]:
        """The ``cacerts`` of ``cluster`` as the files its workload certificates were issued from."""
        folder = self.directory / cluster / "cacerts"
        wanted = self.mesh.pki.cacerts(cluster, self.mesh.root_of(cluster))
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, data in wanted.items():
            path = folder / name
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
        return {name: (folder / name).read_bytes() for name in wanted}

    def _configure(self) -> None:
        mesh = self.mesh
        for name in mesh.clusters:
            sidecar, gateway = self.sidecars[name], self.gateways[name]
            self.cacerts_files(name)
            sidecar.configure(
                cp.sidecar_listeners(mesh, sidecar.admin[0]),
                cp.sidecar_clusters(
                    mesh,
                    sidecar.eds_source(cp.OUTBOUND),
                    self._tls_files(name, "sample/sa/curl"),
                    self.generation,
                ),
                {cp.OUTBOUND: cp.sidecar_endpoints(mesh, name)},
            )
            gateway.configure(
                cp.gateway_listeners(
                    mesh.state(name).gateway_ip,
                    self._tls_files(name, "istio-system/sa/eastwestgateway"),
                ),
                cp.gateway_clusters(gateway.eds_source(cp.INBOUND)),
                {cp.INBOUND: cp.gateway_endpoints(mesh, name)},
            )

    def _reconcile(self) -> None:
        """Backends, firewall and runtime flags as the knobs say."""
        knobs = self.mesh.knobs
        wanted = {
            _ip(p.pod): p
            for name in self.mesh.clusters
            for p in self.mesh.state(name).pods
            if p.app == "helloworld" and p.pod.ready and p.version not in knobs.dead_versions
        }
        for ip in set(self._helloworlds) - set(wanted):
            self._helloworlds.pop(ip).stop()
        for ip in set(wanted) - set(self._helloworlds):
            self._helloworlds[ip] = Helloworld(ip, cp.PORT, wanted[ip].version or "", wanted[ip].pod.name)
        for name, gateway in self.gateways.items():
            ip = self.mesh.state(name).gateway_ip
            if knobs.firewall and name not in self._blackholes:
                gateway.stop()
                self._blackholes[name] = Blackhole(ip, cp.GATEWAY_PORT)
            elif not knobs.firewall and name in self._blackholes:
                self._blackholes.pop(name).stop()
                gateway.start()
                gateway.wait_ready(time.monotonic() + 10)
        hide = "true" if knobs.hide_tls_reason else "false"
        for sidecar in self.sidecars.values():
            sidecar.set_runtime(HIDE_TLS_REASON, hide)

    # ---- what runs in pods ----

    def _dropped(self, cluster: str, args: list[str]) -> list[str]:
        """curl options sending direct traffic to another cluster's pods into a firewall's blackhole."""
        if not self.mesh.knobs.firewall:
            return []
        options = []
        for arg in args:
            if "://" not in arg:
                continue
            url = urllib.parse.urlsplit(arg)
            found = self.mesh.pod_by_ip(url.hostname or "")
            if found and found[0] != cluster:
                if self._dropper is None:
                    self._dropper = Blackhole(self.mesh.address(0, 255, 1), 0)
                port = url.port or 80
                options += ["--connect-to", f"{url.hostname}:{port}:{self._dropper.ip}:{self._dropper.port}"]
        return options

    def curl(self, cluster: str, pod: SimPod, args: list[str], timeout: float) -> CommandOutput:
        """The real curl with ``args``: through the cluster's sidecar if ``pod`` has one, else direct."""
        binary = shutil.which("curl")
        if binary is None:
            return "", 'exec: "curl": the lab runs this machine\'s curl, and none is installed', 127
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        if "istio-proxy" in pod.pod.containers:
            env["http_proxy"] = f"http://{self.sidecars[cluster].admin[0]}:{cp.PROXY_PORT}"
        else:
            args = [*self._dropped(cluster, args), *args]
        try:
            done = subprocess.run(
                [binary, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterTimeout(
                cluster, f"curl in pod {pod.pod.name} did not finish within {timeout:g} s"
            ) from exc
        return done.stdout, done.stderr, done.returncode

    def admin(self, cluster: str, pod: SimPod, path: str) -> CommandOutput:
        """``pilot-agent request GET path``: the pod's proxy's admin API (the gateway's for the gateway)."""
        envoy = self.gateways[cluster] if pod.app == "istio-eastwestgateway" else self.sidecars[cluster]
        try:
            return envoy.get(path), "", 0
        except OSError as exc:
            return "", f"Error: failed to reach the Envoy admin API at {envoy.admin_url}: {exc}", 1
