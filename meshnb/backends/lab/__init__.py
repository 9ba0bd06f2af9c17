"""The lab: the guide's two-cluster data plane running for real on this machine's loopback.

The cluster API (pods, nodes, services, secrets, istiod's log) is the simulated mesh's model; the data
plane is real: per cluster a sidecar Envoy for the curl pod, an east-west gateway Envoy on 15443 with
mTLS, and helloworld servers on their pods' IPs, each cluster on its own ``127.N.0.0/16`` (N free, picked
at start). The lab's control plane (:mod:`meshnb.backends.lab.control_plane`) writes every Envoy's
listeners, clusters and endpoints from the mesh's state, as istiod would; a knob change rewrites them
and waits until the Envoys run the new configuration. Faults are real: the firewall drops connections
to the gateways (a listener that never completes a handshake), a different root makes the TLS handshake
fail, a missing remote secret leaves the remote endpoints out, a dead backend refuses connections.

``exec`` of ``curl`` in a pod runs the real curl: through the cluster's sidecar for injected pods (as
Istio's traffic capture would), directly for pods without a sidecar. ``pilot-agent request GET
clusters?format=json`` reads the sidecar's (or gateway's) real admin API.

>>> import meshnb
>>> import meshnb
>>> with meshnb.lab() as mesh:
...     sorted(set(meshnb.check_load_balancing(mesh, requests=20).evidence["samples"]["version"]))
['v1', 'v2']
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from meshnb.backends.base import Pod, Secret, SecretData
from meshnb.backends.lab import control_plane as cp
from meshnb.backends.lab.envoy import HIDE_TLS_REASON, Envoy
from meshnb.backends.lab.pki import workload_files
from meshnb.backends.lab.workloads import Blackhole, Helloworld
from meshnb.backends.sim import Knobs, SimCluster, SimMesh, _SimPod
from meshnb.errors import ClusterTimeout, ConfigError

__all__ = ["LabCluster", "LabMesh", "lab"]

log = logging.getLogger("meshnb")

GATEWAY_SUBNET = 9  # 127.N.9.100 is cluster N's east-west gateway
NETS_TRIED = 5


class AddressTaken(ConfigError):
    """An address the lab needs is in use: another net (``127.N``) is picked."""


class LabCluster(SimCluster):
    """A cluster of the lab: the simulated API, with curl and the Envoy admin API run for real."""

    mesh: LabMesh

    def _run(self, sim_pod: _SimPod, container: str, argv: list[str], timeout: float) -> tuple[str, str, int]:
        program = argv[0].rsplit("/", 1)[-1]
        if program == "curl" and container in ("curl", "istio-proxy"):
            return self.mesh.curl(self.name, sim_pod.pod, argv[1:], timeout)
        if program == "pilot-agent" and container == "istio-proxy" and argv[1:3] == ["request", "GET"]:
            return self.mesh.admin(self.name, sim_pod, argv[3] if len(argv) > 3 else "")
        return super()._run(sim_pod, container, argv, timeout)

    def _secrets(self, namespace: str) -> list[Secret]:
        """As the simulated mesh's, with ``cacerts`` read from the files the lab's proxies use."""
        files = SecretData(self.mesh.cacerts_files(self.name))
        return [
            dataclasses.replace(s, data=files) if s.name == "cacerts" else s
            for s in super()._secrets(namespace)
        ]

    def create(self, manifest: dict) -> None:
        super().create(manifest)
        self.mesh.sync()

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        super().delete(kind, namespace, name)
        self.mesh.sync()


class LabMesh(SimMesh):
    """The simulated mesh's model with a real data plane; use :func:`lab` to start and stop it."""

    cluster_class = LabCluster
    kind = "the lab: real Envoy proxies, mTLS and curl on this machine"

    def __init__(self, knobs: Knobs, seed: int, clusters: int, directory: Path, *, remove: bool = False):
        self.directory = directory
        self._remove = remove
        self.net = random.SystemRandom().randrange(20, 240 - clusters)
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
        super().__init__(knobs, seed=seed, clusters=clusters)

    # ---- addresses: each cluster on its own loopback /16 ----

    def address(self, cluster_index: int, subnet: int, host: int) -> str:
        return f"127.{self.net + cluster_index}.{subnet}.{host}"

    def gateway_address(self, cluster_index: int) -> str:
        return self.address(cluster_index, GATEWAY_SUBNET, 100)

    def _pod(self, cluster: str, namespace: str, app: str) -> Pod:
        return self.pods_of(cluster, namespace, app)[0].pod

    # ---- lifecycle ----

    def start(self, timeout: float = 10.0) -> None:
        """Start every proxy and backend and wait until all run the configuration (RuntimeError if not)."""
        deadline = time.monotonic() + timeout
        for index, name in enumerate(self._states, start=1):
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
                    (curl.ip, cp.ADMIN_PORT),
                    (curl.ip, cp.PROXY_PORT),
                    (self.gateway_address(index), cp.GATEWAY_PORT),
                ]
            )
        self._configure()
        for envoy in [*self.sidecars.values(), *self.gateways.values()]:
            if envoy in self.gateways.values() and self.knobs.firewall:
                continue
            envoy.start()
        self.started = True
        for envoy in self._running():
            envoy.wait_ready(deadline)
        self._reconcile()
        log.info(
            "lab: %d clusters on 127.%d-%d.x.x under %s",
            len(self._states),
            self.net + 1,
            self.net + len(self._states),
            self.directory,
        )

    def _envoy(self, cluster: str, role: str, pod: Pod, node_id: str) -> Envoy:
        """The Envoy of ``pod`` (its admin API on the pod's IP), with the cluster's locality."""
        locality = dict(zip(("region", "zone"), self.locality_of(cluster), strict=True))
        return Envoy(
            f"{cluster} {role} ({pod.name})",
            self.directory / cluster / role,
            {"id": node_id, "cluster": cluster, "locality": locality},
            (pod.ip, cp.ADMIN_PORT),
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
        """PIDs of the Envoy processes the lab runs."""
        return [envoy.process.pid for envoy in self._running() if envoy.process is not None]

    def close(self) -> None:
        """Stop every process, server and socket the lab started (safe to call twice)."""
        self.started = False
        atexit.unregister(self.close)
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
        if self._remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    # ---- the control plane ----

    def _apply(self, knobs: Knobs) -> None:
        super()._apply(knobs)
        if self.started:
            self.sync()

    def use(self, scenario: str, **knobs: object) -> SimMesh:
        self.generation += 1  # the sidecars' helloworld cluster is rebuilt: ejections are forgotten
        return super().use(scenario, **knobs)

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
        key = (cluster, workload, self.root_of(cluster))
        if key not in self._tls:
            self._tls[key] = workload_files(self.pki, self.directory / "certs", cluster, key[2], workload)
        return self._tls[key]

    def cacerts_files(self, cluster: str) -> dict[str, bytes]:
        """The ``cacerts`` of ``cluster`` as the files its workload certificates were issued from."""
        folder = self.directory / cluster / "cacerts"
        wanted = self.pki.cacerts(cluster, self.root_of(cluster))
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, data in wanted.items():
            path = folder / name
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
        return {name: (folder / name).read_bytes() for name in wanted}

    def _configure(self) -> None:
        for name in self._states:
            sidecar, gateway = self.sidecars[name], self.gateways[name]
            self.cacerts_files(name)
            sidecar.configure(
                cp.sidecar_listeners(self, sidecar.admin[0]),
                cp.sidecar_clusters(
                    self,
                    sidecar.eds_source(cp.OUTBOUND),
                    self._tls_files(name, "sample/sa/curl"),
                    self.generation,
                ),
                {cp.OUTBOUND: cp.sidecar_endpoints(self, name)},
            )
            gateway.configure(
                cp.gateway_listeners(
                    self.state(name).gateway_ip,
                    self._tls_files(name, "istio-system/sa/eastwestgateway"),
                ),
                cp.gateway_clusters(gateway.eds_source(cp.INBOUND)),
                {cp.INBOUND: cp.gateway_endpoints(self, name)},
            )

    def _reconcile(self) -> None:
        """Backends, firewall and runtime flags as the knobs say."""
        wanted = {
            p.pod.ip: p
            for name in self._states
            for p in self.state(name).pods
            if p.app == "helloworld" and p.pod.ready and p.version not in self.knobs.dead_versions
        }
        for ip in set(self._helloworlds) - set(wanted):
            self._helloworlds.pop(ip).stop()
        for ip in set(wanted) - set(self._helloworlds):
            self._helloworlds[ip] = Helloworld(ip, cp.PORT, wanted[ip].version or "", wanted[ip].pod.name)
        for name, gateway in self.gateways.items():
            ip = self.state(name).gateway_ip
            if self.knobs.firewall and name not in self._blackholes:
                gateway.stop()
                self._blackholes[name] = Blackhole(ip, cp.GATEWAY_PORT)
            elif not self.knobs.firewall and name in self._blackholes:
                self._blackholes.pop(name).stop()
                gateway.start()
                gateway.wait_ready(time.monotonic() + 10)
        hide = "true" if self.knobs.hide_tls_reason else "false"
        for sidecar in self.sidecars.values():
            sidecar.set_runtime(HIDE_TLS_REASON, hide)

    # ---- what runs in pods ----

    def _dropped(self, cluster: str, args: list[str]) -> list[str]:
        """curl options sending direct traffic to another cluster's pods into a firewall's blackhole."""
        if not self.knobs.firewall:
            return []
        options = []
        for arg in args:
            if "://" not in arg:
                continue
            url = urllib.parse.urlsplit(arg)
            found = self.pod_by_ip(url.hostname or "")
            if found and found[0] != cluster:
                if self._dropper is None:
                    self._dropper = Blackhole(self.address(0, 255, 1), 0)
                port = url.port or 80
                options += ["--connect-to", f"{url.hostname}:{port}:{self._dropper.ip}:{self._dropper.port}"]
        return options

    def curl(self, cluster: str, pod: Pod, args: list[str], timeout: float) -> tuple[str, str, int]:
        """The real curl with ``args``: through the cluster's sidecar if ``pod`` has one, else direct."""
        binary = shutil.which("curl")
        if binary is None:
            return "", 'exec: "curl": the lab runs this machine\'s curl, and none is installed', 127
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        if "istio-proxy" in pod.containers:
            env["http_proxy"] = f"http://{self.sidecars[cluster].admin[0]}:{cp.PROXY_PORT}"
        else:
            args = [*self._dropped(cluster, args), *args]
        try:
            done = subprocess.run(
                [binary, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterTimeout(
                cluster, f"curl in pod {pod.name} did not finish within {timeout:g} s"
            ) from exc
        return done.stdout, done.stderr, done.returncode

    def admin(self, cluster: str, sim_pod: _SimPod, path: str) -> tuple[str, str, int]:
        """``pilot-agent request GET path``: the pod's proxy's admin API (the gateway's for the gateway)."""
        envoy = self.gateways[cluster] if sim_pod.app == "istio-eastwestgateway" else self.sidecars[cluster]
        try:
            return envoy.get(path), "", 0
        except OSError as exc:
            return "", f"Error: failed to reach the Envoy admin API at {envoy.admin_url}: {exc}", 1


def lab(
    scenario: str = "healthy",
    seed: int = 0,
    *,
    clusters: int = 2,
    directory: str | os.PathLike | None = None,
    **knobs: object,
) -> LabMesh:
    """Start the lab with a scenario's knobs (as :func:`meshnb.simulate`) and return it, ready.

    Use it as a context manager (``with meshnb.lab("firewall") as mesh:``) to stop every process on
    exit, or keep it (a notebook): it stops when Python exits, and its Envoys die with this process.
    ``directory`` keeps the Envoy configurations, logs and certificates (default: a temporary
    directory, removed when the lab stops).
    """
    own = directory is None
    attempt = 0
    while True:
        attempt += 1
        folder = Path(tempfile.mkdtemp(prefix="meshnb-lab-")) if own else Path(directory)
        mesh = LabMesh(Knobs(), seed, clusters, folder, remove=own)
        try:
            mesh.use(scenario, **knobs)
            started = time.monotonic()
            mesh.start()
        except AddressTaken as exc:
            mesh.close()
            if attempt >= NETS_TRIED:
                raise
            log.info("lab: %s; trying another net", exc)
            continue
        except BaseException:  # also KeyboardInterrupt: nothing may be left running
            mesh.close()
            raise
        log.info("lab ready in %.2f s", time.monotonic() - started)
        atexit.register(mesh.close)
        return mesh
