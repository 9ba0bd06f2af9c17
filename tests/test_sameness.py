"""Sameness: the service, its ports and the Istio config that applies to it, the same in every cluster."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

import meshnb
from meshnb.backends.base import PortSpec
from meshnb.cli import main
from meshnb.diagnostics.diagnosis import diagnose
from meshnb.diagnostics.finding import Finding
from meshnb.diagnostics.sameness import applies, check_sameness, differences, host_matches, normalised
from meshnb.errors import Forbidden, NotFound
from meshnb.schemas import REASONS

FIELD = "spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection"


@pytest.mark.parametrize(
    ("host", "rule_namespace", "expected"),
    [
        ("helloworld", "sample", True),  # short: helloworld.sample.svc.cluster.local
        ("helloworld", "istio-system", False),  # short, in another namespace: another service
        ("helloworld.sample.svc.cluster.local", "istio-system", True),
        ("helloworld.sample", "sample", False),  # a dot: taken as it is, as istiod does
        ("*", "sample", True),
        ("*.sample.svc.cluster.local", "sample", True),
        ("*.cluster.local", "istio-system", True),
        ("*.other.svc.cluster.local", "sample", False),
        ("hello", "sample", False),
        ("helloworld.sample.svc.cluster.local.evil", "sample", False),
    ],
)
def test_hosts_match_as_istiod_resolves_them(host, rule_namespace, expected):
    assert host_matches(host, "helloworld", "sample", rule_namespace) is expected


def _obj(kind, namespace, spec, name="x"):
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}


PODS = [{"app": "helloworld", "version": "v1"}, {"app": "helloworld", "version": "v2"}]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (_obj("VirtualService", "sample", {"hosts": ["other", "helloworld"]}), "host helloworld"),
        (_obj("VirtualService", "sample", {"hosts": ["other"]}), None),
        (_obj("DestinationRule", "sample", {"host": "other.sample.svc.cluster.local"}), None),
        (_obj("Sidecar", "sample", {}), "namespace-wide"),
        (_obj("Sidecar", "istio-system", {}), "mesh-wide"),
        (_obj("Sidecar", "other", {}), None),
        (_obj("Sidecar", "sample", {"workloadSelector": {"labels": {"version": "v2"}}}),
         "selects version=v2"),
        (_obj("Sidecar", "sample", {"workloadSelector": {"labels": {"app": "curl"}}}), None),
        (_obj("PeerAuthentication", "sample", {"selector": {"matchLabels": {"app": "helloworld"}}}),
         "selects app=helloworld"),
        (_obj("PeerAuthentication", "istio-system", {"selector": {"matchLabels": {"app": "helloworld"}}}),
         None),
        (_obj("PeerAuthentication", "istio-system", {"mtls": {"mode": "STRICT"}}), "mesh-wide"),
    ],
)  # fmt: skip
def test_what_applies_to_the_service(obj, expected):
    assert applies(obj, "helloworld", "sample", PODS) == expected


def test_metadata_that_always_differs_is_not_compared():
    a = {
        "apiVersion": "networking.istio.io/v1",
        "metadata": {
            "name": "helloworld",
            "uid": "a",
            "resourceVersion": "1",
            "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
        },
        "spec": {"host": "helloworld"},
        "status": {"observedGeneration": 3},
    }
    b = {**a, "metadata": {"name": "helloworld", "uid": "b", "resourceVersion": "9"}, "status": {}}
    assert differences({"c1": normalised(a), "c2": normalised(b)}) == []
    # a label or an annotation of one's own is compared
    c = {**b, "metadata": {**b["metadata"], "labels": {"team": "x"}}}
    assert differences({"c1": normalised(a), "c2": normalised(c)}) == [
        ("metadata.labels.team", {"c1": "absent", "c2": "x"})
    ]


def test_the_diff_names_each_field_with_each_cluster_s_value():
    a = {"spec": {"host": "h", "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}}}}
    b = {"spec": {"host": "h", "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 7}}}}
    assert differences({"c1": a, "c2": b, "c3": "not installed"}) == [
        ("spec.host", {"c1": "h", "c2": "h", "c3": "not installed"}),
        ("spec.trafficPolicy.loadBalancer.simple",
         {"c1": "LEAST_REQUEST", "c2": "absent", "c3": "not installed"}),
        (
            "spec.trafficPolicy.outlierDetection.consecutive5xxErrors",
            {"c1": "absent", "c2": "7", "c3": "not installed"},
        ),
    ]  # fmt: skip
    lists = differences({"c1": {"spec": {"hosts": ["a", "b"]}}, "c2": {"spec": {"hosts": ["a"]}}})
    assert lists == [("spec.hosts[1]", {"c1": "b", "c2": "absent"})]


def test_a_healthy_mesh_passes_with_the_ports_read():
    finding = check_sameness(meshnb.simulate())
    assert finding.status == "pass", finding.summary
    clusters = finding.evidence["clusters"]
    assert list(clusters["reason"]) == ["ok", "ok"] and list(clusters["ports"]) == ["5000/http"] * 2
    assert finding.evidence["drift"].empty and finding.next_steps == []
    ports = finding.evidence["ports"]
    assert ports[["cluster", "port", "name", "protocol"]].values.tolist() == [
        ["cluster1", 5000, "http", "TCP"],
        ["cluster2", 5000, "http", "TCP"],
    ]


def test_the_same_destination_rule_in_every_cluster_passes():
    finding = check_sameness(meshnb.simulate(lb_policy="ROUND_ROBIN"))
    assert finding.status == "pass"
    assert finding.evidence["clusters"]["objects"].tolist() == [1, 1]
    config = finding.evidence["config"]
    assert config[["cluster", "kind", "name", "state"]].values.tolist() == [
        ["cluster1", "DestinationRule", "helloworld", "host helloworld.sample.svc.cluster.local"],
        ["cluster2", "DestinationRule", "helloworld", "host helloworld.sample.svc.cluster.local"],
    ]


def test_the_drifted_destination_rule_scenario_warns_with_the_field():
    mesh = meshnb.simulate("drifted-destination-rule")
    finding = check_sameness(mesh)
    assert finding.status == "warn"
    clusters = finding.evidence["clusters"]
    assert set(clusters["reason"]) == {"config-drift"} and set(clusters["reason"]) <= set(REASONS)
    assert FIELD in clusters.set_index("cluster").loc["cluster2", "detail"]
    drift = finding.evidence["drift"]
    assert drift[["kind", "namespace", "name", "field", "cluster", "value"]].values.tolist() == [
        ["DestinationRule", "sample", "helloworld", FIELD, "cluster1", "absent"],
        ["DestinationRule", "sample", "helloworld", FIELD, "cluster2", "1"],
    ]
    assert "DestinationRule sample/helloworld differs between cluster1 and cluster2" in finding.headline
    (step,) = finding.next_steps
    for cluster in mesh.clusters:
        assert f"`kubectl --context={cluster} -n sample get destinationrule helloworld -o yaml`" in step
        assert f"`kubectl --context={cluster} -n sample apply -f" in step
    # the data plane is not changed by the drift: traffic still crosses, and triage names no cause
    assert meshnb.check_load_balancing(mesh, requests=30).status == "pass"


def test_ports_that_differ_warn_with_what_differs(monkeypatch):
    mesh = meshnb.simulate()
    cluster = mesh.clusters["cluster2"]
    original = cluster.list_services

    def renamed(namespace, label_selector=None):
        return [
            dataclasses.replace(s, port_specs=(PortSpec(5000, "tcp-hello", app_protocol="tcp"),))
            if s.name == "helloworld"
            else s
            for s in original(namespace, label_selector)
        ]

    monkeypatch.setattr(cluster, "list_services", renamed)
    finding = check_sameness(mesh)
    assert finding.status == "warn"
    clusters = finding.evidence["clusters"].set_index("cluster")
    assert clusters["reason"].tolist() == ["port-drift", "port-drift"]
    assert "port 5000's name is 'tcp-hello' here, 'http' in cluster1" in clusters.loc["cluster2", "detail"]
    assert "appProtocol is '(none)' here, 'tcp' in cluster2" in clusters.loc["cluster1", "detail"]
    assert clusters.loc["cluster2", "ports"] == "5000/tcp-hello appProtocol=tcp"
    assert any("jsonpath={.spec.ports}" in step for step in finding.next_steps)


def _without_helloworld(monkeypatch, mesh, name):
    cluster = mesh.clusters[name]
    original = cluster.list_services
    monkeypatch.setattr(
        cluster,
        "list_services",
        lambda namespace, label_selector=None: [
            s for s in original(namespace, label_selector) if s.name != "helloworld"
        ],
    )


def test_a_service_missing_in_a_cluster_that_runs_its_pods_fails(monkeypatch):
    mesh = meshnb.simulate()
    _without_helloworld(monkeypatch, mesh, "cluster2")
    finding = check_sameness(mesh)
    assert finding.status == "fail"
    row = finding.evidence["clusters"].set_index("cluster").loc["cluster2"]
    assert row["reason"] == "service-missing" and row["pods"] == 1
    assert "no Service helloworld in sample (cluster1 has it)" in row["detail"]
    assert "endpoints of no Service" in row["detail"]
    assert finding.headline == "cluster2 has no Service helloworld in sample"
    assert "`kubectl --context=cluster2 -n sample apply -f helloworld.yaml`" in finding.next_steps[0]


def test_a_kind_not_installed_is_said_and_is_no_failure(monkeypatch):
    mesh = meshnb.simulate("drifted-destination-rule")
    cluster = mesh.clusters["cluster1"]
    original = cluster.list_custom_objects

    def without_sidecars(group, version, namespace, plural):
        if plural in ("sidecars", "destinationrules"):
            raise NotFound(
                "cluster1", f"{plural}.{group} in namespace {namespace}: the server could not find it"
            )
        return original(group, version, namespace, plural)

    monkeypatch.setattr(cluster, "list_custom_objects", without_sidecars)
    finding = check_sameness(mesh)
    config = finding.evidence["config"]
    missing = config[config["state"] == "not installed"]
    assert missing[["cluster", "kind"]].values.tolist() == [
        ["cluster1", "DestinationRule"],
        ["cluster1", "Sidecar"],
    ]
    drift = finding.evidence["drift"]
    assert set(drift.loc[drift["cluster"] == "cluster1", "value"]) == {"not installed"}
    assert finding.status == "warn"  # cluster2 has a DestinationRule cluster1 cannot have


def test_forbidden_is_an_error_row_and_the_other_cluster_still_reports(monkeypatch):
    mesh = meshnb.simulate()

    def forbidden(group, version, namespace, plural):
        raise Forbidden("cluster2", f'{plural}.{group} is forbidden: User "meshnb" cannot list resource')

    monkeypatch.setattr(mesh.clusters["cluster2"], "list_custom_objects", forbidden)
    finding = check_sameness(mesh)
    assert finding.status == "error"
    clusters = finding.evidence["clusters"].set_index("cluster")
    assert clusters.loc["cluster2", ["status", "reason"]].tolist() == ["error", "forbidden"]
    assert clusters.loc["cluster2", "detail"].startswith("forbidden: destinationrules.networking.istio.io")
    assert clusters.loc["cluster1", "status"] == "pass"
    assert any("RBAC" in step for step in finding.next_steps)


def _endpoints_failing(cluster: str) -> Finding:
    table = pd.DataFrame(
        [{"cluster": cluster, "status": "fail", "reason": "only-local-endpoints", "detail": "only local"}]
    )
    return Finding("endpoints", "fail", "only local", evidence={"clusters": table})


def test_the_diagnosis_names_a_missing_service_only_when_it_explains_a_failure(monkeypatch):
    mesh = meshnb.simulate()
    _without_helloworld(monkeypatch, mesh, "cluster2")
    sameness = check_sameness(mesh)
    assert diagnose({"sameness": sameness}).causes == []  # nothing fails: no cause
    (cause,) = diagnose({"sameness": sameness, "endpoints": _endpoints_failing("cluster1")}).causes
    assert cause.key == "sameness" and cause.clusters == ("cluster1",)
    assert "missing in cluster2" in cause.title and "cluster2: no Service helloworld" in cause.evidence[0]
    assert "`kubectl --context=cluster2 -n sample apply -f helloworld.yaml`" in cause.next_step
    # a config drift alone explains nothing: the failing cluster stays the control plane's question
    drifted = check_sameness(meshnb.simulate("drifted-destination-rule"))
    keys = [
        c.key for c in diagnose({"sameness": drifted, "endpoints": _endpoints_failing("cluster1")}).causes
    ]
    assert "sameness" not in keys


def test_the_command_line_prints_the_drift(capsys):
    code = main(["check", "sameness", "--simulate", "drifted-destination-rule"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("WARN: DestinationRule sample/helloworld differs between cluster1 and cluster2")
    assert "drift:" in out and FIELD in out and "absent" in out
    assert "kubectl --context=cluster2 -n sample get destinationrule helloworld -o yaml" in out
    assert main(["check", "sameness", "--simulate", "healthy"]) == 0


def test_the_port_drift_scenario_drops_the_other_cluster_s_endpoints_and_triage_says_why():
    mesh = meshnb.simulate("service-port-drift")
    finding = check_sameness(mesh)
    assert finding.status == "warn"
    ports = finding.evidence["ports"]
    assert ports[["cluster", "name"]].values.tolist() == [["cluster1", "http"], ["cluster2", "http-web"]]
    # as istiod: its own cluster's Service, endpoints matched by port name, so only local ones are held
    for source in mesh.clusters:
        held = mesh.clusters[source].endpoints_view("sample", "helloworld", 5000)
        assert {ep["dest_cluster"] for ep in held} == {source}
    report = meshnb.triage(mesh, requests=30)
    (cause,) = report.diagnosis.causes
    assert cause.key == "sameness" and cause.title.endswith("(its ports differ)")
    assert "jsonpath={.spec.ports}" in cause.next_step
    assert report.findings["endpoints"].status == "fail"
