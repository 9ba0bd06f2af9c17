"""The endpoints check: every proxy's endpoints, attributed to clusters, on every scenario and backend."""

from __future__ import annotations

import pytest

import meshnb
from meshnb.diagnostics.endpoints import ADMIN_CLUSTERS_ARGV, check_endpoints
from meshnb.diagnostics.finding import commands_in
from meshnb.panels import EndpointsPanel
from meshnb.schemas import SCHEMAS


@pytest.mark.parametrize(
    ("scenario", "status", "per_cluster"),
    [
        ("healthy", "pass", ["pass", "pass"]),
        ("firewall", "pass", ["pass", "pass"]),  # the control plane knows the endpoints; the data path fails
        ("trust-mismatch", "pass", ["pass", "pass"]),
        ("missing-remote-secret", "fail", ["fail", "pass"]),
        ("remote-secret-wrong-key", "pass", ["pass", "pass"]),  # istiod reads it all the same
        ("locality-prefer-local", "pass", ["pass", "pass"]),
    ],
)
def test_scenarios(scenario, status, per_cluster):
    finding = check_endpoints(meshnb.simulate(scenario))
    assert finding.status == status
    assert finding.evidence["clusters"]["status"].tolist() == per_cluster
    if status == "fail":
        assert (
            "istiod (" in finding.summary and "holds none of cluster2's endpoints either" in finding.summary
        )
        assert any("remote secrets check" in step for step in finding.next_steps)
        secrets = "kubectl --context=cluster1 -n istio-system get secrets -l istio/multiCluster=true"
        assert [commands_in(step) for step in finding.next_steps] == [[secrets]]  # the failing cluster's


def test_endpoints_are_attributed_to_pods_and_gateways():
    endpoints = check_endpoints(meshnb.simulate()).evidence["endpoints"]
    assert list(endpoints.columns) == list(SCHEMAS["endpoints"])
    mine = endpoints[endpoints["source_cluster"] == "cluster1"].set_index("dest_cluster")
    assert not mine.loc["cluster1", "via_gateway"] and mine.loc["cluster1", "endpoint_port"] == 5000
    assert mine.loc["cluster2", "via_gateway"] and mine.loc["cluster2", "endpoint_port"] == 15443
    assert mine.loc["cluster2", "network"] == "network2" and mine.loc["cluster1", "network"] == "network1"
    assert set(endpoints["service"]) == {"helloworld.sample.svc.cluster.local"}


def test_locality_priorities_are_visible():
    endpoints = check_endpoints(meshnb.simulate("locality-prefer-local")).evidence["endpoints"]
    mine = endpoints[endpoints["source_cluster"] == "cluster1"].set_index("dest_cluster")
    assert mine.loc["cluster1", "priority"] == 0 and mine.loc["cluster2", "priority"] > 0


def test_reads_the_proxy_with_an_argv_in_the_sidecar():
    mesh = meshnb.simulate()
    check_endpoints(mesh)
    assert ADMIN_CLUSTERS_ARGV == ["pilot-agent", "request", "GET", "clusters?format=json"]
    # one exec in the sidecar, and one per view of istiod (syncz, endpointShardz, networkz) in its pod
    assert all(c.calls["exec"] == 1 + 3 for c in mesh.clusters.values())


def test_unreachable_cluster_is_an_error_row():
    finding = check_endpoints(meshnb.simulate(unreachable="cluster2"))
    rows = finding.evidence["clusters"].set_index("cluster")
    assert finding.status == "error" and rows.loc["cluster2", "status"] == "error"
    assert rows.loc["cluster1", "endpoints"] == 2


def test_no_proxy_to_read_is_an_error_row():
    finding = check_endpoints(meshnb.simulate(), namespace="default")
    assert finding.status == "error"
    assert finding.evidence["clusters"]["detail"].str.contains("no Running pod").all()


def test_panel_and_cli():
    import json
    import subprocess
    import sys

    panel = EndpointsPanel(meshnb.simulate("missing-remote-secret"))
    assert panel.run().status == "fail" and "FAIL" in panel.status.value
    assert panel.tab.titles == (
        "Summary", "Clusters", "Endpoints", "istiod and proxy", "Proxy sync", "By hand"
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "meshnb", "check", "endpoints", "--simulate", "healthy", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and json.loads(result.stdout)["status"] == "pass"
