"""istiod's side of the simulated mesh: the remote secrets it reads, and the log it writes about them.

A remote secret is as ``istioctl create-remote-secret | kubectl apply -f -`` leaves it; istiod adds
the remote cluster only when the secret's data key is the cluster's name, and logs either way.

>>> print(log("cluster1", {"cluster2": "kubeconfig"}).splitlines()[3].split("\\t")[1])
error
"""  # noqa: D414 - the doctest's expected output "error" reads as a section name

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

from meshnb.backends.base import KeysOnly, Secret, SecretData
from meshnb.backends.sim.pki import SimPKI

__all__ = ["CLUSTER_ANNOTATION", "LAST_APPLIED_ANNOTATION", "MULTICLUSTER_LABEL", "log", "remote_secret"]

MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def remote_secret(pki: SimPKI, remote: str, key: str, api_server: str) -> Secret:
    """The remote secret for ``remote`` (its kubeconfig under data key ``key``), as applied."""
    name, labels = f"istio-remote-secret-{remote}", {MULTICLUSTER_LABEL: "true"}
    annotations = {CLUSTER_ANNOTATION: remote}
    kubeconfig = pki.kubeconfig(remote, api_server)
    # as `istioctl create-remote-secret | kubectl apply -f -` leaves it: the manifest applied, token
    # and all, in kubectl's annotation (sorted compact JSON and a newline, as kubectl writes it)
    applied = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "annotations": annotations,
            "creationTimestamp": None,
            "labels": labels,
            "name": name,
            "namespace": "istio-system",
        },
        "stringData": {key: kubeconfig.decode()},
    }
    return Secret(
        name=name,
        namespace="istio-system",
        labels=KeysOnly(labels),
        annotations=KeysOnly(
            {
                **annotations,
                LAST_APPLIED_ANNOTATION: json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n",
            }
        ),
        data=SecretData({key: kubeconfig}),
    )


def log(owner: str, keys: Mapping[str, str | None]) -> str:
    """istiod's log in ``owner``, in Istio's line format.

    It follows from the data key of ``owner``'s remote secret for each other cluster (``keys``, in
    cluster order; None: no such secret).
    """
    base = dt.datetime(2026, 11, 28, 9, 0, 0, tzinfo=dt.UTC)
    lines = []

    def line(seconds: float, level: str, scope: str, message: str) -> None:
        stamp = (base + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # the default scope has no field (istio.io/pkg/log, then pkg/log: Scope.nameToEmit is empty)
        lines.append(f"{stamp}\t{level}\t{scope}\t{message}" if scope else f"{stamp}\t{level}\t{message}")

    line(0.0, "info", "", f"FLAG: --clusterID={json.dumps(owner)}")  # pkg/cmd: Infof("FLAG: --%s=%q", ...)
    line(0.4, "info", "kube", f"Initializing Kubernetes service registry {json.dumps(owner)}")  # %q
    added = 0
    for offset, (remote, key) in enumerate(keys.items()):
        if key is None:
            continue
        name = f"istio-system/istio-remote-secret-{remote}"
        when = 1.0 + offset
        # the secret controller logs in the default scope (pkg/kube/multicluster imports pkg/log's)
        line(when, "info", "", f"processing secret event for secret {name}")
        if key == remote:
            line(when + 0.1, "info", "", f"Add cluster\tcluster={remote} secret={name}")  # 1.22 on
            added += 1
        else:
            line(
                when + 0.1,
                "error",
                "",
                f"Add cluster: create remote cluster failed: data key {key!r} is not the name of "
                f"the cluster in annotation {CLUSTER_ANNOTATION}={remote}\tcluster={key} secret={name}",
            )
    line(5.0, "info", "", f"Number of remote clusters: {added}")
    line(5.1, "info", "ads", "All caches have been synced up in 5.1s, marking server ready")
    return "\n".join(lines) + "\n"
