"""The guide's world on the test bed's API servers, and the faults that break it.

Everything is made through the API as a user's clusters would have it: namespaces, nodes with
locality labels, Running pods (kwok), services, the mesh config, the DestinationRule CRD, ``cacerts``
and remote secrets whose kubeconfigs carry a real service-account token of the other cluster.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import logging
import time
from pathlib import Path

import yaml

from . import pki

log = logging.getLogger("testbed")

MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
READER = "istio-reader-service-account"
ISTIOD_ACCOUNT = "istiod"
FAULTS = (
    "healthy",
    "firewall",
    "missing-remote-secret",
    "remote-secret-wrong-key",
    "remote-secret-loopback",
    "remote-secret-revoked-token",
    "remote-secret-expired-token",
    "remote-secret-no-endpointslices",
    "reader-role-removed",
    "trust-mismatch",
    "locality-prefer-local",
    "istiod-down",
)
#: faults in the credentials of a secret cluster1's istiod already read: it is restarted after them
CREDENTIAL_FAULTS = (
    "remote-secret-loopback",
    "remote-secret-revoked-token",
    "remote-secret-expired-token",
    "remote-secret-no-endpointslices",
    "reader-role-removed",
)
#: the reader binding in the remote cluster (Istio's chart names it as the role)
READER_BINDING = "istio-reader-clusterrole-istio-system"
#: a reader whose account is deleted after its token is made: a revoked token
REVOKED_READER = "istio-reader-revoked"
#: a reader bound to Istio's reader rules without endpointslices: a valid token istiod cannot sync with
NARROW_READER = "istio-reader-no-endpointslices"
OUTLIER_DETECTION = {"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "30s"}


def _suffix(*parts: str, length: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def _pod(
    cluster: str,
    namespace: str,
    app: str,
    labels: dict,
    containers: list[str],
    node: str,
    version=None,
    account: str | None = None,
):
    template = _suffix(cluster, app, version or "", length=10)
    name = (
        f"{app}-{version}-{template}-{_suffix(cluster, app)}"
        if version
        else f"{app}-{template}-{_suffix(cluster, app)}"
    )
    images = {
        "discovery": "docker.io/istio/pilot:1.28.0",
        "istio-proxy": "docker.io/istio/proxyv2:1.28.0",
        "curl": "docker.io/curlimages/curl:8.16.0",
        "helloworld": f"docker.io/istio/examples-helloworld-{version}:1.0",
    }
    injected = "istio-proxy" in containers and app != "istio-eastwestgateway"
    annotations = {"sidecar.istio.io/status": "{}"} if injected else {}
    # what the injector adds: the labels istiod reads a workload's TLS mode and canonical name from
    extra = (
        {"security.istio.io/tlsMode": "istio", "service.istio.io/canonical-name": app}
        if "istio-proxy" in containers
        else {}
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, **extra, "pod-template-hash": template},
            "annotations": annotations,
        },
        "spec": {
            "nodeName": node,
            "serviceAccountName": account or app,
            "containers": [{"name": c, "image": images[c]} for c in containers],
        },
    }


def _gateway_labels(network: str) -> dict:
    return {"app": "istio-eastwestgateway", "istio": "eastwestgateway", "topology.istio.io/network": network}


def world_pods(bed, cluster: str) -> list[dict]:
    """The pods of the guide's world in ``cluster``: istiod, the east-west gateway, curl, helloworld."""
    ports = bed.cluster(cluster)
    nodes = [f"{cluster}-node-{n}" for n in (1, 2)]
    version = f"v{ports.index}"
    return [
        # the chart's labels: istioctl finds istiod by app=istiod and istio.io/rev
        _pod(
            cluster,
            "istio-system",
            "istiod",
            {"app": "istiod", "istio": "pilot", "istio.io/rev": "default"},
            ["discovery"],
            nodes[0],
        ),
        _pod(
            cluster,
            "istio-system",
            "istio-eastwestgateway",
            _gateway_labels(ports.network),
            ["istio-proxy"],
            nodes[1],
        ),
        _pod(cluster, "sample", "curl", {"app": "curl"}, ["curl", "istio-proxy"], nodes[0]),
        _pod(
            cluster,
            "sample",
            "helloworld",
            {"app": "helloworld", "version": version},
            ["helloworld", "istio-proxy"],
            nodes[1],
            version,
        ),
    ]


def _account(name: str, namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def _service(
    name: str,
    namespace: str,
    labels: dict,
    ports: dict[str, int | tuple[int, int]],
    kind="ClusterIP",
    selector=None,
):
    """A Service; ``ports`` maps each port's name (Istio reads the protocol from it) to its port, or to
    ``(port, targetPort)``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "type": kind,
            "selector": selector or {"app": labels["app"]},
            "ports": [
                {"name": port_name, "port": p[0], "targetPort": p[1]}
                if isinstance(p, tuple)
                else {"name": port_name, "port": p}
                for port_name, p in ports.items()
            ],
        },
    }


def _mesh_config(locality: bool) -> dict:
    mesh = f"accessLogFile: /dev/stdout\nlocalityLbSetting:\n  enabled: {'true' if locality else 'false'}\n"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {"mesh": mesh, "meshNetworks": "networks: {}"},
    }


@functools.cache
def _parsed(path: Path) -> tuple[dict, ...]:
    """The documents of a YAML file of the cache, parsed once per process (Istio's are about 1 MB:
    PyYAML's pure-Python loader takes 1.6 s on one, its C loader 0.2 s)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        return tuple(doc for doc in yaml.load_all(f, Loader=loader) if doc)


def _docs(path: Path) -> list[dict]:
    """A copy of ``path``'s documents, for the caller to change as it likes."""
    return copy.deepcopy(list(_parsed(path)))


def _istio_crds(manifests: Path) -> list[dict]:
    """Istio's CRDs as its base chart installs them (the module's ``crd-all.gen.yaml``)."""
    return _docs(manifests / "crd-all.gen.yaml")


def _kwok_crds(manifests: Path) -> list[dict]:
    """kwok's Exec, Logs and PortForward CRDs: the test bed's kubelet names each pod's namespace, log
    files and ports."""
    kinds = ("execs", "logs", "portforwards")
    return [yaml.safe_load((manifests / f"kwok-{kind}-crd.yaml").read_text()) for kind in kinds]


def cross_network_gateway() -> dict:
    """Istio's ``samples/multicluster/expose-services.yaml``: every ``*.local`` service reachable from
    other networks through the east-west gateway's port 15443 (SNI, mTLS passed through)."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "cross-network-gateway", "namespace": "istio-system"},
        "spec": {
            "selector": {"istio": "eastwestgateway"},
            "servers": [
                {
                    "port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                    "tls": {"mode": "AUTO_PASSTHROUGH"},
                    "hosts": ["*.local"],
                }
            ],
        },
    }


#: The kinds of Istio's RBAC: its istiod and reader service accounts, their roles and bindings.
_RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def _istio_rbac(manifests: Path) -> list[dict]:
    """Istio's service accounts, roles and bindings for istiod and the reader (whose token remote
    secrets carry), as ``istioctl manifest generate --set profile=minimal`` renders them from the
    module's charts (tests/testbed/build saves its output as ``istio-minimal.yaml``)."""
    docs = [doc for doc in _docs(manifests / "istio-minimal.yaml") if doc.get("kind") in _RBAC_KINDS]
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in docs}
    for wanted in [
        ("ServiceAccount", ISTIOD_ACCOUNT),
        ("ServiceAccount", READER),
        ("ClusterRoleBinding", READER_BINDING),
    ]:
        if wanted not in names:
            raise RuntimeError(f"{manifests / 'istio-minimal.yaml'} has no {wanted[0]} {wanted[1]}")
    return docs


def _reader_binding(manifests: Path) -> dict:
    return next(
        d
        for d in _istio_rbac(manifests)
        if (d["kind"], d["metadata"]["name"]) == ("ClusterRoleBinding", READER_BINDING)
    )


def _narrow_reader(manifests: Path) -> list[dict]:
    """The account, role and binding of NARROW_READER: Istio's rendered reader ClusterRole with the
    endpointslices rule taken out (what a hand-made role that forgot them grants)."""
    role = next(
        d
        for d in _istio_rbac(manifests)
        if (d["kind"], d["metadata"]["name"]) == ("ClusterRole", READER_BINDING)  # named as its binding
    )
    rules = []
    for rule in copy.deepcopy(role["rules"]):
        rule["resources"] = [r for r in rule.get("resources", []) if r != "endpointslices"]
        if rule["resources"]:
            rules.append(rule)
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        _account(NARROW_READER, "istio-system"),
        {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": NARROW_READER}, "rules": rules},
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": NARROW_READER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NARROW_READER,
            },
            "subjects": [{"kind": "ServiceAccount", "name": NARROW_READER, "namespace": "istio-system"}],
        },
    ]


def create(api_client, manifest: dict) -> None:
    """Create one object (any kind the kubernetes client knows), or replace it if it exists."""
    from kubernetes import dynamic

    client = dynamic.DynamicClient(api_client)
    resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    namespace = manifest["metadata"].get("namespace")
    try:
        resource.create(body=manifest, namespace=namespace)
    except Exception as exc:
        if getattr(exc, "status", None) != 409:
            raise
        current = resource.get(name=manifest["metadata"]["name"], namespace=namespace)
        manifest = {
            **manifest,
            "metadata": {**manifest["metadata"], "resourceVersion": current.metadata.resourceVersion},
        }
        resource.replace(body=manifest, namespace=namespace)


def delete(api_client, api_version: str, kind: str, namespace: str | None, name: str) -> None:
    from kubernetes import dynamic

    resource = dynamic.DynamicClient(api_client).resources.get(api_version=api_version, kind=kind)
    try:
        resource.delete(name=name, namespace=namespace)
    except Exception as exc:
        if getattr(exc, "status", None) != 404:
            raise


def _secret(name: str, data: dict[str, bytes], labels=None, annotations=None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "istio-system",
            "labels": labels or {},
            "annotations": annotations or {},
        },
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def lay_out(bed, timeout: float = 60.0) -> None:
    """Create the guide's world in both clusters and wait until kwok runs every pod."""
    from kubernetes import client as k8s

    manifests = Path(bed.state["istio_manifests"])
    root = bed.root / "istio-pki"
    root.mkdir(exist_ok=True)
    roots = {
        "root": pki.authority("Root CA"),
        "alt": pki.authority("Root CA"),
    }  # same subject, as in Istio's samples
    for name in bed.state["clusters"]:
        api = bed.client(name)
        ports = bed.cluster(name)
        objects = [
            *_istio_crds(manifests),
            *_kwok_crds(manifests),
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "istio-system", "labels": {"topology.istio.io/network": ports.network}},
            },
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "sample", "labels": {"istio-injection": "enabled"}},
            },
            *_istio_rbac(manifests),
            _mesh_config(locality=False),
        ]
        nodes = [f"{name}-node-{n}" for n in (1, 2)]
        for node in nodes:
            labels = {
                "kubernetes.io/hostname": node,
                "topology.kubernetes.io/region": ports.region,
                "topology.kubernetes.io/zone": ports.zone,
                "type": "kwok",
            }
            objects.append(
                {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": labels}, "spec": {}}
            )
        gw_labels = _gateway_labels(ports.network)
        objects += [
            *world_pods(bed, name),
            # the ports as Istio's charts and samples name them
            _service(
                "istiod",
                "istio-system",
                {"app": "istiod", "istio": "pilot"},
                {
                    "grpc-xds": 15010,
                    "https-dns": 15012,
                    "https-webhook": (443, 15017),
                    "http-monitoring": 15014,
                },
            ),
            _service(
                "istio-eastwestgateway",
                "istio-system",
                gw_labels,
                {"status-port": 15021, "tls": 15443, "tls-istiod": 15012, "tls-webhook": 15017},
                "LoadBalancer",
                {"istio": "eastwestgateway"},
            ),
            _service("helloworld", "sample", {"app": "helloworld", "service": "helloworld"}, {"http": 5000}),
            _account("istio-eastwestgateway", "istio-system"),
            _account("curl", "sample"),
            _account("helloworld", "sample"),
            cross_network_gateway(),
        ]
        for manifest in objects:
            create(api, manifest)
            if manifest["kind"] == "CustomResourceDefinition":
                _wait_established(api, manifest["metadata"]["name"], timeout)
        # The cloud's load balancer: give the east-west gateway its external address.
        k8s.CoreV1Api(api).patch_namespaced_service_status(
            "istio-eastwestgateway",
            "istio-system",
            {"status": {"loadBalancer": {"ingress": [{"ip": ports.gateway_ip}]}}},
        )
        # cacerts from the shared root; the alternative chain (another root) is kept for the fault
        for which, issuer in roots.items():
            chain = pki.cacerts(issuer, name)
            target = root / f"{name}-{which}"
            target.mkdir(exist_ok=True)
            for key, data in chain.items():
                (target / key).write_bytes(data)
                (target / key).chmod(0o600)
        create(api, _secret("cacerts", _read_dir(root / f"{name}-root")))
    for name in bed.state["clusters"]:
        for remote in bed.state["clusters"]:
            if remote != name:
                create(bed.client(name), remote_secret(bed, remote))
    for name in bed.state["clusters"]:
        _wait_running(bed.client(name), timeout)


def _read_dir(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def _wait_established(api, crd: str, timeout: float) -> None:
    from kubernetes import client as k8s

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = k8s.ApiextensionsV1Api(api).read_custom_resource_definition(crd).status
        if any(c.type == "Established" and c.status == "True" for c in (status.conditions or [])):
            return
        time.sleep(0.2)
    raise RuntimeError(f"CRD {crd} not established within {timeout:g}s")


def _wait_running(api, timeout: float) -> None:
    from kubernetes import client as k8s

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = k8s.CoreV1Api(api).list_pod_for_all_namespaces().items
        if pods and all(p.status.phase == "Running" and p.status.pod_ip for p in pods):
            return
        time.sleep(0.2)
    raise RuntimeError(f"kwok did not run every pod within {timeout:g}s")


def token(
    bed, cluster: str, account: str = READER, namespace: str = "istio-system", seconds=7 * 24 * 3600
) -> str:
    """A real token of a service account of ``cluster`` (TokenRequest); by default the reader account
    that a remote secret carries."""
    from kubernetes import client as k8s

    request = k8s.AuthenticationV1TokenRequest(
        spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
    )
    response = k8s.CoreV1Api(bed.client(cluster)).create_namespaced_service_account_token(
        account, namespace, request
    )
    return response.status.token


def expired_token(bed, cluster: str, ago: float = 3600.0, lifetime: float = 3600.0) -> str:
    """A real token of the reader account of ``cluster`` whose lifetime ended ``ago`` seconds ago: the
    API server's own token with its times moved back, signed again with its service-account key (a
    TokenRequest lasts at least 10 minutes, too long to wait for)."""
    now = int(time.time())
    end = now - int(ago)
    key = (bed.dir(cluster) / "pki" / "sa.key").read_bytes()
    return pki.resign_token(
        token(bed, cluster), key, iat=end - int(lifetime), nbf=end - int(lifetime), exp=end
    )


def token_kubeconfig(bed, cluster: str, token_text: str, server: str | None = None) -> dict:
    """A kubeconfig for ``cluster`` (its API server, or ``server``) authenticating with a bearer token,
    laid out as ``istioctl create-remote-secret`` writes one."""
    ca = base64.b64encode((bed.dir(cluster) / "pki" / "ca.crt").read_bytes()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"certificate-authority-data": ca, "server": server or bed.api_url(cluster)},
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "current-context": cluster,
        "preferences": {},
        "users": [{"name": cluster, "user": {"token": token_text}}],
    }


def remote_secret(
    bed,
    remote: str,
    key: str | None = None,
    server: str | None = None,
    account: str = READER,
    token_text: str | None = None,
) -> dict:
    """``istioctl create-remote-secret --name=remote``: a kubeconfig for ``remote`` (at ``server``, with a
    token of ``account``, or ``token_text``) under data key ``key``."""
    config = token_kubeconfig(bed, remote, token_text or token(bed, remote, account), server)
    return _secret(
        f"istio-remote-secret-{remote}",
        {key or remote: yaml.safe_dump(config, sort_keys=False).encode()},
        labels={MULTICLUSTER_LABEL: "true"},
        annotations={CLUSTER_ANNOTATION: remote},
    )


def apply_fault(bed, fault: str) -> bool:
    """Make ``fault`` (one of FAULTS) the real way, through the API and the network; every other fault
    is healed. Faults are in cluster1's view of cluster2 (its remote secret, cluster2's reader role,
    cluster2's root, cluster2's istiod) or between the networks. True if a cluster's proxies were
    restarted after its istiod (see :func:`reconnect_proxies`)."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
    if fault == "istiod-down":
        # from a healthy mesh whose proxies took their config: they keep it while istiod is down
        restarted = apply_fault(bed, "healthy")
        bed.wait_ready()
        delete_pods(bed.client("cluster2"), "istio-system", "app=istiod")
        log.info("fault %s applied", fault)
        return restarted
    c1, c2 = bed.client("cluster1"), bed.client("cluster2")
    restarted = False
    one, two = bed.cluster("cluster1"), bed.cluster("cluster2")
    # the networks: all packets between the two clusters' pods and load balancers dropped, or none
    from . import network

    if fault == "firewall":
        one_ranges, two_ranges = (
            (network.pod_network(p.slot, p.index), f"{p.gateway_ip.rsplit('.', 1)[0]}.0/24")
            for p in (one, two)
        )
        bed.net.firewall([(a, b) for a in one_ranges for b in two_ranges])
    else:
        bed.net.firewall([])
    # cluster2's reader role binding: what cluster1's istiod may read there
    if fault == "reader-role-removed":
        delete(c2, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", None, READER_BINDING)
    else:
        _ensure(c2, _reader_binding(Path(bed.state["istio_manifests"])))
    # cluster1's secret for cluster2: missing, under the wrong key, at loopback, a revoked or expired
    # token, or right
    if fault == "missing-remote-secret":
        delete(c1, "v1", "Secret", "istio-system", "istio-remote-secret-cluster2")
    elif fault == "remote-secret-wrong-key":
        create(c1, remote_secret(bed, "cluster2", key="kubeconfig"))
    elif fault == "remote-secret-loopback":
        create(c1, remote_secret(bed, "cluster2", server=f"https://127.0.0.1:{two.api}"))
    elif fault == "remote-secret-revoked-token":
        _ensure(c2, _account(REVOKED_READER, "istio-system"))
        secret = remote_secret(bed, "cluster2", account=REVOKED_READER)
        delete(c2, "v1", "ServiceAccount", "istio-system", REVOKED_READER)  # its tokens die with it
        create(c1, secret)
    elif fault == "remote-secret-expired-token":
        create(c1, remote_secret(bed, "cluster2", token_text=expired_token(bed, "cluster2")))
    elif fault == "remote-secret-no-endpointslices":
        for manifest in _narrow_reader(Path(bed.state["istio_manifests"])):
            create(c2, manifest)
        create(c1, remote_secret(bed, "cluster2", account=NARROW_READER))
    else:
        _ensure_secret(bed, c1, "cluster2")
    if fault in CREDENTIAL_FAULTS:
        # A running istiod keeps serving what it read with the last credentials that worked (the
        # new ones only replace them once they sync): restarted, it starts from the broken secret, as
        # an istiod installed with it would (and as the simulated mesh models it).
        restart_pods(c1, "istio-system", "app=istiod")
        reconnect_proxies(c1)
        restarted = True
    # cluster2's cacerts: from the shared root, or another root with the same subject; a change of root
    # is what a user does: new cacerts, istiod restarted, then the workloads restarted
    which = "alt" if fault == "trust-mismatch" else "root"
    wanted = _secret("cacerts", _read_dir(bed.root / "istio-pki" / f"cluster2-{which}"))
    from kubernetes import client as k8s

    current = k8s.CoreV1Api(c2).read_namespaced_secret("cacerts", "istio-system").data
    if current != wanted["data"]:
        create(c2, wanted)
        restart_pods(c2, "istio-system", "app=istiod")
        _wait_for_root(c2, wanted["data"]["root-cert.pem"])
        restart_pods(c2, None, "security.istio.io/tlsMode=istio")
    # every pod of the world running (cluster2's istiod again, after istiod-down)
    for cluster in bed.state["clusters"]:
        made = _ensure_pods(bed, cluster)
        if any(pod["metadata"]["labels"].get("app") == "istiod" for pod in made):
            reconnect_proxies(bed.client(cluster))
            restarted = True
    # locality load balancing with outlier detection (DestinationRule in sample), both clusters
    locality = fault == "locality-prefer-local"
    for api in (c1, c2):
        create(api, _mesh_config(locality))
        if locality:
            rule = {
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": {"name": "helloworld", "namespace": "sample"},
                "spec": {
                    "host": "helloworld.sample.svc.cluster.local",
                    "trafficPolicy": {"outlierDetection": OUTLIER_DETECTION},
                },
            }
            create(api, rule)
        else:
            delete(api, "networking.istio.io/v1", "DestinationRule", "sample", "helloworld")
    log.info("fault %s applied", fault)
    return restarted


def _ensure(api, manifest: dict) -> bool:
    """Create ``manifest`` if it does not exist (leave it as it is if it does); True if it was made."""
    from kubernetes import dynamic

    resource = dynamic.DynamicClient(api).resources.get(
        api_version=manifest["apiVersion"], kind=manifest["kind"]
    )
    try:
        resource.get(name=manifest["metadata"]["name"], namespace=manifest["metadata"].get("namespace"))
    except Exception as exc:
        if getattr(exc, "status", None) != 404:
            raise
        create(api, manifest)
        return True
    return False


def _ensure_secret(bed, api, remote: str) -> None:
    """cluster's remote secret for ``remote`` as ``istioctl create-remote-secret`` writes it, made
    again only when it is not that (so that a healthy mesh is not made to resync)."""
    from kubernetes import client as k8s

    try:
        current = k8s.CoreV1Api(api).read_namespaced_secret(f"istio-remote-secret-{remote}", "istio-system")
    except k8s.ApiException as exc:
        if exc.status != 404:
            raise
        current = None
    if current is not None and list(current.data or {}) == [remote]:
        config = yaml.safe_load(base64.b64decode(current.data[remote]))
        server = config["clusters"][0]["cluster"]["server"]
        claims = _token_claims(config["users"][0]["user"].get("token", ""))
        if (
            server == bed.api_url(remote)
            and claims.get("sub") == f"system:serviceaccount:istio-system:{READER}"
            and claims.get("exp", 0) > time.time() + 3600
        ):
            return
    create(api, remote_secret(bed, remote))


def _token_claims(token: str) -> dict:
    """The claims of a service-account token (a JWT), read without verifying it ({} if none)."""
    try:
        return pki.token_claims(token)
    except ValueError:
        return {}


def _ensure_pods(bed, cluster: str) -> list[dict]:
    """Make each pod of the world in ``cluster`` that does not exist; returns the pods made."""
    api = bed.client(cluster)
    return [manifest for manifest in world_pods(bed, cluster) if _ensure(api, manifest)]


def _wait_for_root(api, root_b64: str, timeout: float = 60.0) -> None:
    """Wait until istiod has published the new root in istio-ca-root-cert (what new proxies get)."""
    from kubernetes import client as k8s

    root = base64.b64decode(root_b64).decode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = k8s.CoreV1Api(api).read_namespaced_config_map("istio-ca-root-cert", "sample").data or {}
        except k8s.ApiException:
            data = {}
        if data.get("root-cert.pem", "").strip() == root.strip():
            return
        time.sleep(0.3)
    raise RuntimeError(f"istiod did not publish its new root in {timeout:g}s")


def delete_pods(api, namespace: str | None, selector: str, timeout: float = 60.0) -> list[dict]:
    """Delete the pods ``selector`` picks and wait until they are gone; returns what they were."""
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(api)
    listed = (
        core.list_namespaced_pod(namespace, label_selector=selector)
        if namespace
        else core.list_pod_for_all_namespaces(label_selector=selector)
    ).items
    manifests = [{"apiVersion": "v1", "kind": "Pod", **api.sanitize_for_serialization(p)} for p in listed]
    for pod in listed:
        core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
    deadline = time.monotonic() + timeout
    for pod in listed:
        while time.monotonic() < deadline:
            try:
                core.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
            except k8s.ApiException as exc:
                if exc.status == 404:
                    break
                raise
            time.sleep(0.2)
    return manifests


def reconnect_proxies(api, timeout: float = 120.0) -> None:
    """Once the cluster's new istiod is Ready, restart the cluster's injected pods and gateway.

    A Deployment's rolling update keeps the old istiod serving until the new one is ready; the test
    bed's bare istiod pod cannot, so its proxies lose istiod for as long as it takes to become
    ready (30 s when a remote cluster cannot be read). pilot-agent's reconnect back-off grows
    meanwhile, and they would come back minutes later. Restarted, they connect at once.
    """
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod("istio-system", label_selector="app=istiod").items
        if any(c.type == "Ready" and c.status == "True" for p in pods for c in p.status.conditions or []):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"istiod was not Ready within {timeout:g}s")
    restart_pods(api, None, "security.istio.io/tlsMode=istio")


def restart_pods(api, namespace: str | None, selector: str) -> None:
    """``kubectl rollout restart`` for the test bed's bare pods: each deleted and made again as it was."""
    for manifest in delete_pods(api, namespace, selector):
        meta = manifest["metadata"]
        manifest["metadata"] = {
            k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta
        }
        manifest.pop("status", None)
        create(api, manifest)


def service_account_kubeconfig(bed, account: str, rules: list[dict], path: Path) -> Path:
    """A kubeconfig at ``path`` for service account ``meshnb/account`` in both clusters, bound to a
    ClusterRole with ``rules``, authenticating with real tokens: what a user with only that role has."""
    config = yaml.safe_load(bed.kubeconfig.read_text())
    config["users"] = []
    for context in config["contexts"]:
        name = context["name"]
        api = bed.client(name)
        role = f"{account}-role"
        for manifest in [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "meshnb"}},
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": account, "namespace": "meshnb"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
             "rules": rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": role},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
             "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "meshnb"}]},
        ]:  # fmt: skip
            create(api, manifest)
        user = {"token": token(bed, name, account, "meshnb", seconds=3600)}
        config["users"].append({"name": f"{name}-{account}", "user": user})
        context["context"]["user"] = f"{name}-{account}"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
