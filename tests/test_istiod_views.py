"""istiod's own view (``/debug/clusterz``, ``syncz``, ``endpointShardz``, ``networkz``) read in its pod, and
what the remote-secrets and endpoints checks and triage make of it (issue 17, point 1).

On the simulated mesh, whose istiods answer ``pilot-discovery request GET`` in their ``discovery``
container; the readers' formats are tested on Istio's own outputs in tests/test_istio_views.py, and the
same path on the test bed's real istiods in tests/test_real_istiod.py.
"""

from __future__ import annotations

import json

import pytest

import meshnb
from meshnb.backends.base import ExecResult
from meshnb.diagnostics.endpoints import check_endpoints
from meshnb.diagnostics.istiod_views import MULTICLUSTER_VIEWS, VIEWS, read_istiod, request_argv
from meshnb.diagnostics.remote_secrets import check_remote_secrets
from meshnb.diagnostics.triage import triage
from meshnb.errors import Forbidden


def _rows(finding, table, key="cluster"):
    return finding.evidence[table].set_index(key)


def test_every_view_is_read_from_every_istiod_pod_through_exec():
    cluster = meshnb.simulate().clusters["cluster1"]
    view = read_istiod(cluster)
    assert view.errors == []
    assert set(view.frames) == {"clusterz", "syncz", "endpoint_shards", "networkz"}
    assert view.pods == [p.name for p in cluster.list_pods("istio-system", "app=istiod")]
    assert view.frames["clusterz"][["cluster", "status"]].values.tolist() == [
        ["cluster1", "synced"],
        ["cluster2", "synced"],
    ]
    shards = view.frames["endpoint_shards"]
    # istiod holds each cluster's helloworld pod under its own shard, with the pod's own IP
    ips = {c: cluster.mesh.pods_of(c, "sample", "helloworld")[0].pod.ip for c in ("cluster1", "cluster2")}
    assert dict(zip(shards["shard_cluster"], shards["address"], strict=True)) == ips
    assert set(view.frames["networkz"]["network"]) == {"network1", "network2"}
    assert cluster.calls["exec"] == len(MULTICLUSTER_VIEWS) == len(VIEWS) - 1  # not ambientz


def test_a_namespace_query_reaches_istiod_and_only_known_views_are_asked():
    cluster = meshnb.simulate().clusters["cluster1"]
    view = read_istiod(cluster, ["/debug/syncz?namespace=sample"])
    assert set(view.frames["syncz"]["proxy"].str.split(".").str[-1]) == {"sample"}
    assert request_argv("/debug/clusterz") == ["pilot-discovery", "request", "GET", "/debug/clusterz"]
    with pytest.raises(ValueError, match="not one of istiod's views"):
        request_argv("/debug/force_disconnect")


class _Answers:
    """A simulated cluster whose istiod answers some views otherwise (a Python fake of one exec)."""

    def __init__(self, cluster, answers):
        self._cluster, self._answers = cluster, answers

    def __getattr__(self, name):
        return getattr(self._cluster, name)

    def exec(self, namespace, pod, argv, container=None, timeout=30.0):
        answer = self._answers.get(argv[-1]) if argv[0] == "pilot-discovery" else None
        if answer is None:
            return self._cluster.exec(namespace, pod, argv, container, timeout)
        if isinstance(answer, Exception):
            raise answer
        return ExecResult(tuple(argv), answer, "", 0)


def test_what_cannot_be_read_is_said_and_the_rest_is_kept():
    cluster = meshnb.simulate().clusters["cluster1"]
    denied = Forbidden("cluster1", 'pods "istiod-x" is forbidden: cannot create resource "pods/exec"')
    fake = _Answers(
        cluster,
        {
            "/debug/clusterz": denied,
            "/debug/networkz": "404 page not found\n\n",
            "/debug/syncz": "<html>oops</html>",
        },
    )
    view = read_istiod(fake)
    assert set(view.frames) == {"endpoint_shards"}
    text = view.error()
    assert "/debug/clusterz could not be asked" in text and "forbidden" in text
    assert "does not serve /debug/networkz" in text
    assert "/debug/syncz could not be read" in text


def test_no_istiod_is_an_error_not_an_exception():
    view = read_istiod(meshnb.simulate("istiod-down").clusters["cluster2"])
    assert view.frames == {} and view.error() == "no istiod pod (app=istiod) runs in istio-system"


# ---- the remote-secrets check ---------------------------------------------------------------------------


def test_remote_secrets_show_each_remote_clusters_sync_status_per_istiod():
    finding = check_remote_secrets(meshnb.simulate())
    assert finding.status == "pass"
    table = finding.evidence["istiod_clusters"]
    assert table[["cluster", "remote", "status"]].values.tolist() == [
        ["cluster1", "cluster2", "synced"],
        ["cluster2", "cluster1", "synced"],
    ]
    assert "istiod synced them" in finding.summary


def test_a_cluster_stuck_syncing_fails_remote_secrets_with_its_own_reason():
    finding = check_remote_secrets(meshnb.simulate("remote-cluster-syncing"))
    rows = _rows(finding, "clusters")
    assert (rows.loc["cluster1", "status"], rows.loc["cluster1", "reason"]) == ("fail", "remote-syncing")
    assert "still syncing cluster cluster2" in rows.loc["cluster1", "detail"]
    assert rows.loc["cluster2", "status"] == "pass"
    assert finding.headline == "istiod in cluster1 is still syncing a remote cluster"
    step = finding.next_steps[0]
    assert "`istioctl --context=cluster1 remote-clusters`" in step
    assert "`kubectl --context=cluster1 -n istio-system rollout restart deploy/istiod`" in step


def test_a_timed_out_cluster_is_told_once_from_the_log_and_clusterz_agrees():
    finding = check_remote_secrets(meshnb.simulate("reader-role-removed"))
    assert finding.evidence["istiod_clusters"].set_index("cluster").loc["cluster1", "status"] == "timeout"
    detail = _rows(finding, "clusters").loc["cluster1", "detail"]
    assert "failed to sync after 30s" in detail and "gave up reading" not in detail


def test_a_timeout_the_log_does_not_show_is_found_in_clusterz():
    mesh = meshnb.simulate()  # the log's tail shows cluster2 added, istiod's view says it timed out
    clusterz = [
        {"id": "cluster1", "secretName": "", "syncStatus": "synced"},
        {
            "id": "cluster2",
            "secretName": "istio-system/istio-remote-secret-cluster2",
            "syncStatus": "timeout",
        },
    ]
    mesh.clusters["cluster1"] = _Answers(mesh.clusters["cluster1"], {"/debug/clusterz": json.dumps(clusterz)})
    finding = check_remote_secrets(mesh)
    row = _rows(finding, "clusters").loc["cluster1"]
    assert (row["status"], row["reason"]) == ("fail", "istiod-failed")
    assert "gave up reading cluster cluster2 (/debug/clusterz: timeout)" in row["detail"]


def test_without_istiods_view_remote_secrets_falls_back_on_the_log_and_says_so():
    mesh = meshnb.simulate()
    denied = Forbidden("cluster1", "cannot create resource pods/exec")
    mesh.clusters["cluster1"] = _Answers(mesh.clusters["cluster1"], {"/debug/clusterz": denied})
    finding = check_remote_secrets(mesh)
    row = _rows(finding, "clusters").loc["cluster1"]
    assert row["status"] == "pass"
    assert "istiod added them" in row["detail"] and "istiod's own view" in row["detail"]


# ---- the endpoints check --------------------------------------------------------------------------------


def test_a_stale_proxy_is_told_apart_from_an_istiod_that_lacks_the_cluster():
    stale = check_endpoints(meshnb.simulate("stale-proxy"))
    row = _rows(stale, "clusters").loc["cluster1"]
    assert (row["status"], row["reason"]) == ("fail", "proxy-stale")
    assert "EDS STALE" in row["detail"] and "cannot read" not in row["detail"]
    held = stale.evidence["held"].set_index(["cluster", "dest_cluster"])
    assert held.loc[("cluster1", "cluster2"), ["istiod_endpoints", "proxy_endpoints"]].tolist() == [1, 0]
    assert bool(held.loc[("cluster1", "cluster2"), "gateway"])
    sync = stale.evidence["proxy_sync"]
    mine = sync[sync["cluster"] == "cluster1"].set_index("type")
    assert mine.loc["EDS", "status"] == "STALE" and mine.loc["CDS", "status"] == "SYNCED"
    assert "proxy-status" in stale.next_steps[0] and "delete pod" in stale.next_steps[0]

    lacking = check_endpoints(meshnb.simulate("missing-remote-secret"))
    row = _rows(lacking, "clusters").loc["cluster1"]
    assert row["reason"] == "only-local-endpoints"
    assert "holds none of cluster2's endpoints either" in row["detail"]
    held = lacking.evidence["held"].set_index(["cluster", "dest_cluster"])
    assert held.loc[("cluster1", "cluster2"), ["istiod_endpoints", "proxy_endpoints"]].tolist() == [0, 0]


def test_endpoints_of_a_network_istiod_has_no_gateway_for_are_named():
    mesh = meshnb.simulate("stale-proxy")
    # istiod in cluster1 knows only its own network's gateway (a Python fake of istiod's answer)
    gateways = [
        {"Network": "network1", "Cluster": "cluster1", "Addr": "172.18.1.100", "Port": 15443},
    ]
    mesh.clusters["cluster1"] = _Answers(mesh.clusters["cluster1"], {"/debug/networkz": json.dumps(gateways)})
    finding = check_endpoints(mesh)
    row = _rows(finding, "clusters").loc["cluster1"]
    assert row["reason"] == "no-network-gateway"
    assert "on network2" in row["detail"] and "/debug/networkz" in row["detail"]
    held = finding.evidence["held"].set_index(["cluster", "dest_cluster"])
    assert not held.loc[("cluster1", "cluster2"), "gateway"]
    assert any("east-west gateway" in step for step in finding.next_steps)


def test_endpoints_without_istiods_view_keep_the_proxys_reading():
    mesh = meshnb.simulate("missing-remote-secret")
    denied = Forbidden("cluster1", "cannot create resource pods/exec")
    mesh.clusters["cluster1"] = _Answers(mesh.clusters["cluster1"], {"/debug/endpointShardz": denied})
    row = _rows(check_endpoints(mesh), "clusters").loc["cluster1"]
    assert row["reason"] == "only-local-endpoints"
    assert "cannot read the remote cluster(s) (istiod's own view could not be read" in row["detail"]


# ---- triage ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "key", "step"),
    [
        ("stale-proxy", "proxy-stale", "proxy-status"),
        ("remote-cluster-syncing", "remote-syncing", "remote-clusters"),
    ],
)
def test_triage_names_each_new_fault_as_its_own_cause(scenario, key, step):
    report = triage(meshnb.simulate(scenario), requests=20)
    first = report.diagnosis.causes[0]
    assert (first.key, first.clusters) == (key, ("cluster1",))
    assert step in first.next_step and "--context=cluster1" in first.next_step
    assert [c.key for c in report.diagnosis.causes] == [key]


# ---- recorded real outputs ------------------------------------------------------------------------------


def test_the_checks_read_a_real_istiods_recorded_answers():
    """cluster1's istiod answers with what real istiod 1.31-dev printed on the test bed
    (tests/data/real/views: its /debug/clusterz and /debug/networkz, saved unchanged): the remote-secrets
    check takes cluster2 as synced from it, and the identity check takes istiod's own cluster ID and the
    two networks' gateways from it."""
    from pathlib import Path

    from meshnb.diagnostics.identity import check_identity

    views = Path(__file__).parent / "data" / "real" / "views"
    mesh = meshnb.simulate()
    recorded = {
        "/debug/clusterz": (views / "clusterz-real-istiod-1.31-dev.json").read_text(),
        "/debug/networkz": (views / "networkz-real-istiod-1.31-dev.json").read_text(),
    }
    mesh.clusters["cluster1"] = _Answers(mesh.clusters["cluster1"], recorded)
    secrets = check_remote_secrets(mesh)
    table = secrets.evidence["istiod_clusters"]
    assert table[table["cluster"] == "cluster1"][["remote", "secret", "status"]].values.tolist() == [
        ["cluster2", "istio-system/istio-remote-secret-cluster2", "synced"]
    ]
    assert _rows(secrets, "clusters").loc["cluster1", "status"] == "pass"
    identity = check_identity(mesh)
    assert identity.status == "pass"
    assert (
        identity.evidence["identity"].set_index("cluster").loc["cluster1", "istiod_cluster_id"] == "cluster1"
    )
