"""The identity check: cluster IDs, mesh ID, trust domain, networks and east-west gateways agree across
clusters (issue 17, point 3). On the simulated mesh, with Python fakes of single answers for the faults
it does not model; the kube backend's read of a namespace is in tests/test_backend_contract.py and the
real istiods' view in tests/test_real_istiod.py."""

from __future__ import annotations

import dataclasses
import json
import types

import pytest

import meshnb
from meshnb.diagnostics.identity import check_identity
from meshnb.diagnostics.triage import triage


class _Fake:
    """A simulated cluster with some answers replaced."""

    def __init__(self, cluster, **answers):
        self._cluster, self._answers = cluster, answers

    def __getattr__(self, name):
        if name in self._answers:
            return self._answers[name]
        return getattr(self._cluster, name)


def _rows(finding):
    return finding.evidence["clusters"].set_index("cluster")


def _replace(mesh, name, **answers):
    mesh.clusters[name] = _Fake(mesh.clusters[name], **answers)
    return mesh


def test_a_healthy_mesh_agrees_on_every_name():
    finding = check_identity(meshnb.simulate())
    assert finding.status == "pass" and finding.details["multi_network"]
    identity = finding.evidence["identity"].set_index("cluster")
    assert identity.loc["cluster1"].tolist() == [
        "cluster1", "cluster1", "cluster1", "cluster.local", "cluster.local", "network1"
    ]  # fmt: skip
    gateways = finding.evidence["gateways"]
    assert gateways[["cluster", "network", "addresses"]].values.tolist() == [
        ["cluster1", "network1", "172.18.1.100"],
        ["cluster2", "network2", "172.18.2.100"],
    ]


def test_a_second_gateway_on_a_network_warns_and_triage_names_it():
    finding = check_identity(meshnb.simulate("second-gateway"))
    row = _rows(finding).loc["cluster2"]
    assert (row["status"], row["reason"]) == ("warn", "several-gateways")
    assert "istio-eastwestgateway and istio-eastwestgateway-2" in row["detail"]
    assert "get svc -l topology.istio.io/network" in finding.next_steps[0]
    cause = triage(meshnb.simulate("second-gateway"), requests=20).diagnosis.causes[0]
    assert (cause.key, cause.clusters) == ("several-gateways", ("cluster2",))


def test_a_secret_under_another_key_than_istiods_cluster_id():
    finding = check_identity(meshnb.simulate("remote-secret-wrong-key"))
    row = _rows(finding).loc["cluster2"]
    assert (row["status"], row["reason"]) == ("fail", "cluster-id-mismatch")
    assert (
        "cluster1's remote secret names it 'kubeconfig', but its istiod's CLUSTER_ID is 'cluster2'"
        in (row["detail"])
    )
    # triage says it once: the remote-secrets cause already names the key
    keys = [c.key for c in triage(meshnb.simulate("remote-secret-wrong-key"), requests=20).diagnosis.causes]
    assert keys == ["remote-secret-key"]


def test_a_proxy_with_another_cluster_id():
    mesh = meshnb.simulate()
    c2 = mesh.clusters["cluster2"]

    def exec_(namespace, pod, argv, container=None, timeout=30.0):
        result = c2.exec(namespace, pod, argv, container, timeout)
        if argv[-1] != "/debug/syncz":
            return result
        rows = json.loads(result.stdout)
        rows[0]["cluster_id"] = "Kubernetes"  # Istio's default: a proxy installed without the name
        return dataclasses.replace(result, stdout=json.dumps(rows))

    finding = check_identity(_replace(mesh, "cluster2", exec=exec_))
    row = _rows(finding).loc["cluster2"]
    assert (row["status"], row["reason"]) == ("fail", "proxy-cluster-id")
    assert "ISTIO_META_CLUSTER_ID 'Kubernetes', not istiod's 'cluster2'" in row["detail"]
    cause = triage(mesh, requests=20).diagnosis.causes[0]
    assert (cause.key, cause.clusters) == ("proxy-cluster-id", ("cluster2",))
    assert "istioctl --context=cluster2 remote-clusters" in cause.next_step


@pytest.mark.parametrize(
    ("mesh_config", "reason"),
    [
        ("defaultConfig:\n  meshId: other-mesh\n", "mesh-id-mismatch"),
        # the mesh ID defaults to the trust domain: kept, so only the trust domain differs
        ("trustDomain: other.local\ndefaultConfig:\n  meshId: cluster.local\n", "trust-domain-mismatch"),
    ],
)
def test_the_odd_cluster_out_on_mesh_id_and_trust_domain(mesh_config, reason):
    mesh = meshnb.simulate(clusters=3)
    mesh = _replace(mesh, "cluster3", read_config_map=lambda ns, name: {"mesh": mesh_config})
    finding = check_identity(mesh)
    assert _rows(finding)["reason"].tolist() == ["ok", "ok", reason]
    assert "the others: " in _rows(finding).loc["cluster3", "detail"]
    assert "get configmap istio -o yaml" in finding.next_steps[0]


def test_an_unlabelled_system_namespace_in_a_multi_network_mesh():
    mesh = _replace(meshnb.simulate(), "cluster2", namespace_labels=lambda name: {})
    row = _rows(check_identity(mesh)).loc["cluster2"]
    assert (row["status"], row["reason"]) == ("fail", "network-unlabelled")


def test_gateways_without_an_address_or_with_only_a_host_name():
    mesh = meshnb.simulate()
    c2 = mesh.clusters["cluster2"]

    def services(addresses):
        def list_services(namespace, label_selector=None):
            return [
                dataclasses.replace(s, external_addresses=addresses) if "eastwest" in s.name else s
                for s in c2.list_services(namespace, label_selector)
            ]

        return list_services

    row = _rows(check_identity(_replace(mesh, "cluster2", list_services=services(())))).loc["cluster2"]
    assert (row["status"], row["reason"]) == ("fail", "gateway-no-address")
    mesh = meshnb.simulate()
    c2 = mesh.clusters["cluster2"]
    lb = ("a1b2.elb.us-west-2.amazonaws.com",)
    row = _rows(check_identity(_replace(mesh, "cluster2", list_services=services(lb)))).loc["cluster2"]
    assert (row["status"], row["reason"]) == ("warn", "gateway-hostname")
    assert "RESOLVE_HOSTNAME_GATEWAYS" in row["detail"]


def test_one_network_needs_no_gateway():
    mesh = meshnb.simulate()
    mesh = _replace(mesh, "cluster2", namespace_labels=lambda name: {"topology.istio.io/network": "network1"})
    c2 = mesh.clusters["cluster2"]._cluster
    mesh = _replace(
        mesh, "cluster2", list_services=lambda namespace, label_selector=None: [
            s for s in c2.list_services(namespace, label_selector) if "eastwest" not in s.name
        ]
    )  # fmt: skip
    finding = check_identity(mesh)
    assert finding.status == "pass" and not finding.details["multi_network"]
    assert "one network" in finding.summary


def test_a_cluster_meshnb_names_otherwise_than_istiod():
    world = meshnb.simulate()

    renamed = types.SimpleNamespace(
        clusters={"east": world.clusters["cluster1"], "west": world.clusters["cluster2"]}
    )
    rows = _rows(check_identity(renamed))
    assert rows["reason"].tolist() == ["cluster-name-differs", "cluster-name-differs"]
    assert "istiod calls this cluster 'cluster1', meshnb 'east'" in rows.loc["east", "detail"]


def test_an_unreachable_cluster_is_an_error_row_and_istiods_absence_is_said():
    rows = _rows(check_identity(meshnb.simulate(unreachable="cluster2")))
    assert rows.loc["cluster2", "status"] == "error" and rows.loc["cluster1", "status"] == "pass"
    rows = _rows(check_identity(meshnb.simulate("istiod-down")))
    assert (rows.loc["cluster2", "status"], rows.loc["cluster2", "reason"]) == ("warn", "not-read")
    assert "no istiod pod" in rows.loc["cluster2", "detail"]


NETWORKS = """networks:
  network1:
    endpoints: [{fromRegistry: cluster1}]
    gateways: [{registryServiceName: istio-eastwestgateway.istio-system.svc.cluster.local, port: 15443}]
  network2:
    endpoints: [{fromRegistry: cluster2}]
    gateways: [{registryServiceName: istio-eastwestgateway.istio-system.svc.cluster.local, port: 15443}]
"""


def _with_mesh_networks(texts):
    mesh = meshnb.simulate()
    for name, text in texts.items():
        real = mesh.clusters[name]
        mesh = _replace(mesh, name, read_config_map=lambda ns, cm, real=real, text=text: {
            **real.read_config_map(ns, cm), "meshNetworks": text
        })  # fmt: skip
    return check_identity(mesh)


def test_mesh_networks_the_same_everywhere_and_as_the_labels_say_pass():
    assert _with_mesh_networks({"cluster1": NETWORKS, "cluster2": NETWORKS}).status == "pass"


def test_mesh_networks_that_differ_between_clusters_warn():
    other = NETWORKS.replace("network2:", "network-b:")
    rows = _rows(_with_mesh_networks({"cluster1": NETWORKS, "cluster2": other}))
    assert rows["reason"].tolist() == ["mesh-networks-differ", "mesh-networks-differ"]
    assert "every istiod must map the clusters to the same networks" in rows.loc["cluster1", "detail"]


def test_mesh_networks_that_put_a_cluster_on_another_network_than_its_label_warn():
    swapped = NETWORKS.replace("fromRegistry: cluster1", "fromRegistry: X").replace(
        "fromRegistry: cluster2", "fromRegistry: cluster1"
    )
    finding = _with_mesh_networks({"cluster1": swapped, "cluster2": swapped})
    row = _rows(finding).loc["cluster1"]
    assert (row["status"], row["reason"]) == ("warn", "network-label-differs")
    assert (
        "meshNetworks puts its registry (cluster1) on 'network2', its istio-system label says 'network1'"
        in (row["detail"])
    )
    assert "jsonpath={.data.meshNetworks}" in finding.next_steps[0]
