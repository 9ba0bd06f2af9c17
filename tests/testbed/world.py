"""The guide's world on the test bed's API servers, and the faults that break it.

Everything is made through the API as a user's clusters would have it: namespaces, nodes with
locality labels, Running pods (kwok), services, the mesh config, the DestinationRule CRD, ``cacerts``
and remote secrets whose kubeconfigs carry a real service-account token of the other cluster.
"""

from __future__ import annotations

import base64
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
FAULTS = (
    "healthy",
    "missing-remote-secret",
    "remote-secret-wrong-key",
    "trust-mismatch",
    "locality-prefer-local",
)
OUTLIER_DETECTION = {"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "30s"}


def _suffix(*parts: str, length: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def _pod(
    cluster: str, namespace: str, app: str, labels: dict, containers: list[str], node: str, version=None
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
    annotations = (
        {"sidecar.istio.io/status": "{}"}
        if "istio-proxy" in containers and app != "istio-eastwestgateway"
        else {}
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, "pod-template-hash": template},
            "annotations": annotations,
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": c, "image": images[c]} for c in containers],
        },
    }


def _service(
    name: str, namespace: str, labels: dict, ports: list[int], kind: str = "ClusterIP", selector=None
):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "type": kind,
            "selector": selector or {"app": labels["app"]},
            "ports": [{"name": f"p{port}", "port": port} for port in ports],
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


def _istio_crds(manifests: Path) -> list[dict]:
    """Istio's CRDs as its base chart installs them (the module's ``crd-all.gen.yaml``)."""
    with open(manifests / "crd-all.gen.yaml", encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


#: The reader role's template, as Helm renders it with the default values (``istiodRemote`` off).
_MCS_GROUP = "multicluster.x-k8s.io"


def _reader_rules(manifests: Path) -> list[dict]:
    """The rules of Istio's ``istio-reader-clusterrole`` (the module's Helm template, rendered).

    The template's rules are plain YAML but for the MCS API group and the ``istiodRemote`` block.
    """
    text = (manifests / "reader-clusterrole.yaml").read_text(encoding="utf-8")
    _head, found, rest = text.partition("\nrules:\n")
    remote = rest.find("{{- if .Values.istiodRemote.enabled }}")
    if not found or remote < 0 or "{{ $mcsAPIGroup }}" not in rest:
        raise RuntimeError(f"{manifests / 'reader-clusterrole.yaml'} is not the template the test bed knows")
    rules = yaml.safe_load(rest[:remote].replace("{{ $mcsAPIGroup }}", _MCS_GROUP))
    if not isinstance(rules, list) or "{{" in repr(rules):
        raise RuntimeError("Istio's reader role did not render")
    return rules


def _reader_rbac(manifests: Path) -> list[dict]:
    """Istio's reader: the service account istioctl create-remote-secret's token is for, and its role."""
    rules = _reader_rules(manifests)
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": READER, "namespace": "istio-system"},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "istio-reader-clusterrole-istio-system"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "istio-reader-clusterrole-istio-system"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "istio-reader-clusterrole-istio-system",
            },
            "subjects": [{"kind": "ServiceAccount", "name": READER, "namespace": "istio-system"}],
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
            *_reader_rbac(manifests),
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
        version = f"v{ports.index}"
        gw_labels = {
            "app": "istio-eastwestgateway",
            "istio": "eastwestgateway",
            "topology.istio.io/network": ports.network,
        }
        objects += [
            _pod(
                name, "istio-system", "istiod", {"app": "istiod", "istio": "pilot"}, ["discovery"], nodes[0]
            ),
            _pod(name, "istio-system", "istio-eastwestgateway", gw_labels, ["istio-proxy"], nodes[1]),
            _pod(name, "sample", "curl", {"app": "curl"}, ["curl", "istio-proxy"], nodes[0]),
            _pod(
                name,
                "sample",
                "helloworld",
                {"app": "helloworld", "version": version},
                ["helloworld", "istio-proxy"],
                nodes[1],
                version,
            ),
            _service("istiod", "istio-system", {"app": "istiod"}, [15010, 15012, 443]),
            _service(
                "istio-eastwestgateway",
                "istio-system",
                gw_labels,
                [15021, 15443, 15012, 15017],
                "LoadBalancer",
                {"istio": "eastwestgateway"},
            ),
            _service("helloworld", "sample", {"app": "helloworld", "service": "helloworld"}, [5000]),
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


def remote_secret(bed, remote: str, key: str | None = None) -> dict:
    """``istioctl create-remote-secret --name=remote``: a kubeconfig for ``remote`` under data key ``key``."""
    ca = base64.b64encode((bed.dir(remote) / "pki" / "ca.crt").read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": remote, "cluster": {"certificate-authority-data": ca, "server": bed.api_url(remote)}}
        ],
        "contexts": [{"name": remote, "context": {"cluster": remote, "user": remote}}],
        "current-context": remote,
        "preferences": {},
        "users": [{"name": remote, "user": {"token": token(bed, remote)}}],
    }
    return _secret(
        f"istio-remote-secret-{remote}",
        {key or remote: yaml.safe_dump(config, sort_keys=False).encode()},
        labels={MULTICLUSTER_LABEL: "true"},
        annotations={CLUSTER_ANNOTATION: remote},
    )


def apply_fault(bed, fault: str) -> None:
    """Make the API objects of ``fault`` (one of FAULTS); every other fault is healed."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
    c1, c2 = bed.client("cluster1"), bed.client("cluster2")
    # cluster1's secret for cluster2: missing, under the wrong key, or right
    if fault == "missing-remote-secret":
        delete(c1, "v1", "Secret", "istio-system", "istio-remote-secret-cluster2")
    else:
        key = "kubeconfig" if fault == "remote-secret-wrong-key" else None
        create(c1, remote_secret(bed, "cluster2", key))
    # cluster2's cacerts: from the shared root, or from another root with the same subject
    which = "alt" if fault == "trust-mismatch" else "root"
    create(c2, _secret("cacerts", _read_dir(bed.root / "istio-pki" / f"cluster2-{which}")))
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
