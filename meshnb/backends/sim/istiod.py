"""istiod's side of the simulated mesh: the remote secrets it reads, and the log it writes about them.

A remote secret is as ``istioctl create-remote-secret | kubectl apply -f -`` leaves it; istiod adds
the remote cluster under the secret's data key, whatever the annotation says (as real istiod 1.31
does on the test bed), and logs as 1.31 does.

>>> log("cluster1", {"cluster2": "kubeconfig"}).splitlines()[3].split("\\t")[2:]
['Add cluster', 'cluster=kubeconfig config=istio-system/istio-remote-secret-cluster2']
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

from meshnb.backends.base import KeysOnly, Secret, SecretData
from meshnb.backends.sim.pki import READER, SimPKI

__all__ = ["CLUSTER_ANNOTATION", "LAST_APPLIED_ANNOTATION", "MULTICLUSTER_LABEL", "log", "remote_secret"]

MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def remote_secret(
    pki: SimPKI, remote: str, key: str, api_server: str, *, expired: bool = False, account: str = READER
) -> Secret:
    """The remote secret for ``remote`` (its kubeconfig under data key ``key``), as applied.

    With ``expired``, its token's lifetime is over; ``account`` is the service account whose token it is.
    """
    name, labels = f"istio-remote-secret-{remote}", {MULTICLUSTER_LABEL: "true"}
    annotations = {CLUSTER_ANNOTATION: remote}
    kubeconfig = pki.kubeconfig(remote, api_server, expired=expired, account=account)
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


def log(
    owner: str,
    keys: Mapping[str, str | None],
    failing: Mapping[str, str] | None = None,
    started: dt.datetime = dt.datetime(2026, 11, 28, 9, 0, 0, tzinfo=dt.UTC),
) -> str:
    """istiod's log in ``owner``, in Istio's line format, from istiod's start (``started``) on.

    It follows from the data key of ``owner``'s remote secret for each other cluster (``keys``, in
    cluster order; None: no such secret) and the clusters it cannot read (``failing``: the watch error
    its informers report, "" for none), which time out after istiod's 30 s.

    >>> log("cluster1", {"cluster2": "cluster2"}).splitlines()[0]
    '2026-11-28T09:00:00.000000Z\\tinfo\\tFLAG: --clusterID="cluster1"'
    """
    failing = failing or {}
    lines = []

    def line(seconds: float, level: str, scope: str, message: str) -> None:
        stamp = (started + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
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
        # the secret controller logs in the default scope (pkg/kube/multicluster imports pkg/log's),
        # from 1.30 with the secret as config=
        line(when, "info", "", f"processing remote config event for {name}")
        line(when + 0.1, "info", "", f"Add cluster\tcluster={key} config={name}")
        added += 1
        if remote in failing:
            if failing[remote]:  # pilot/pkg/util/informermetric: each failed list, default scope
                for retry in (0.2, 1.4, 3.9):
                    line(when + retry, "error", "", f"watch error in cluster {key}: {failing[remote]}")
            # pkg/kube/multicluster/cluster.go, after features.RemoteClusterTimeout (30 s)
            line(when + 30.1, "error", "", f"remote cluster {key} failed to sync after 30s")
    line(5.0, "info", "", f"Number of remote clusters: {added}")
    line(5.1, "info", "ads", "All caches have been synced up in 5.1s, marking server ready")
    return "\n".join(sorted(lines)) + "\n"  # in time order (the timeouts come last)
