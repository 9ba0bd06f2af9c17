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
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from . import network, pki, processes
from .istio import RUNTIME

log = logging.getLogger("testbed")

KUBE_VERSION = "1.34.2"
KWOK_VERSION = "0.7.0"
#: what tests/testbed/build builds from istio.io/istio (its module version is a master pseudo-version)
ISTIO_VERSION = "1.31-dev"
ISTIO_MODULE = "v0.0.0-20260827124520-eed52ebb66ad"
ISTIO_BINARIES = ("pilot-discovery", "pilot-agent", "istioctl")
NAMES = ("cluster1", "cluster2")
#: the commands ``kubectl exec`` can run in a pod (each a shim on kwok's PATH)
EXEC_COMMANDS = ("curl", "printf", "cat", "sh", "env", "true", "sleep", "pilot-agent", "pilot-discovery")
_LOCALITIES = {"cluster1": ("us-east", "us-east-1a"), "cluster2": ("us-west", "us-west-1b")}


@dataclass
class ClusterPorts:
    name: str
    index: int
    region: str
    zone: str
    # each cluster's control plane has a network namespace of its own, so its ports are the usual ones
    etcd: int = 2379
    etcd_peer: int = 2380
    api: int = 6443
    kwok: int = 10250

    slot: int = 0  # the test bed's network slot (network.py): which addresses it has

    @property
    def address(self) -> str:
        """Where this cluster's API server listens (its own namespace; not loopback, not this machine's)."""
        return network.api_address(self.slot, self.index)

    @property
    def network(self) -> str:
        return f"network{self.index}"

    @property
    def gateway_ip(self) -> str:
        return network.gateway_address(self.slot, self.index)

    @property
    def pod_cidr(self) -> str:
        """What kwok hands pod IPs from (the first address is the hub's on the cluster's bridge)."""
        return f"10.{network.subnet(self.slot, self.index)}.0.2/24"


def _pod_stages(path: Path) -> list[dict]:
    """kwok's own pod stages, but a pod it runs is not ready until the test bed's kubelet says so (its
    containers started and listening), as a kubelet's readiness would have it."""
    stages = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    ready = next(s for s in stages if s["metadata"]["name"] == "pod-ready")
    template = ready["spec"]["next"]["statusTemplate"]
    for kind in ("Ready", "ContainersReady"):
        old = f'  status: "True"\n  type: {kind}\n'
        if old not in template:
            raise RuntimeError(f"kwok's pod-ready stage in {path} is not the one the test bed knows")
        template = template.replace(old, f'  status: "False"\n  type: {kind}\n')
    running = "  ready: true\n  restartCount: 0\n  state:\n    running:"
    ready["spec"]["next"]["statusTemplate"] = template.replace(running, running.replace("true", "false"), 1)
    return stages


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
    def net(self) -> network.Network:
        return network.Network(self.state["network"], self.state["slot"])

    def cluster(self, name: str) -> ClusterPorts:
        return ClusterPorts(**self.state["clusters"][name])

    def dir(self, name: str) -> Path:
        return self.root / name

    def api_url(self, name: str) -> str:
        ports = self.cluster(name)
        return f"https://{ports.address}:{ports.api}"

    def client(self, name: str):
        """An admin ApiClient for cluster ``name``."""
        from kubernetes import config

        return config.new_client_from_config(str(self.kubeconfig), context=name)

    # ---- lifecycle ----
    def up(self, bin_dir: Path, timeout: float = 120.0, owner: int | None = None) -> None:
        """Start everything and lay out the world; with ``owner`` (a pid), everything stops when that
        process ends, even if it is killed (the kubelet watches it)."""
        from . import world

        if self.state is not None and any(processes.running(self.root).values()):
            raise RuntimeError(
                f"a test bed already runs in {self.root}: run 'tests/testbed/down {self.root}'"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        bin_dir = Path(bin_dir)
        etcd = shutil.which("etcd")
        binaries = {
            "kube-apiserver": bin_dir / f"kube-apiserver-v{KUBE_VERSION}",
            "kube-controller-manager": bin_dir / f"kube-controller-manager-v{KUBE_VERSION}",
            "kwok": bin_dir / f"kwok-v{KWOK_VERSION}-exit-status",  # build applies kwok-exit-status.patch
            "etcd": Path(etcd or "etcd"),
            **{name: bin_dir / f"{name}-{ISTIO_VERSION}" for name in ISTIO_BINARIES},
        }
        for binary in binaries.values():
            if not os.access(binary, os.X_OK):
                raise RuntimeError(f"{binary} is missing: run tests/testbed/build first")
        manifests = bin_dir / f"istio-{ISTIO_VERSION}"
        for name in (
            "crd-all.gen.yaml",
            "kwok-execs-crd.yaml",
            "kwok-logs-crd.yaml",
            "kwok-portforwards-crd.yaml",
            "kwok-pod-stages.yaml",
        ):
            path = manifests / name
            if not path.is_file():
                raise RuntimeError(f"{path} is missing: run tests/testbed/build first")
        self.state = {
            "network": "tb" + hashlib.sha256(str(self.root).encode()).hexdigest()[:4],
            "slot": None,
            "clusters": {},
            "binaries": {name: str(path) for name, path in binaries.items()},
            "istio_manifests": str(manifests),
        }
        started = time.monotonic()
        with network.slot_lock():  # two test beds starting at once take different slots
            self.state["slot"] = network.Network.free_slot()
            self.net.create(len(NAMES))
        for index, name in enumerate(NAMES, start=1):
            region, zone = _LOCALITIES[name]
            ports = ClusterPorts(name, index, region=region, zone=zone, slot=self.state["slot"])
            self.state["clusters"][name] = asdict(ports)
            pki.cluster_pki(self.dir(name) / "pki", ports.address)
        (self.root / "state.json").write_text(json.dumps(self.state, indent=1))
        self._write_kubeconfig()
        with ThreadPoolExecutor(len(NAMES)) as pool:
            list(pool.map(lambda n: self._start_control_plane(n, timeout), NAMES))
        log.info("API servers up in %.1fs", time.monotonic() - started)
        world.lay_out(self, timeout=timeout)
        self._start_kubelet(owner)
        self.wait_ready(timeout)
        log.info("test bed up in %.1fs: KUBECONFIG=%s", time.monotonic() - started, self.kubeconfig)

    def down(self) -> list[str]:
        """Stop every process ``up`` started (the kubelet and the pods' first), then delete the
        network namespaces; returns the names stopped."""
        rank = ("kubelet", "pod-", "kwok", "kube-controller-manager", "kube-apiserver", "etcd")
        order = sorted(
            processes.recorded(self.root), key=lambda n: [i for i, p in enumerate(rank) if n.startswith(p)]
        )
        me = os.getpid()  # the kubelet itself runs this when the process that started it has died
        stopped = [
            name
            for name in order
            if processes.recorded(self.root)[name] != me and processes.stop(self.root, name)
        ]
        if self.state is not None and self.state.get("slot") is not None:
            self.net.destroy()
            shutil.rmtree(RUNTIME / self.state["network"], ignore_errors=True)
        return stopped

    def in_api_namespace(self, name: str, argv: list[str]) -> list[str]:
        return self.net.exec(self.net.api(self.cluster(name).index), argv)

    def _start_control_plane(self, name: str, timeout: float) -> None:
        ports, d = self.cluster(name), self.dir(name)
        etcd = self.state["binaries"]["etcd"]
        proc = processes.start(
            self.root,
            f"etcd-{name}",
            self.in_api_namespace(
                name,
                [
                    etcd,
                    f"--name={name}",
                    f"--data-dir={d / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{ports.etcd},http://{ports.address}:{ports.etcd}",
                    f"--advertise-client-urls=http://127.0.0.1:{ports.etcd}",
                    f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                    f"--initial-cluster={name}=http://127.0.0.1:{ports.etcd_peer}",
                    "--log-level=warn",
                ],
            ),
        )
        processes.wait_until(
            f"etcd of {name}",
            lambda: processes.http_ok(f"http://{ports.address}:{ports.etcd}/health"),
            timeout,
            self.root,
            f"etcd-{name}",
            proc,
        )
        self.start_apiserver(name, timeout)
        self._start_controller_manager(name)
        self._start_kwok(name)

    def start_apiserver(self, name: str, timeout: float = 120.0) -> None:
        """Start (or start again, after a test stopped it) cluster ``name``'s kube-apiserver."""
        ports, p = self.cluster(name), self.dir(name) / "pki"
        proc = processes.start(
            self.root,
            f"kube-apiserver-{name}",
            self.in_api_namespace(
                name,
                [
                    self.state["binaries"]["kube-apiserver"],
                    f"--etcd-servers=http://127.0.0.1:{ports.etcd}",
                    f"--bind-address={ports.address}",
                    f"--advertise-address={ports.address}",
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
                    # A pod that names no service account gets none (meshnb's probe pods, created in a
                    # namespace the controller manager may not have given a default account yet).
                    "--disable-admission-plugins=ServiceAccount",
                    "--endpoint-reconciler-type=none",
                    "--enable-priority-and-fairness=false",
                    # Debian's etcd 3.4 has no RequestWatchProgress: streaming lists (sendInitialEvents)
                    # would end in an error and kwok would only see pod deletions at its next relist.
                    "--feature-gates=WatchList=false",
                    "--profiling=false",
                    "--v=1",
                ],
            ),
        )
        processes.wait_until(
            f"kube-apiserver of {name}",
            lambda: processes.https_ok(
                f"{self.api_url(name)}/readyz", p / "ca.crt", p / "admin.crt", p / "admin.key"
            ),
            timeout,
            self.root,
            f"kube-apiserver-{name}",
            proc,
        )

    def _start_controller_manager(self, name: str) -> None:
        """The real kube-controller-manager: EndpointSlices, namespace deletion, service accounts."""
        p = self.dir(name) / "pki"
        processes.start(
            self.root,
            f"kube-controller-manager-{name}",
            self.in_api_namespace(
                name,
                [
                    self.state["binaries"]["kube-controller-manager"],
                    f"--kubeconfig={self.dir(name) / 'admin.kubeconfig'}",
                    "--controllers=endpointslice-controller,endpointslice-mirroring-controller,"
                    "namespace-controller,serviceaccount-controller,serviceaccount-token-controller,"
                    "garbage-collector-controller,root-ca-certificate-publisher-controller",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={p / 'sa.key'}",
                    f"--root-ca-file={p / 'ca.crt'}",
                    "--secure-port=0",
                    "--endpointslice-updates-batch-period=0s",
                    "--v=1",
                ],
            ),
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
        # kwok's and the controller manager's own kubeconfigs: one cluster, a client certificate
        for name in NAMES:
            p = self.dir(name) / "pki"
            for user, cert in (("kwok", "kwok-client"), ("admin", "admin")):
                one = {
                    **config,
                    "clusters": [c for c in config["clusters"] if c["name"] == name],
                    "users": [
                        {
                            "name": user,
                            "user": {
                                "client-certificate": str(p / f"{cert}.crt"),
                                "client-key": str(p / f"{cert}.key"),
                            },
                        }
                    ],
                    "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
                    "current-context": name,
                }
                path = self.dir(name) / f"{user}.kubeconfig"
                path.write_text(yaml.safe_dump(one, sort_keys=False))
                path.chmod(0o600)

    def _start_kwok(self, name: str) -> None:
        ports, d = self.cluster(name), self.dir(name)
        shims = d / "bin"
        shims.mkdir(exist_ok=True)
        # kwok runs `kubectl exec` commands as its own children (looked up on its PATH): each shim runs
        # its command inside the pod's network namespace, which the pod's kwok Exec (made by the kubelet
        # when it starts the pod) names in TB_NETNS.
        binaries = self.state["binaries"]
        for command in EXEC_COMMANDS:
            target = binaries.get(command) or shutil.which(command, path="/usr/local/bin:/usr/bin:/bin")
            if target is None:
                continue
            shim = shims / command
            shim.write_text(
                "#!/bin/sh\n"
                f"# {command}, run in the pod's network namespace (tests/testbed/bed.py)\n"
                'if [ -z "$TB_NETNS" ]; then\n'
                f'  echo "{command}: the pod\'s sandbox is not running yet" >&2; exit 126\n'
                "fi\n"
                f'exec ip netns exec "$TB_NETNS" {target} "$@"\n'
            )
            shim.chmod(0o755)
        docs = [
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterExec",
                "metadata": {"name": "local"},
                "spec": {"execs": [{"local": {"workDir": str(d)}}]},
            },
        ]
        docs += _pod_stages(Path(self.state["istio_manifests"]) / "kwok-pod-stages.yaml")
        (d / "kwok.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        p = d / "pki"
        processes.start(
            self.root,
            f"kwok-{name}",
            self.in_api_namespace(
                name,
                [
                    binaries["kwok"],
                    f"--kubeconfig={d / 'kwok.kubeconfig'}",
                    f"--config={d / 'kwok.yaml'}",
                    "--enable-crds=Exec,Logs,PortForward",
                    "--manage-all-nodes",
                    f"--cidr={ports.pod_cidr}",
                    "--node-ip=127.0.0.1",
                    f"--node-port={ports.kwok}",
                    f"--server-address=127.0.0.1:{ports.kwok}",
                    f"--tls-cert-file={p / 'kwok.crt'}",
                    f"--tls-private-key-file={p / 'kwok.key'}",
                ],
            ),
            # GOMEMLIMIT: what a container's memory limit gives pilot-agent, which outside a cgroup would
            # say so on stderr of every `kubectl exec ... pilot-agent request`
            env={"PATH": f"{shims}:{os.environ.get('PATH', '/usr/bin:/bin')}", "GOMEMLIMIT": "1GiB"},
        )

    def _start_kubelet(self, owner: int | None) -> None:
        tests = Path(__file__).resolve().parent.parent
        processes.start(
            self.root,
            "kubelet",
            [
                sys.executable,
                "-m",
                "testbed.kubelet",
                str(self.root),
                *([f"--owner={owner}"] if owner else []),
            ],
            env={"PYTHONPATH": str(tests)},
        )

    # ---- readiness ----
    def wait_ready(self, timeout: float = 60.0, synced: bool = True) -> None:
        """Wait until every istiod has synced every remote cluster its secrets name and every proxy
        has acknowledged its configuration (istiod's ``/debug/clusterz`` and ``/debug/syncz``)."""
        from . import istio

        held: list[float] = []

        def settled() -> bool:  # ready twice, a second apart: a change istiod has yet to push is seen
            why = istio.unready(self, synced)
            if why is not None:
                held.clear()
                raise RuntimeError(why)  # wait_until reports the last reason if it never settles
            held.append(time.monotonic())
            return held[-1] - held[0] >= 1.0

        processes.wait_until(
            "the mesh (istiods synced, every proxy's config acknowledged)",
            settled,
            timeout,
            self.root,
            "kubelet",
        )

    def fault(self, name: str) -> None:
        """Switch to a fault of the guide (or ``healthy``) by changing API objects, then wait for the
        mesh to settle."""
        from . import istio, world

        restarted = world.apply_fault(self, name)
        # a fault of credentials leaves istiod's remote cluster timed out, not synced
        self.wait_ready(timeout=180.0, synced=name not in world.CREDENTIAL_FAULTS)
        if restarted:
            istio.drop_stale_connections(self)
