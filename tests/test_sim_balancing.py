"""The simulated sidecar's load-balancing policy, locality distribution and replicas, and the split they
are expected to give (:meth:`SimMesh.expected_split`) against what requests through it actually get."""

from __future__ import annotations

import json
import random
import re

import pytest
import yaml

import meshnb
from meshnb.backends.sim.lb import Picker, expected_shares
from meshnb.diagnostics.load_balancing import check_load_balancing
from meshnb.diagnostics.locality import check_locality
from meshnb.errors import ConfigError
from meshnb.readers.curl import parse_curl_batch
from tests.test_sim import curl


def observed(mesh, requests: int = 600):
    """(share by (source, version), Wilson interval by (source, version)) from the load-balancing check."""
    split = check_load_balancing(mesh, requests=requests).evidence["split"]
    return {(r.source_cluster, r.version): (r.share, r.ci_low, r.ci_high) for r in split.itertuples()}


def assert_matches_expected(mesh, requests: int = 600) -> None:
    seen = observed(mesh, requests)
    for source in mesh.clusters:
        for version, share in mesh.expected_split(source).items():
            _, low, high = seen.get((source, version), (0.0, 0.0, 0.0))
            assert low <= share <= high, (source, version, share, seen)


KNOB_SETS = [
    {},
    {"replicas": {"cluster2": 3}},
    {"replicas": {"cluster2": 3}, "lb_policy": "ROUND_ROBIN"},
    {"replicas": {"cluster2": 3}, "lb_policy": "RANDOM"},
    {"replicas": {"cluster1": 2, "cluster2": 4}, "lb_policy": "random"},
    {"locality_lb": True, "locality_distribute": 80},
    {"locality_lb": True, "locality_distribute": 30, "replicas": {"cluster1": 3}},
    {"locality_lb": True, "outlier_detection": True},
    {"replicas": {"cluster1": 0}},
]


@pytest.mark.parametrize("knobs", KNOB_SETS, ids=lambda k: json.dumps(k, sort_keys=True))
def test_observed_split_holds_the_expected_one_within_its_interval(knobs):
    assert_matches_expected(meshnb.simulate(**knobs))


def test_expected_split_follows_weights_policy_and_locality():
    assert meshnb.simulate().expected_split("cluster1") == {"v1": 0.5, "v2": 0.5}
    # Istio weights the remote gateway by the pods behind it ...
    assert meshnb.simulate(replicas={"cluster2": 3}).expected_split("cluster1") == {"v1": 0.25, "v2": 0.75}
    # ... which RANDOM ignores: one local pod and one gateway endpoint get half each
    random_split = meshnb.simulate(replicas={"cluster2": 3}, lb_policy="RANDOM").expected_split("cluster1")
    assert random_split == {"v1": 0.5, "v2": 0.5}
    distributed = meshnb.simulate(locality_lb=True, locality_distribute=80)
    assert distributed.expected_split("cluster2") == pytest.approx({"v1": 0.2, "v2": 0.8})
    assert meshnb.simulate("locality-prefer-local").expected_split("cluster1") == {"v1": 1.0}
    # locality load balancing without outlier detection does nothing in Istio
    assert meshnb.simulate(locality_lb=True).expected_split("cluster1") == {"v1": 0.5, "v2": 0.5}
    # faults do not change what is configured: the expected split is the intended one
    assert meshnb.simulate("missing-remote-secret").expected_split("cluster1") == {"v1": 0.5, "v2": 0.5}


def test_round_robin_visits_hosts_in_their_weights_exactly():
    mesh = meshnb.simulate(replicas={"cluster2": 3}, lb_policy="ROUND_ROBIN")
    bodies = [t.body for t in parse_curl_batch(curl(mesh, "cluster1", 40).stdout)]
    assert sum("v2" in b for b in bodies) == 30
    picker = Picker(random.Random(1))
    hosts = [{"address": "a", "weight": 1}, {"address": "b", "weight": 1}, {"address": "c", "weight": 1}]
    assert [picker.pick("ROUND_ROBIN", hosts)["address"] for _ in range(6)] == list("abcabc")


def test_locality_weights_pick_a_locality_first():
    eps = [
        {
            "address": "a",
            "weight": 1,
            "region": "r1",
            "zone": "z1",
            "locality_weight": 80,
            "versions": ("v1",),
        },
        {
            "address": "b",
            "weight": 5,
            "region": "r2",
            "zone": "z2",
            "locality_weight": 20,
            "versions": ("v2",),
        },
        {
            "address": "c",
            "weight": 5,
            "region": "r3",
            "zone": "z3",
            "locality_weight": 0,
            "versions": ("v3",),
        },
    ]
    assert expected_shares(eps, "LEAST_REQUEST") == {"v1": 0.8, "v2": 0.2}
    picker = Picker(random.Random(1))
    picks = [picker.pick("LEAST_REQUEST", eps)["address"] for _ in range(100)]
    assert (picks.count("a"), picks.count("b"), picks.count("c")) == (80, 20, 0)


def test_replicas_scale_the_deployment_with_stable_names():
    mesh = meshnb.simulate()
    first = [p.name for p in mesh.clusters["cluster2"].list_pods("sample", "app=helloworld")]
    mesh.set(replicas={"cluster2": 3})
    three = [p.name for p in mesh.clusters["cluster2"].list_pods("sample", "app=helloworld")]
    assert len(three) == 3 and three[0] == first[0]
    assert len({p.rsplit("-", 1)[0] for p in three}) == 1  # one ReplicaSet: same template hash
    ips = {p.ip for p in mesh.clusters["cluster2"].list_pods("sample", "app=helloworld")}
    assert len(ips) == 3
    mesh.set(replicas={"cluster2": 1})
    assert [p.name for p in mesh.clusters["cluster2"].list_pods("sample", "app=helloworld")] == first
    mesh.set(replicas={"cluster2": 3})
    assert [p.name for p in mesh.clusters["cluster2"].list_pods("sample", "app=helloworld")] == three
    # the remote gateway's weight in cluster1's sidecar is the number of pods behind it
    c1 = mesh.clusters["cluster1"]
    curl_pod = c1.list_pods("sample", "app=curl")[0].name
    out = c1.exec(
        "sample", curl_pod, ["pilot-agent", "request", "GET", "clusters?format=json"], "istio-proxy"
    )
    hosts = json.loads(out.stdout)["cluster_statuses"][0]["host_statuses"]
    assert sorted(h["weight"] for h in hosts) == [1, 3]


def test_zero_replicas_everywhere_is_no_healthy_upstream_not_a_dns_failure():
    mesh = meshnb.simulate(replicas={"cluster1": 0, "cluster2": 0})
    (t,) = parse_curl_batch(curl(mesh, "cluster1", 1).stdout)
    assert (t.http_status, t.body, t.curl_exit) == (503, "no healthy upstream", 0)
    assert [s.name for s in mesh.clusters["cluster1"].list_services("sample")] == ["helloworld"]


def test_configuration_objects_show_the_knobs():
    mesh = meshnb.simulate(lb_policy="ROUND_ROBIN", locality_lb=True, locality_distribute=70)
    (rule,) = mesh.clusters["cluster1"].list_custom_objects(
        "networking.istio.io", "v1", "sample", "destinationrules"
    )
    assert rule["spec"]["trafficPolicy"] == {"loadBalancer": {"simple": "ROUND_ROBIN"}}
    setting = yaml.safe_load(mesh.clusters["cluster1"].read_config_map("istio-system", "istio")["mesh"])
    assert setting["localityLbSetting"]["distribute"][0] == {
        "from": "us-east/*",
        "to": {"us-east/*": 70, "us-west/*": 30},
    }
    # distribution spreads on purpose: the locality check does not call it traffic kept local
    assert check_locality(mesh).status == "pass"
    assert (
        meshnb.simulate()
        .clusters["cluster1"]
        .list_custom_objects("networking.istio.io", "v1", "sample", "destinationrules")
        == []
    )


def test_three_regions_share_what_is_not_kept_local():
    mesh = meshnb.simulate(clusters=3, locality_lb=True, locality_distribute=50)
    assert mesh.distribute("us-east") == {"us-east": 50, "us-west": 25, "eu-west": 25}
    assert mesh.expected_split("cluster1") == pytest.approx({"v1": 0.5, "v2": 0.25, "v3": 0.25})
    assert (
        sum(
            meshnb.simulate(clusters=3, locality_lb=True, locality_distribute=55)
            .distribute("eu-west")
            .values()
        )
        == 100
    )


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"lb_policy": "MAGLEV"}, "unknown load-balancing policy 'MAGLEV'"),
        ({"locality_distribute": 101}, "locality_distribute"),
        ({"locality_distribute": True}, "locality_distribute"),
        ({"replicas": {"cluster2": -1}}, "replicas of cluster2"),
        ({"replicas": {"cluster2": 11}}, "replicas of cluster2"),
        ({"replicas": {"cluster9": 1}}, "unknown cluster(s) ['cluster9']"),
    ],
)
def test_bad_knob_values_are_refused_and_change_nothing(knobs, message):
    mesh = meshnb.simulate()
    before = mesh.knobs
    with pytest.raises(ConfigError, match=re.escape(message)):
        mesh.set(**knobs)
    assert mesh.knobs == before


@pytest.mark.parametrize(("limit", "fails_over"), [(None, False), (49, False), (50, True), (100, True)])
def test_ejection_is_limited_as_envoy_limits_it(limit, fails_over):
    """Envoy 1.40 (measured through the lab) ejects a host only if the ejected hosts, it included,
    stay within max_ejection_percent of the cluster's hosts."""
    mesh = meshnb.simulate("locality-prefer-local", dead_versions=("v1",), max_ejection_percent=limit)
    answers = [t.body for t in parse_curl_batch(curl(mesh, "cluster1", 20).stdout)]
    assert all("v2" in body for body in answers[3:]) == fails_over
    assert all(body.startswith("upstream connect error") for body in answers) == (not fails_over)
    rule = mesh.clusters["cluster1"].list_custom_objects(
        "networking.istio.io", "v1", "sample", "destinationrules"
    )
    assert rule[0]["spec"]["trafficPolicy"]["outlierDetection"].get("maxEjectionPercent") == limit
