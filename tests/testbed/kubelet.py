"""The test bed's kubelet: what no real component here can do, so that real Istio runs in kwok's pods.

kwok plays the nodes (pod status, IPs, ``kubectl exec`` and ``logs``) but runs nothing. This process
runs, per cluster and from nothing but what the API server holds:

- the scheduler's one job: bind pods that name no node (no kube-scheduler is built here);
- the container runtime and CNI: for each Running pod, a network namespace at the IP kwok gave it on
  the cluster's bridge (``network.py``), ``/etc/resolv.conf`` as a pod's, and a kwok ``Exec`` naming the
  namespace so that ``kubectl exec`` runs there; then the pod's containers for real (``istio.py``:
  istiod, the sidecar or gateway's pilot-agent and Envoy, helloworld), restarted when they exit;
  when the pod goes, its processes and namespace go too;
- the cloud's load balancer and kube-proxy, as far as Istio needs them: a LoadBalancer Service's
  status address and the istiod Service's cluster IP are addresses of the pod behind it.

    python -m testbed.kubelet DIR
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import istio, network, processes, world
from .bed import Testbed

log = logging.getLogger("testbed.kubelet")

PASS_INTERVAL = 0.5
KWOK_API = "kwok.x-k8s.io/v1alpha1"
#: the ports ``kubectl port-forward`` reaches in a pod (a proxy's admin and istiod's debug and xDS ports)
FORWARDED = (15000, 15014, 8080, 15010, 15012)


@dataclass
class Sandbox:
    """One pod as it runs here: its network namespace and the names of its containers' processes."""

    key: str
    netns: str
    directory: Path
    containers: dict[str, istio.Container] = field(default_factory=dict)
    restarts: dict[str, float] = field(default_factory=dict)
    ready: bool = False  # reported Ready to the API server


class Kubelet:
    def __init__(self, bed: Testbed):
        from kubernetes import client

        self.bed, self.k8s = bed, client
        self.sandboxes: dict[str, dict[str, Sandbox]] = {name: {} for name in bed.state["clusters"]}
        self.reported: set[tuple[str, str]] = set()

    def run(self) -> None:
        threads = [threading.Thread(target=self._loop, args=(n,), daemon=True) for n in self.sandboxes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _loop(self, cluster: str) -> None:
        api = self.bed.client(cluster)
        while True:
            try:
                self._pass(cluster, api)
            except Exception as exc:  # an API server down: keep what runs, try again
                self._report(cluster, "pass", exc)
            time.sleep(PASS_INTERVAL)

    def _report(self, cluster: str, what: str, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
        if (what, reason) not in self.reported:
            self.reported.add((what, reason))
            log.warning("%s: %s failed: %s", cluster, what, reason)

    def _pass(self, cluster: str, api) -> None:
        core = self.k8s.CoreV1Api(api)
        pods = core.list_pod_for_all_namespaces().items
        self._schedule(cluster, core, pods)
        running = {
            p.metadata.uid: p
            for p in pods
            if p.status.phase == "Running" and p.status.pod_ip and not p.metadata.deletion_timestamp
        }
        sandboxes = self.sandboxes[cluster]
        for uid in [u for u in sandboxes if u not in running]:
            self._stop(cluster, api, sandboxes.pop(uid))
        alive = processes.running(self.bed.root)  # once a pass: it reads pids.json and /proc of each
        for uid, pod in running.items():
            try:
                if uid not in sandboxes:
                    sandboxes[uid] = self._sandbox(cluster, api, core, pod)
                self._containers(cluster, api, pod, sandboxes[uid], alive)
            except Exception as exc:
                self._report(cluster, f"pod {pod.metadata.namespace}/{pod.metadata.name}", exc)

    def _schedule(self, cluster: str, core, pods) -> None:
        """Bind each pod that names no node to a node, round-robin (as kube-scheduler would here)."""
        nodes = sorted(n.metadata.name for n in core.list_node().items)
        for pod in pods:
            meta = pod.metadata
            if pod.spec.node_name or not nodes or meta.deletion_timestamp or pod.spec.scheduling_gates:
                continue
            body = self.k8s.V1Binding(
                metadata=self.k8s.V1ObjectMeta(name=meta.name),
                target=self.k8s.V1ObjectReference(kind="Node", name=nodes[hash(meta.name) % len(nodes)]),
            )
            try:
                core.create_namespaced_binding(meta.namespace, body, _preload_content=False)
            except Exception as exc:
                self._report(cluster, f"binding {meta.namespace}/{meta.name}", exc)

    def _sandbox(self, cluster: str, api, core, pod) -> Sandbox:
        meta, index = pod.metadata, self.bed.cluster(cluster).index
        key = network.pod_key(cluster, meta.namespace, meta.name, meta.uid)
        extra = istio.extra_addresses(self.bed, cluster, core, pod)
        netns = self.bed.net.add_pod(index, key, pod.status.pod_ip, extra)
        for file, text in istio.etc_files(core, pod).items():
            self.bed.net.etc_file(key, file, text)
        directory = self.bed.dir(cluster) / "pods" / f"{meta.namespace}_{meta.name}_{meta.uid[:8]}"
        directory.mkdir(parents=True, exist_ok=True)
        meta_ref = {"name": meta.name, "namespace": meta.namespace}
        env = [{"name": "TB_NETNS", "value": netns}, {"name": "HOSTNAME", "value": meta.name}]
        world.create(
            api,
            {
                "apiVersion": KWOK_API,
                "kind": "Exec",
                "metadata": meta_ref,
                "spec": {"execs": [{"local": {"workDir": str(directory), "envs": env}}]},
            },
        )
        logs = [
            {"containers": [c.name], "logsFile": str(directory / f"{c.name}.log")}
            for c in pod.spec.containers
        ]
        world.create(
            api, {"apiVersion": KWOK_API, "kind": "Logs", "metadata": meta_ref, "spec": {"logs": logs}}
        )
        relay = str(Path(__file__).with_name("relay.py"))
        forwards = [
            {"ports": [port], "command": self.bed.net.exec(netns, [sys.executable, relay, str(port)])}
            for port in FORWARDED
        ]
        world.create(
            api,
            {
                "apiVersion": KWOK_API,
                "kind": "PortForward",
                "metadata": meta_ref,
                "spec": {"forwards": forwards},
            },
        )
        log.info(
            "%s: sandbox of %s/%s at %s (%s)", cluster, meta.namespace, meta.name, pod.status.pod_ip, netns
        )
        return Sandbox(key, netns, directory)

    def _containers(self, cluster: str, api, pod, sandbox: Sandbox, alive: dict[str, bool]) -> None:
        """Start each container of ``pod`` that is not running (again, after a back-off, if it exited)."""
        for container in pod.spec.containers:
            name = container.name
            process = f"pod-{cluster}-{pod.metadata.namespace}-{pod.metadata.name}-{name}"
            if alive.get(process):
                continue
            last = sandbox.restarts.get(name)
            if last is not None and time.monotonic() - last < 2.0:
                continue
            spec = istio.container(self.bed, cluster, api, pod, name, sandbox.directory, sandbox.netns)
            if spec is None:
                continue
            sandbox.restarts[name] = time.monotonic()
            sandbox.containers[name] = spec
            log.info("%s: starting %s/%s %s", cluster, pod.metadata.namespace, pod.metadata.name, name)
            # its output framed as a container runtime writes it, which kwok serves to `kubectl logs`
            crilog = [sys.executable, "-m", "testbed.crilog", str(sandbox.directory / f"{name}.log"), "--"]
            processes.start(
                self.bed.root,
                process,
                self.bed.net.exec(sandbox.netns, [*crilog, *spec.argv]),
                env={"HOSTNAME": pod.metadata.name, **spec.env},
                cwd=spec.cwd or sandbox.directory,
            )
        if not sandbox.ready and all(
            istio.ready(self.bed, c.name, sandbox.netns) for c in pod.spec.containers
        ):
            # the readiness a kubelet reports (kwok's pod stage leaves it to this kubelet)
            current = api.sanitize_for_serialization(pod.status)
            for condition in current.get("conditions", []):
                if condition["type"] in ("Ready", "ContainersReady"):
                    condition["status"] = "True"
            for container in current.get("containerStatuses", []):
                container["ready"] = True
            status = {k: current[k] for k in ("conditions", "containerStatuses") if k in current}
            self.k8s.CoreV1Api(api).patch_namespaced_pod_status(
                pod.metadata.name, pod.metadata.namespace, {"status": status}
            )
            sandbox.ready = True

    def _stop(self, cluster: str, api, sandbox: Sandbox) -> None:
        _, namespace, name, _ = sandbox.key.split("/")
        for container in sandbox.containers:
            processes.stop(self.bed.root, f"pod-{cluster}-{namespace}-{name}-{container}", grace=2.0)
        self.bed.net.remove_pod(sandbox.key)
        for kind in ("Exec", "Logs", "PortForward"):
            try:
                world.delete(api, KWOK_API, kind, namespace, name)
            except Exception as exc:
                self._report(cluster, f"deleting the {kind} of {namespace}/{name}", exc)
        log.info("%s: stopped %s/%s", cluster, namespace, name)


def _watch(bed: Testbed, owner: int) -> None:
    """When the process that started the test bed ends (a test run killed), take everything down."""
    while True:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            log.warning("process %d, which started this test bed, is gone: stopping everything", owner)
            bed.down()
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(1.0)


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    bed = Testbed(Path(argv[0]))
    owner = next((int(a.split("=", 1)[1]) for a in argv[1:] if a.startswith("--owner=")), None)
    if owner is not None:
        threading.Thread(target=_watch, args=(bed, owner), daemon=True).start()
    Kubelet(bed).run()


if __name__ == "__main__":
    main(sys.argv[1:])
