"""Ambient mode: which data plane each namespace is in, the simulated mesh's ztunnel, and the
load-balancing check's expectations for a client that has no sidecar.

Istio's facts behind the model: ztunnel picks among a service's endpoints at random weighted by each
workload's capacity (ztunnel ``src/state.rs``), a pod of the client's own network counts 1 and
istiod merges a remote network's pods into one split-horizon workload whose capacity is their number
(istio ``pilot/pkg/serviceregistry/ambient/multicluster.go``), and ztunnel reads neither a
DestinationRule's ``loadBalancer`` nor the mesh's ``localityLbSetting``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import meshnb
from meshnb.backends.base import Pod
from meshnb.diagnostics.ambient import check_ambient
from meshnb.diagnostics.load_balancing import capacity_weights, check_load_balancing
from meshnb.diagnostics.modes import dataplane_modes, labelled_mode, namespace_mode, pod_mode
from meshnb.errors import ParseError
from meshnb.readers.curl import parse_curl_batch
from meshnb.readers.istiod_debug import read_ambientz
from tests.test_sim import curl

SIDECAR_POD = Pod("curl-1", "sample", containers=("curl", "istio-proxy"))
AMBIENT_POD = Pod(
    "curl-2", "sample", annotations={"ambient.istio.io/redirection": "enabled"}, containers=("curl",)
)
PLAIN_POD = Pod("curl-3", "sample", containers=("curl",))


@pytest.mark.parametrize(
    ("labels", "mode"),
    [
        ({}, "none"),
        ({"istio-injection": "enabled"}, "sidecar"),
        ({"istio-injection": "disabled"}, "none"),
        ({"istio.io/rev": "1-31"}, "sidecar"),
        ({"istio.io/dataplane-mode": "ambient"}, "ambient"),
        ({"istio.io/dataplane-mode": "none", "istio-injection": "enabled"}, "sidecar"),
        ({"istio.io/dataplane-mode": "ambient", "istio-injection": "enabled"}, "ambient"),
    ],
)
def test_a_namespace_without_pods_is_what_its_labels_ask_for(labels, mode):
    assert labelled_mode(labels) == mode
    assert namespace_mode([], labels)[0] == mode


def test_the_pods_say_what_carries_their_traffic_whatever_the_labels():
    # an injected pod keeps its sidecar in a namespace later labelled ambient: ztunnel leaves it alone
    assert [pod_mode(p) for p in (SIDECAR_POD, AMBIENT_POD, PLAIN_POD)] == ["sidecar", "ambient", "none"]
    injected_only = Pod("gw", "sample", annotations={"sidecar.istio.io/status": "{}"})
    assert pod_mode(injected_only) == "sidecar"
    mode, counts = namespace_mode([SIDECAR_POD, AMBIENT_POD], {"istio.io/dataplane-mode": "ambient"})
    assert (mode, counts["sidecar"], counts["ambient"]) == ("mixed", 1, 1)
    assert namespace_mode([AMBIENT_POD, AMBIENT_POD], {})[0] == "ambient"


def test_the_simulated_mesh_switches_between_sidecar_and_ambient_and_back():
    mesh = meshnb.simulate()
    assert dataplane_modes(mesh)["mode"].tolist() == ["sidecar", "sidecar"]
    mesh.set(ambient=True, replicas={"cluster2": 2})
    modes = dataplane_modes(mesh)
    assert modes[["mode", "labelled", "ambient_pods", "sidecar_pods"]].values.tolist() == [
        ["ambient", "ambient", 2, 0],
        ["ambient", "ambient", 3, 0],
    ]
    cluster = mesh.clusters["cluster1"]
    assert cluster.namespace_labels("sample") == {"istio.io/dataplane-mode": "ambient"}
    assert all("istio-proxy" not in p.containers for p in cluster.list_pods("sample"))
    ztunnels = cluster.list_pods("istio-system", "app=ztunnel")
    assert sorted(p.node for p in ztunnels) == sorted(n.name for n in cluster.list_nodes())
    mesh.set(ambient=False)
    assert dataplane_modes(mesh)["mode"].tolist() == ["sidecar", "sidecar"]
    assert cluster.list_pods("istio-system", "app=ztunnel") == []
    assert cluster.namespace_labels("sample") == {"istio-injection": "enabled"}


def test_a_namespace_that_does_not_exist_or_a_cluster_that_does_not_answer_is_a_row_of_its_own():
    rows = dataplane_modes(meshnb.simulate(unreachable="cluster2"), namespace="nowhere")
    assert rows[["cluster", "mode", "status"]].values.tolist() == [
        ["cluster1", "unknown", "pass"],
        ["cluster2", "unknown", "error"],
    ]
    assert "does not exist" in rows.loc[0, "detail"] and rows.loc[1, "reason"] == "unreachable"


def test_capacity_weights_count_every_pod_of_a_version_wherever_it_runs():
    members = {"a": ("v1", "c1"), "b": ("v2", "c2"), "c": ("v2", "c2"), "d": (None, "c2")}
    assert capacity_weights(members) == {"v1": 1.0, "v2": 2.0}


@pytest.mark.parametrize("policy", ["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM"])
def test_an_ambient_client_gets_the_capacity_weighted_split_whatever_the_destination_rule(policy):
    mesh = meshnb.simulate(ambient=True, replicas={"cluster2": 3}, lb_policy=policy)
    assert mesh.expected_split("cluster1") == {"v1": 0.25, "v2": 0.75}
    finding = check_load_balancing(mesh, requests=600)
    assert finding.status == "pass", finding.summary
    split = finding.evidence["split"]
    assert split["expected_share"].tolist() == [0.25, 0.75, 0.25, 0.75]
    for row in split.itertuples():
        assert row.ci_low <= row.expected_share <= row.ci_high, row
    assert finding.details["modes"] == {"cluster1": "ambient", "cluster2": "ambient"}
    assert "(ambient in cluster1 and cluster2: ztunnel picks by capacity)" in finding.summary


def test_a_sidecar_client_is_judged_as_before():
    finding = check_load_balancing(meshnb.simulate(lb_policy="RANDOM"), requests=300)
    assert finding.status == "pass", finding.summary
    assert finding.details["modes"] == {"cluster1": "sidecar", "cluster2": "sidecar"}
    assert set(finding.evidence["split"]["expected_share"]) == {0.5}
    assert "ambient" not in finding.summary


def test_ztunnel_does_not_retry_and_a_failure_is_a_reset_connection():
    mesh = meshnb.simulate(ambient=True, dead_versions=("v2",))
    transfers = parse_curl_batch(curl(mesh, "cluster1", count=60).stdout)
    answered = {t.body.split(",")[0] for t in transfers if t.http_status == 200}
    failed = [t for t in transfers if t.http_status != 200]
    assert answered == {"Hello version: v1"}
    assert failed and {(t.http_status, t.curl_exit, t.curl_error) for t in failed} == {
        (None, 56, "Recv failure: Connection reset by peer")
    }
    finding = check_load_balancing(mesh, requests=100)
    assert finding.status == "fail"


def test_ambient_keeps_no_locality_preference():
    # localityLbSetting and outlier detection are Envoy's: ztunnel spreads by capacity all the same
    mesh = meshnb.simulate("locality-prefer-local", ambient=True)
    assert {ep["priority"] for ep in mesh.endpoints("cluster1", "sample", "helloworld", 5000)} == {0}
    assert check_load_balancing(mesh, requests=200).status == "pass"


def test_the_remote_network_is_one_endpoint_at_the_gateway_on_the_hbone_port():
    mesh = meshnb.simulate(ambient=True, replicas={"cluster2": 4})
    remote = [ep for ep in mesh.endpoints("cluster1", "sample", "helloworld", 5000) if ep["via_gateway"]]
    assert [(ep["address"], ep["port"], ep["weight"]) for ep in remote] == [("172.18.2.100", 15008, 4)]


# ---- istiod's /debug/ambientz, as real istiod 1.31-dev printed it (tests/data/real/views/README.md) ----

VIEWS = Path(__file__).parent / "data" / "real" / "views"
HELLO = "helloworld.sample.svc.cluster.local"


def _ports_by_hand(document: dict) -> list[tuple[str, str, int, int]]:
    """(workload, hostname, service port, target port) of every service port, read with plain json."""
    return [
        (w["name"], key.split("/", 1)[1], p["servicePort"], p.get("targetPort", 0))
        for w in document["workloads"]
        for key, ports in w.get("services", {}).items()
        for p in ports["ports"]
    ]


@pytest.mark.parametrize(
    "name", ["ambientz-real-istiod-1.31-dev-sidecar.json", "ambientz-real-istiod-1.31-dev-cluster1.json"]
)
def test_real_ambientz_is_read_a_row_per_workload_and_service_port(name):
    text = (VIEWS / name).read_text()
    rows = read_ambientz(text, source_cluster="cluster1")
    by_hand = _ports_by_hand(json.loads(text))
    assert len(rows) == len(by_hand) > 0
    assert sorted(zip(rows["service"], rows["port"], rows["endpoint_port"], strict=True)) == sorted(
        (host, port, target or port) for _, host, port, target in by_hand
    )
    hello = read_ambientz(text, service=HELLO)
    # helloworld-v1's address "MTAuMS4wLjU=" is base64 of the text 10.1.0.5
    assert hello[
        ["address", "port", "weight", "dest_cluster", "network", "via_gateway", "health"]
    ].values.tolist() == [["10.1.0.5", 5000, 1, "cluster1", "network1", False, "HEALTHY"]]
    assert set(rows["source_cluster"]) == {"cluster1"} and rows["via_gateway"].sum() == 0


def test_a_real_istiod_without_an_east_west_gateway_it_recognises_sends_no_split_horizon_workload():
    # cluster2 runs helloworld v2 and is read through cluster1's remote secret, but its gateway is a
    # classic one: istiod logged "No network gateway found for network network2" and sent nothing of it
    document = json.loads((VIEWS / "ambientz-real-istiod-1.31-dev-cluster1.json").read_text())
    assert {w["clusterId"] for w in document["workloads"]} == {"cluster1"}
    assert {w.get("tunnelProtocol") for w in document["workloads"] if w["namespace"] == "sample"} == {"HBONE"}
    assert list(read_ambientz(json.dumps(document), service=HELLO)["dest_cluster"]) == ["cluster1"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"workloads": {}}', "$[0].workloads"),
        ('{"workloads": [{"addresses": ["not base64!"]}]}', "$[0].workloads[0].addresses[0]"),
        ('{"workloads": [{"addresses": ["aGVsbG8="]}]}', "$[0].workloads[0].addresses[0]"),
        ('{"workloads": [{"status": "SICK"}]}', "$[0].workloads[0].status"),
        ('{"workloads": [{"capacity": -1}]}', "$[0].workloads[0].capacity"),
        ('{"workloads": [{"services": {"no-slash": {}}}]}', '$[0].workloads[0].services["no-slash"]'),
        ('{"workloads": [{"services": {"a/b": {"ports": [{"servicePort": 70000}]}}}]}', "servicePort"),
        ("[", None),
    ],
)
def test_garbage_ambientz_is_refused_with_where(text, where):
    with pytest.raises(ParseError) as caught:
        read_ambientz(text)
    if where:
        assert where in str(caught.value)


def test_the_simulated_istiod_sends_one_split_horizon_workload_per_remote_network():
    from meshnb.backends.sim.debug import answer

    mesh = meshnb.simulate(ambient=True, replicas={"cluster2": 3})
    rows = read_ambientz(answer(mesh, "cluster1", "/debug/ambientz"), service=HELLO)
    got = [
        [None if v is pd.NA else v for v in row]
        for row in rows[["address", "weight", "dest_cluster", "network", "via_gateway"]].values.tolist()
    ]
    assert got == [["10.1.0.13", 1, "cluster1", "network1", False], [None, 3, "cluster2", "network2", True]]
    assert read_ambientz(answer(meshnb.simulate(), "cluster1", "/debug/ambientz")).empty


def test_read_any_tells_istiods_ambientz_from_ztunnels_own_dump():
    real = (VIEWS / "ambientz-real-istiod-1.31-dev-cluster1.json").read_text()
    reading = meshnb.read_any(real)
    assert (reading.kind, len(reading.frame)) == ("ambientz", len(_ports_by_hand(json.loads(real))))
    ztunnel_dump = (Path(__file__).parent / "data" / "ztunnel" / "dump.json").read_text()
    assert meshnb.read_any(ztunnel_dump).kind == "ztunnel"


# ---- the ambient check -----------------------------------------------------------------------------

AMBIENT_FAULTS = {
    "ambient-service-not-global": "service-not-global",
    "ambient-no-global-scope": "no-global-scope",
    "ambient-multi-network-off": "multi-network-off",
    "ambient-no-east-west-gateway": "no-east-west-gateway",
}


def test_the_ambient_check_is_skipped_in_sidecar_mode_and_passes_a_healthy_ambient_mesh():
    skipped = check_ambient(meshnb.simulate())
    assert skipped.status == "skipped" and set(skipped.evidence["clusters"]["reason"]) == {"not-ambient"}
    healthy = check_ambient(meshnb.simulate("ambient"))
    assert healthy.status == "pass", healthy.summary
    assert healthy.evidence["gateways"][["cluster", "class", "missing"]].values.tolist() == [
        ["cluster1", "istio-east-west", ""],
        ["cluster2", "istio-east-west", ""],
    ]


@pytest.mark.parametrize(("scenario", "reason"), sorted(AMBIENT_FAULTS.items()))
def test_each_ambient_fault_is_its_own_reason_for_the_client_cluster(scenario, reason):
    finding = check_ambient(meshnb.simulate(scenario))
    rows = finding.evidence["clusters"].set_index("cluster")
    assert (finding.status, rows.loc["cluster1", "reason"], rows.loc["cluster2", "status"]) == (
        "fail",
        reason,
        "pass",
    )
    assert finding.next_steps and "`kubectl --context=" in finding.next_steps[0]


def test_a_gateway_that_misses_a_requirement_names_it():
    from meshnb.diagnostics.ambient import REQUIREMENTS, gateway_gaps

    gateway = {
        "metadata": {"labels": {"topology.istio.io/network": "network2"}},
        "spec": {
            "gatewayClassName": "istio-east-west",
            "listeners": [{"protocol": "HBONE", "tls": {"mode": "Passthrough"}}],
        },
        "status": {"addresses": [{"type": "IPAddress", "value": "172.18.2.100"}]},
    }
    assert gateway_gaps(gateway) == [REQUIREMENTS[3]]
    gateway["spec"]["listeners"][0]["tls"]["mode"] = "Terminate"
    assert gateway_gaps(gateway) == []
    assert gateway_gaps({}) == list(REQUIREMENTS)


def test_several_recognised_gateways_on_a_network_warn():
    finding = check_ambient(meshnb.simulate("ambient", second_gateway=("cluster2",)))
    rows = finding.evidence["clusters"].set_index("cluster")
    assert (finding.status, rows.loc["cluster1", "reason"]) == ("warn", "several-gateways")


def test_the_service_scope_follows_istiods_selectors():
    from meshnb.diagnostics.ambient import is_global

    by_namespace = [{"namespaceSelector": {"matchLabels": {"team": "a"}}, "scope": "GLOBAL"}]
    assert is_global(by_namespace, {}, {"team": "a"}) and not is_global(by_namespace, {}, {"team": "b"})
    local_first = [
        {"servicesSelector": {"matchExpressions": [{"key": "x", "operator": "Exists"}]}, "scope": "LOCAL"}
    ]
    assert not is_global(local_first, {"x": "1"}, {})
    not_in = [
        {
            "servicesSelector": {"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["no"]}]},
            "scope": "GLOBAL",
        }
    ]
    assert (
        is_global(not_in, {}, {})
        and is_global(not_in, {"x": "yes"}, {})
        and not is_global(not_in, {"x": "no"}, {})
    )


def test_a_cluster_not_read_is_an_error_row_and_the_others_are_judged():
    finding = check_ambient(meshnb.simulate("ambient-service-not-global", unreachable="cluster2"))
    rows = finding.evidence["clusters"].set_index("cluster")
    assert (
        rows.loc["cluster2", "status"] == "error" and rows.loc["cluster1", "reason"] == "service-not-global"
    )


SIDECAR_SCENARIOS = sorted(s for s in meshnb.SCENARIOS if not s.startswith("ambient"))


@pytest.mark.parametrize("scenario", SIDECAR_SCENARIOS)
def test_every_sidecar_scenario_run_in_ambient_mode_is_diagnosed(scenario):
    # ambient changes what is seen, not what is wrong: the same causes, but for what ztunnel does not
    # have (a stale sidecar, Envoy's locality settings)
    got = [
        (c.key, c.clusters) for c in meshnb.triage(meshnb.simulate(scenario, ambient=True)).diagnosis.causes
    ]
    want = [(c.key, c.clusters) for c in meshnb.triage(meshnb.simulate(scenario)).diagnosis.causes]
    if scenario in ("stale-proxy", "locality-prefer-local"):
        want = []
    assert got == want


def test_a_waypoint_named_otherwise_in_one_cluster_is_named():
    import dataclasses

    mesh = meshnb.simulate("ambient")
    real = mesh.clusters["cluster2"]

    class Waypointed:  # cluster2's helloworld bound to a waypoint cluster1's is not
        def __getattr__(self, name):
            return getattr(real, name)

        def list_services(self, namespace, label_selector=None):
            return [
                dataclasses.replace(s, labels={**s.labels, "istio.io/use-waypoint": "waypoint"})
                if s.name == "helloworld"
                else s
                for s in real.list_services(namespace, label_selector)
            ]

    mesh.clusters["cluster2"] = Waypointed()
    finding = check_ambient(mesh)
    rows = finding.evidence["clusters"].set_index("cluster")
    assert rows["reason"].tolist() == ["waypoint-mismatch", "waypoint-mismatch"]
    assert "its waypoint (none) is not the one of cluster2" in rows.loc["cluster1", "detail"]
    assert any("same name in every cluster" in step for step in finding.next_steps)


def test_gateways_that_could_not_be_listed_are_not_taken_for_none():
    from meshnb.errors import Forbidden

    mesh = meshnb.simulate("ambient")
    real = mesh.clusters["cluster2"]

    class Denied:  # cluster2's role lacks gateways.gateway.networking.k8s.io
        def __getattr__(self, name):
            return getattr(real, name)

        def list_custom_objects(self, group, version, namespace, plural):
            if group == "gateway.networking.k8s.io":
                raise Forbidden(
                    "cluster2", 'gateways.gateway.networking.k8s.io is forbidden: cannot list "gateways"'
                )
            return real.list_custom_objects(group, version, namespace, plural)

    mesh.clusters["cluster2"] = Denied()
    finding = check_ambient(mesh)
    rows = finding.evidence["clusters"].set_index("cluster")
    assert rows.loc["cluster1", "status"] == "pass"  # cluster2's gateway unknown, not missing
    assert "Gateways could not be listed" in rows.loc["cluster2", "detail"]
