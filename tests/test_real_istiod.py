"""Real Istio on the test bed, as meshnb reads it: istiod (pilot-discovery 1.31-dev, built by
tests/testbed/build) in each cluster's istiod pod, real pilot-agent + Envoy sidecars and gateways.

cluster1's istiod reads cluster2 from its remote secret exactly as in production (a real token of
cluster2's istio-reader service account, bound to Istio's own reader role). What it says is read by
meshnb: its log through ``kubectl logs`` by ``read_istiod_log``, its ``/debug/clusterz`` and
``/debug/networkz`` by ``read_clusterz`` and ``read_networkz``; the sidecar's Envoy through
``pilot-agent request`` by ``read_endpoints``. The expected readings come from the world the test bed
laid out (cluster and secret names, pod IPs, the east-west gateway's address), not from meshnb.
"""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest
from testbed import istio

import meshnb
from meshnb.readers.istiod_log import current_failures

pytestmark = pytest.mark.testbed

SECRET = "istio-system/istio-remote-secret-cluster2"
HELLOWORLD = "outbound|5000||helloworld.sample.svc.cluster.local"


@pytest.fixture
def mesh(testbed):
    testbed.fault("healthy")
    with meshnb.connect(["cluster1", "cluster2"], kubeconfig=str(testbed.kubeconfig), timeout=10) as mesh:
        yield mesh


def test_meshnb_reads_what_a_real_istiod_says_of_its_remote_cluster(testbed, mesh):
    clusters = meshnb.read_clusterz(istio.request(testbed, "cluster1", "/debug/clusterz"), istiod="istiod")
    rows = clusters.set_index("cluster")
    assert rows.loc["cluster2", "status"] == "synced"
    # istiod's own cluster has no secret; cluster2 comes from cluster1's remote secret
    assert pd.isna(rows.loc["cluster1", "secret"]) and rows.loc["cluster2", "secret"] == SECRET

    cluster1 = mesh.clusters["cluster1"]
    pod = cluster1.list_pods("istio-system", "app=istiod")[0].name
    events = meshnb.read_istiod_log(cluster1.logs("istio-system", pod), cluster="cluster1")
    added = events[(events["event"] == "added") & (events["remote_cluster"] == "cluster2")]
    assert len(added) >= 1 and set(added["secret"]) == {SECRET}
    assert current_failures(events.to_dict("records")) == []

    gateways = meshnb.read_networkz(istio.request(testbed, "cluster1", "/debug/networkz"), istiod="istiod")
    remote = testbed.cluster("cluster2")
    row = gateways.set_index("network").loc[remote.network]
    assert (row["cluster"], row["address"], int(row["port"])) == ("cluster2", remote.gateway_ip, 15443)


def test_a_real_sidecar_holds_the_local_pod_and_the_remote_gateway(testbed, mesh):
    """The curl pod's real Envoy, through ``kubectl exec ... pilot-agent request GET clusters?format=json``
    (kwok's exec runs it in the pod's network namespace, where the admin port is)."""
    cluster1 = mesh.clusters["cluster1"]
    curl = cluster1.list_pods("sample", "app=curl")[0].name
    result = cluster1.exec("sample", curl, ["pilot-agent", "request", "GET", "clusters?format=json"])
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)  # the real Envoy's JSON
    hosts = meshnb.read_endpoints(result.stdout)
    hosts = hosts[hosts["envoy_cluster"] == HELLOWORLD]
    local = cluster1.list_pods("sample", "app=helloworld")[0]
    remote = testbed.cluster("cluster2")
    got = {(h.address, int(h.endpoint_port)): h.health for h in hosts.itertuples()}
    assert got == {(local.ip, 5000): "HEALTHY", (remote.gateway_ip, 15443): "HEALTHY"}


def _istioctl(testbed_bin, kubeconfig, *argv: str) -> str:
    from testbed.bed import ISTIO_VERSION

    result = subprocess.run(
        [str(testbed_bin / f"istioctl-{ISTIO_VERSION}"), f"--kubeconfig={kubeconfig}", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _table(text: str) -> list[list[str]]:
    """istioctl's table as rows of cells (the endpoint table's cells hold no spaces)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].split()[0] == "ENDPOINT", lines[0]
    return [line.split() for line in lines[1:]]


def test_istioctl_proxy_config_endpoint_and_meshnb_agree_row_for_row(testbed, testbed_bin, mesh):
    """For every proxy of both clusters, the real istioctl (through a real port-forward to its admin
    port) and meshnb (its reader on the same Envoy's JSON, through exec) list the same endpoints with
    the same status, outlier check and cluster."""
    proxies = 0
    for name, cluster in mesh.clusters.items():
        for namespace in ("sample", "istio-system"):
            for pod in cluster.list_pods(namespace):
                if "istio-proxy" not in pod.containers:
                    continue
                table = _istioctl(
                    testbed_bin, testbed.kubeconfig, f"--context={name}", "proxy-config", "endpoint",
                    f"{pod.name}.{namespace}",
                )  # fmt: skip
                theirs = sorted(tuple(row) for row in _table(table))
                answer = cluster.exec(
                    namespace,
                    pod.name,
                    ["pilot-agent", "request", "GET", "clusters?format=json"],
                    "istio-proxy",
                )
                hosts = meshnb.read_endpoints(answer.stdout)
                ours = sorted(  # istioctl prints a pipe as unix://PATH (clusters.go, retrieveEndpointAddress)
                    (
                        f"unix://{h.address}"
                        if pd.isna(h.endpoint_port)
                        else f"{h.address}:{h.endpoint_port}",
                        h.health,
                        h.outlier_check,
                        h.envoy_cluster,
                    )
                    for h in hosts.itertuples()
                )
                assert ours == theirs, (name, pod.name)
                assert any("helloworld" in row[3] for row in theirs) or namespace == "istio-system"
                proxies += 1
    assert proxies == 6  # curl, helloworld and the east-west gateway in each cluster


def test_istioctl_remote_clusters_and_istiods_clusterz_agree(testbed, testbed_bin, mesh):
    for name in mesh.clusters:
        text = _istioctl(testbed_bin, testbed.kubeconfig, f"--context={name}", "remote-clusters")
        theirs = meshnb.read_remote_clusters(text)
        ours = meshnb.read_clusterz(istio.request(testbed, name, "/debug/clusterz"), istiod="istiod")
        columns = ["cluster", "secret", "status"]
        assert (
            theirs[columns].fillna("").sort_values("cluster").values.tolist()
            == ours[columns].fillna("").sort_values("cluster").values.tolist()
        ), name
        assert set(theirs["status"]) == {"synced"}


def test_istiods_views_through_kubectl_exec_agree_with_istioctl_and_the_world(testbed, testbed_bin, mesh):
    """meshnb's own path to istiod's view (``pilot-discovery request GET /debug/...`` by exec in the
    ``discovery`` container, through the API server) reads all four views of each real istiod; they agree
    with ``istioctl remote-clusters`` and ``istioctl proxy-status -o json`` (istiod's view over xDS)
    and with the world the bed laid out (pod IPs, gateways)."""
    from meshnb.diagnostics.istiod_views import read_istiod

    for name, cluster in mesh.clusters.items():
        view = read_istiod(cluster)
        assert view.errors == [], view.errors
        istiod = cluster.list_pods("istio-system", "app=istiod")[0].name
        assert view.pods == [istiod]

        clusterz = view.frames["clusterz"]
        theirs = meshnb.read_remote_clusters(
            _istioctl(testbed_bin, testbed.kubeconfig, f"--context={name}", "remote-clusters")
        )
        columns = ["cluster", "secret", "status"]
        assert sorted(clusterz[columns].fillna("").values.tolist()) == sorted(
            theirs[columns].fillna("").values.tolist()
        )
        assert set(clusterz["istiod"]) == {istiod}

        proxies = {
            f"{pod.name}.{ns}"
            for ns in ("sample", "istio-system")
            for pod in cluster.list_pods(ns)
            if "istio-proxy" in pod.containers
        }
        syncz = view.frames["syncz"]
        assert set(syncz["proxy"]) == proxies
        status = meshnb.read_proxy_status(
            _istioctl(testbed_bin, testbed.kubeconfig, f"--context={name}", "proxy-status", "-o", "json")
        ).set_index("proxy")
        assert set(status.index) == proxies
        for row in syncz[syncz["type"].isin(["CDS", "LDS", "EDS"])].itertuples():
            assert status.loc[row.proxy, row.type.lower()] == row.status == "SYNCED", (row.proxy, row.type)

        shards = view.frames["endpoint_shards"]
        mine = shards[shards["service"] == "helloworld.sample.svc.cluster.local"]
        pods = {
            c: {p.ip for p in mesh.clusters[c].list_pods("sample", "app=helloworld")} for c in mesh.clusters
        }
        assert {c: set(g["address"]) for c, g in mine.groupby("shard_cluster")} == pods
        gateways = view.frames["networkz"].set_index("network")
        for other in mesh.clusters:
            world = testbed.cluster(other)
            assert gateways.loc[world.network, "address"] == world.gateway_ip

    secrets = meshnb.check_remote_secrets(mesh)
    assert secrets.status == "pass" and set(secrets.evidence["istiod_clusters"]["status"]) == {"synced"}
    endpoints = meshnb.check_endpoints(mesh)
    assert endpoints.status == "pass"
    held = endpoints.evidence["held"]
    assert (held["istiod_endpoints"] == 1).all() and (held["proxy_endpoints"] == 1).all()
    assert len(held) == 4 and held["gateway"].dropna().all()


def test_the_identity_check_on_real_istio_reads_what_the_bed_installed(testbed, mesh):
    """Cluster IDs as real istiod (``--clusterID``) and pilot-agent (``ISTIO_META_CLUSTER_ID``) say them
    through their debug views, the remote secrets' data keys, the namespace's network label and the
    gateway Service's load-balancer address, all as the bed laid them out."""
    finding = meshnb.check_identity(mesh)
    assert finding.status == "pass", finding.evidence["clusters"]["detail"].tolist()
    identity = finding.evidence["identity"].set_index("cluster")
    gateways = finding.evidence["gateways"].set_index("cluster")
    for name in mesh.clusters:
        world = testbed.cluster(name)
        row = identity.loc[name]
        assert (row["istiod_cluster_id"], row["proxy_cluster_ids"], row["secret_keys"]) == (name, name, name)
        assert (row["network"], row["trust_domain"]) == (world.network, "cluster.local")
        assert (gateways.loc[name, "network"], gateways.loc[name, "addresses"]) == (
            world.network,
            world.gateway_ip,
        )


def test_the_check_list_on_real_istio_is_all_green_and_says_what_istioctl_says(testbed, testbed_bin, mesh):
    """``meshnb check`` (the list) through the kubeconfig of the bed, as a person runs it: every check
    passes (the probe is only planned and no namespace is ambient: both skipped), exit 0; its
    remote-secrets line stands on the same istiod view as ``istioctl remote-clusters``, which says
    every remote cluster is synced."""
    import sys

    ran = subprocess.run(
        [sys.executable, "-m", "meshnb", "check", "--kubeconfig", str(testbed.kubeconfig),
         "--context", "cluster1", "--context", "cluster2", "--requests", "40", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, (ran.stdout[-2000:], ran.stderr[-2000:])
    assert "Traceback" not in ran.stderr
    listed = json.loads(ran.stdout)
    marks = {row["check"]: row["mark"] for row in listed["checks"]}
    skipped = ("connectivity", "ambient")  # the probe planned only; no namespace in ambient mode here
    assert marks == {name: "-" if name in skipped else "√" for name in meshnb.CHECKS}, marks
    for name in mesh.clusters:
        text = _istioctl(testbed_bin, testbed.kubeconfig, f"--context={name}", "remote-clusters")
        assert set(meshnb.read_remote_clusters(text)["status"]) == {"synced"}


def test_a_second_real_gateway_service_is_seen_by_istiod_and_the_identity_check(testbed, mesh):
    """A second Service labelled for cluster2's network, listening on 15443, with an external IP (the
    address is TEST-NET-1's, reachable by no one): real istiod in both clusters adds it to its
    ``/debug/networkz``; the identity check warns for cluster2 with both Services named."""
    import time

    from kubernetes import client as k8s

    from meshnb.diagnostics.istiod_views import read_istiod

    core = k8s.CoreV1Api(testbed.client("cluster2"))
    second = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "istio-eastwestgateway-second",
            "namespace": "istio-system",
            "labels": {"topology.istio.io/network": testbed.cluster("cluster2").network},
        },
        "spec": {
            "selector": {"app": "no-such-gateway"},
            "ports": [{"name": "tls", "port": 15443}],
            "externalIPs": ["192.0.2.10"],
        },
    }
    core.create_namespaced_service("istio-system", second)
    try:
        deadline = time.monotonic() + 30
        while True:
            known = read_istiod(mesh.clusters["cluster2"], ["/debug/networkz"]).frames["networkz"]
            if "192.0.2.10" in set(known["address"]) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "192.0.2.10" in set(known["address"]), known
        finding = meshnb.check_identity(mesh)
        row = finding.evidence["clusters"].set_index("cluster").loc["cluster2"]
        assert (row["status"], row["reason"]) == ("warn", "several-gateways"), row["detail"]
        assert "istio-eastwestgateway-second" in row["detail"]
        gateways = finding.evidence["gateways"]
        assert "192.0.2.10" in set(gateways["addresses"])
    finally:
        core.delete_namespaced_service("istio-eastwestgateway-second", "istio-system")
