"""The test bed: two real Kubernetes API servers (etcd + kube-apiserver + kwok each) under one DIR.

    bed = Testbed(Path("/tmp/tb"))
    bed.up(bin_dir)            # start everything, lay out the guide's world, write DIR/kubeconfig
    bed.fault("trust-mismatch")
    bed.down()

Layout of DIR: ``state.json`` (ports, addresses), ``kubeconfig`` (contexts cluster1, cluster2, admin),
``pids.json``, ``logs/``, and per cluster ``clusterN/`` (pki, etcd data, kwok config, the ``bin`` that
kwok's exec puts first on PATH, istiod's log file).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from . import pki, processes

log = logging.getLogger("testbed")

KUBE_VERSION = "1.34.2"
KWOK_VERSION = "0.7.0"
#: what tests/testbed/build builds from istio.io/istio (its module version is a master pseudo-version)
ISTIO_VERSION = "1.31-dev"
ISTIO_MODULE = "v0.0.0-20260827124520-eed52ebb66ad"
ISTIO_BINARIES = ("pilot-discovery", "pilot-agent", "istioctl")
NAMES = ("cluster1", "cluster2")
_LOCALITIES = {"cluster1": ("us-east", "us-east-1a"), "cluster2": ("us-west", "us-west-1b")}


@dataclass
class ClusterPorts:
    name: str
    index: int
    etcd: int
    etcd_peer: int
    api: int
    kwok: int
    sidecar: int  # meshd's sidecar + admin for this cluster's pods (kwok's exec sets http_proxy to it)
    region: str
    zone: str

    @property
    def network(self) -> str:
        return f"network{self.index}"

    @property
    def gateway_ip(self) -> str:
        return f"172.18.{self.index}.100"

    @property
    def pod_cidr(self) -> str:
        return f"10.{self.index}.0.1/24"


class Testbed:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        state = self.root / "state.json"
        self.state = json.loads(state.read_text()) if state.exists() else None

    # ---- layout ----
    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def host(self) -> str:
        return self.state["host"]

    def cluster(self, name: str) -> ClusterPorts:
        return ClusterPorts(**self.state["clusters"][name])

    def dir(self, name: str) -> Path:
        return self.root / name

    def api_url(self, name: str) -> str:
        return f"https://{self.host}:{self.cluster(name).api}"

    def client(self, name: str):
        """An admin ApiClient for cluster ``name``."""
        from kubernetes import config

        return config.new_client_from_config(str(self.kubeconfig), context=name)

    # ---- lifecycle ----
    def up(self, bin_dir: Path, timeout: float = 120.0) -> None:
        from . import world

        if self.state is not None and any(processes.running(self.root).values()):
            raise RuntimeError(
                f"a test bed already runs in {self.root}: run 'tests/testbed/down {self.root}'"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        apiserver = Path(bin_dir) / f"kube-apiserver-v{KUBE_VERSION}"
        kwok = Path(bin_dir) / f"kwok-v{KWOK_VERSION}"
        etcd = shutil.which("etcd")
        for binary in (apiserver, kwok, Path(etcd or "etcd")):
            if not os.access(binary, os.X_OK):
                raise RuntimeError(f"{binary} is missing: run tests/testbed/build first")
        crds = Path(bin_dir) / f"istio-{ISTIO_VERSION}" / "crd-all.gen.yaml"
        if not crds.is_file():
            raise RuntimeError(f"{crds} is missing: run tests/testbed/build first")
        host = processes.host_ip()
        self.state = {
            "host": host,
            "clusters": {},
            "meshd_port": processes.free_port(),
            "apiserver": str(apiserver),
            "istio_manifests": str(Path(bin_dir) / f"istio-{ISTIO_VERSION}"),
        }
        for index, name in enumerate(NAMES, start=1):
            region, zone = _LOCALITIES[name]
            ports = ClusterPorts(
                name,
                index,
                etcd=processes.free_port(),
                etcd_peer=processes.free_port(),
                api=processes.free_port(host),
                kwok=processes.free_port(),
                sidecar=processes.free_port(),
                region=region,
                zone=zone,
            )
            self.state["clusters"][name] = asdict(ports)
            pki.cluster_pki(self.dir(name) / "pki", host)
        (self.root / "state.json").write_text(json.dumps(self.state, indent=1))
        started = time.monotonic()
        with ThreadPoolExecutor(len(NAMES)) as pool:
            list(pool.map(lambda n: self._start_control_plane(n, etcd, apiserver, timeout), NAMES))
        self._write_kubeconfig()
        for name in NAMES:
            self._start_kwok(name, kwok)
        log.info("API servers up in %.1fs", time.monotonic() - started)
        world.lay_out(self, timeout=timeout)
        self._start_meshd(timeout)
        log.info("test bed up in %.1fs: KUBECONFIG=%s", time.monotonic() - started, self.kubeconfig)

    def down(self) -> list[str]:
        """Stop every process ``up`` started (meshd and kwok first); returns the names stopped."""
        rank = ("meshd", "kwok", "kube-apiserver", "etcd")
        order = sorted(
            processes.recorded(self.root), key=lambda n: [i for i, p in enumerate(rank) if n.startswith(p)]
        )
        return [name for name in order if processes.stop(self.root, name)]

    def _start_control_plane(self, name: str, etcd: str, apiserver: Path, timeout: float) -> None:
        ports, d = self.cluster(name), self.dir(name)
        proc = processes.start(
            self.root,
            f"etcd-{name}",
            [
                etcd,
                f"--name={name}",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{ports.etcd}",
                f"--advertise-client-urls=http://127.0.0.1:{ports.etcd}",
                f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                f"--initial-cluster={name}=http://127.0.0.1:{ports.etcd_peer}",
                "--log-level=warn",
            ],
        )
        processes.wait_until(
            f"etcd of {name}",
            lambda: processes.http_ok(f"http://127.0.0.1:{ports.etcd}/health"),
            timeout,
            self.root,
            f"etcd-{name}",
            proc,
        )
        self.start_apiserver(name, apiserver, timeout)

    def start_apiserver(self, name: str, apiserver: Path | None = None, timeout: float = 120.0) -> None:
        """Start (or start again, after a test stopped it) cluster ``name``'s kube-apiserver."""
        ports, p = self.cluster(name), self.dir(name) / "pki"
        apiserver = apiserver or Path(self.state["apiserver"])
        proc = processes.start(
            self.root,
            f"kube-apiserver-{name}",
            [
                str(apiserver),
                f"--etcd-servers=http://127.0.0.1:{ports.etcd}",
                f"--bind-address={self.host}",
                f"--advertise-address={self.host}",
                f"--secure-port={ports.api}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                f"--kubelet-client-certificate={p / 'kubelet-client.crt'}",
                f"--kubelet-client-key={p / 'kubelet-client.key'}",
                "--kubelet-preferred-address-types=InternalIP",
                "--authorization-mode=Node,RBAC",
                f"--service-cluster-ip-range=10.{95 + ports.index}.0.0/16",
                # No kube-controller-manager here: no token controller to fill the default service
                # accounts, and nobody reconciles the kubernetes service's endpoints.
                "--disable-admission-plugins=ServiceAccount",
                "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false",
                # Debian's etcd 3.4 has no RequestWatchProgress: streaming lists (sendInitialEvents) would
                # end in an error and kwok would only see pod deletions at its next full relist.
                "--feature-gates=WatchList=false",
                "--profiling=false",
                "--v=1",
            ],
        )
        processes.wait_until(
            f"kube-apiserver of {name}",
            lambda: processes.https_ok(
                f"https://{self.host}:{ports.api}/readyz", p / "ca.crt", p / "admin.crt", p / "admin.key"
            ),
            timeout,
            self.root,
            f"kube-apiserver-{name}",
            proc,
        )

    def _write_kubeconfig(self) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [], "users": []}
        for name in NAMES:
            p = self.dir(name) / "pki"
            config["clusters"].append(
                {
                    "name": name,
                    "cluster": {
                        "server": self.api_url(name),
                        "certificate-authority-data": b64(p / "ca.crt"),
                    },
                }
            )
            config["users"].append(
                {
                    "name": f"{name}-admin",
                    "user": {
                        "client-certificate-data": b64(p / "admin.crt"),
                        "client-key-data": b64(p / "admin.key"),
                    },
                }
            )
            config["contexts"].append({"name": name, "context": {"cluster": name, "user": f"{name}-admin"}})
        config["current-context"] = NAMES[0]
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)
        # kwok's own kubeconfig: the same server and CA, its own client certificate
        for name in NAMES:
            p = self.dir(name) / "pki"
            kwok_config = {
                **config,
                "clusters": [c for c in config["clusters"] if c["name"] == name],
                "users": [
                    {
                        "name": "kwok",
                        "user": {
                            "client-certificate": str(p / "kwok-client.crt"),
                            "client-key": str(p / "kwok-client.key"),
                        },
                    }
                ],
                "contexts": [{"name": name, "context": {"cluster": name, "user": "kwok"}}],
                "current-context": name,
            }
            (self.dir(name) / "kwok.kubeconfig").write_text(yaml.safe_dump(kwok_config, sort_keys=False))

    def _start_kwok(self, name: str, kwok: Path) -> None:
        ports, d = self.cluster(name), self.dir(name)
        bin_dir = d / "bin"
        bin_dir.mkdir(exist_ok=True)
        # `pilot-agent request GET PATH` in a pod asks that pod's Envoy admin; here, meshd's admin port.
        shim = bin_dir / "pilot-agent"
        shim.write_text(
            "#!/bin/sh\n"
            "# The test bed's pilot-agent: only `request GET PATH`, answered by this cluster's sidecar.\n"
            'if [ "$#" -ne 3 ] || [ "$1" != request ] || [ "$2" != GET ]; then\n'
            '  echo "usage: pilot-agent request GET PATH" >&2; exit 64\n'
            "fi\n"
            f'exec curl -sS --noproxy "*" "http://127.0.0.1:{ports.sidecar}/${{3#/}}"\n'
        )
        shim.chmod(0o755)
        (d / "istiod.log").touch()
        selector = {"matchNamespaces": ["istio-system"]}
        docs = [
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterExec",
                "metadata": {"name": "local"},
                "spec": {"execs": [{"local": {"workDir": str(d)}}]},
            },
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterLogs",
                "metadata": {"name": "istiod"},
                "spec": {
                    "selector": selector,
                    "logs": [{"containers": ["discovery"], "logsFile": str(d / "istiod.log")}],
                },
            },
        ]
        (d / "kwok.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        p = d / "pki"
        processes.start(
            self.root,
            f"kwok-{name}",
            [
                str(kwok),
                f"--kubeconfig={d / 'kwok.kubeconfig'}",
                f"--config={d / 'kwok.yaml'}",
                "--manage-all-nodes",
                f"--cidr={ports.pod_cidr}",
                "--node-ip=127.0.0.1",
                f"--node-port={ports.kwok}",
                f"--server-address=127.0.0.1:{ports.kwok}",
                f"--tls-cert-file={p / 'kwok.crt'}",
                f"--tls-private-key-file={p / 'kwok.key'}",
            ],
            # What a process exec'd "in a pod" of this cluster sees: the shims first, and the cluster's
            # sidecar as its HTTP proxy (curl honours the lower-case name only).
            env={
                "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "http_proxy": f"http://127.0.0.1:{ports.sidecar}",
            },
        )

    def _start_meshd(self, timeout: float) -> None:
        tests = Path(__file__).resolve().parent.parent
        processes.start(
            self.root,
            "meshd",
            [sys.executable, "-m", "testbed.meshd", str(self.root)],
            env={"PYTHONPATH": str(tests)},
        )
        self.wait_synced(timeout)

    # ---- meshd ----
    def synced_at(self) -> dict[str, float]:
        """When each cluster's control plane last finished a pass that started at that time."""
        url = f"http://127.0.0.1:{self.state['meshd_port']}/synced"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())

    def wait_synced(self, timeout: float = 30.0) -> None:
        """Wait until meshd has seen the API as it is now (a full pass that began after this call)."""
        after = time.time()
        processes.wait_until(
            "meshd's control plane",
            lambda: all(t > after for t in self.synced_at().values()) and len(self.synced_at()) == len(NAMES),
            timeout,
            self.root,
            "meshd",
        )

    def fault(self, name: str) -> None:
        """Switch to a fault of the guide (or ``healthy``) by changing API objects, then wait for meshd."""
        from . import world

        world.apply_fault(self, name)
        self.wait_synced()
