"""Remote secrets and istiod's logs: every log format, every secret problem, no token ever shown."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import pytest
import yaml

import meshnb
from meshnb.backends.base import Secret, SecretData
from meshnb.diagnostics.remote_secrets import check_remote_secrets, describe_remote_secret
from meshnb.panels import RemoteSecretsPanel
from meshnb.readers.istiod_log import current_failures, parse_istiod_log

T = "2026-11-28T09:00:01.100000Z"


@pytest.mark.parametrize(
    ("line", "event", "remote", "secret", "error"),
    [
        (  # Istio up to 1.8
            f"{T}\terror\tFailed to add remote cluster from secret=istio-remote-secret-c2 for cluster_id=c2: "
            "Get https://10.0.0.2:6443: dial tcp: i/o timeout",
            "add_failed",
            "c2",
            "istio-remote-secret-c2",
            "Get https://10.0.0.2:6443: dial tcp: i/o timeout",
        ),
        (  # 1.10 to 1.15, failure
            f"{T}\terror\tkube\tAdding cluster_id=c2 from secret=istio-system/istio-remote-secret-c2: "
            "invalid kubeconfig: no server found",
            "add_failed",
            "c2",
            "istio-system/istio-remote-secret-c2",
            "invalid kubeconfig: no server found",
        ),
        (  # 1.10 to 1.15, success
            f"{T}\tinfo\tkube\tAdding cluster_id=c2 from secret=istio-system/istio-remote-secret-c2",
            "added",
            "c2",
            "istio-system/istio-remote-secret-c2",
            None,
        ),
        (  # 1.16 on, with secret=
            f"{T}\terror\tkube\tAdd cluster: create remote cluster failed: unauthorized\t"
            "cluster=c2 secret=istio-system/istio-remote-secret-c2",
            "add_failed",
            "c2",
            "istio-system/istio-remote-secret-c2",
            "unauthorized",
        ),
        (  # 1.16 on, with config=
            f"{T}\terror\tkube\tAdd cluster: create remote cluster failed: x509: unknown authority\t"
            "cluster=c2 config=istio-system/istio-remote-secret-c2",
            "add_failed",
            "c2",
            "istio-system/istio-remote-secret-c2",
            "x509: unknown authority",
        ),
    ],
)
def test_every_known_istiod_line_format(line, event, remote, secret, error):
    (row,) = parse_istiod_log("noise\n" + line + "\nmore noise", cluster="c1", pod="istiod-1")
    assert (row["event"], row["remote_cluster"], row["secret"], row["error"]) == (
        event,
        remote,
        secret,
        error,
    )
    assert row["cluster"] == "c1" and row["ts"] == T and row["line"] == line


@pytest.mark.parametrize(
    ("line", "event", "remote", "secret"),
    [
        (f"{T}\tinfo\tkube\tDeleting cluster_id=c2 configured by secret=istio-system/s2", "deleted", "c2",
         "istio-system/s2"),
        (f"{T}\tinfo\tkube\tDeleting cluster\tcluster=c2 secret=istio-system/s2", "deleted", "c2",
         "istio-system/s2"),
        (f"{T}\tinfo\tkube\tprocessing secret event for secret istio-system/s2", "secret_event", None,
         "istio-system/s2"),
    ],
)  # fmt: skip
def test_secret_changes_and_deletions(line, event, remote, secret):
    (row,) = parse_istiod_log(line)
    assert (row["event"], row["remote_cluster"], row["secret"]) == (event, remote, secret)


FAILED = (
    f"{T}\terror\tkube\tAdd cluster: create remote cluster failed: bad\tcluster=kc secret=istio-system/s2"
)
EVENT = f"{T}\tinfo\tkube\tprocessing secret event for secret istio-system/s2"
ADDED = f"{T}\tinfo\tkube\tAdding cluster\tcluster=c2 secret=istio-system/s2"


@pytest.mark.parametrize(
    ("lines", "standing"),
    [
        ([EVENT, FAILED], 1),  # the secret's last word is a failure
        ([EVENT, FAILED, EVENT, ADDED], 0),  # fixed since: istiod's log keeps the history
        ([EVENT, FAILED, EVENT], 0),  # the bad secret was deleted
        ([EVENT, ADDED, EVENT, FAILED], 1),  # broken since
    ],
)
def test_only_failures_that_still_stand_count(lines, standing):
    assert len(current_failures(parse_istiod_log("\n".join(lines), cluster="c1"))) == standing


def test_unrelated_and_garbage_lines_are_ignored():
    text = "\x00\xff\n{not json}\n2026-11-28T09:00:00Z\tinfo\tads\tPush debounce stable\n\t\t\n"
    assert parse_istiod_log(text) == []


@pytest.mark.parametrize(
    ("scenario", "status", "per_cluster"),
    [
        ("healthy", "pass", ["pass", "pass"]),
        ("firewall", "pass", ["pass", "pass"]),
        ("missing-remote-secret", "fail", ["fail", "pass"]),
        ("remote-secret-wrong-key", "fail", ["fail", "pass"]),
    ],
)
def test_scenarios(scenario, status, per_cluster):
    finding = check_remote_secrets(meshnb.simulate(scenario))
    assert finding.status == status
    assert finding.evidence["clusters"]["status"].tolist() == per_cluster
    if status == "fail":
        assert any("create-remote-secret" in step for step in finding.next_steps)


def test_wrong_key_is_named_with_the_cluster_istiod_made_of_it():
    finding = check_remote_secrets(meshnb.simulate("remote-secret-wrong-key"))
    detail = finding.evidence["clusters"].set_index("cluster").loc["cluster1", "detail"]
    assert "data key 'kubeconfig' is not the cluster name 'cluster2'" in detail
    # real istiod 1.31 adds the cluster under the key (the test bed's log says so)
    assert "istiod added it as cluster 'kubeconfig'" in detail
    assert "no remote secret for cluster2" not in detail  # the secret exists, under the wrong key
    events = finding.evidence["istiod_events"]
    assert events.query("cluster == 'cluster1' and event == 'added'")["remote_cluster"].tolist() == [
        "kubeconfig"
    ]


def test_missing_secret_is_named():
    finding = check_remote_secrets(meshnb.simulate("missing-remote-secret"))
    assert "cluster1: no remote secret for cluster2" in finding.summary
    assert finding.evidence["remote_secrets"]["cluster"].tolist() == ["cluster2"]


def _secret(config: dict, key: str = "c2", annotation: str | None = "c2") -> Secret:
    return Secret(
        name="istio-remote-secret-c2",
        namespace="istio-system",
        labels={"istio/multiCluster": "true"},
        annotations={"networking.istio.io/cluster": annotation} if annotation else {},
        data=SecretData({key: yaml.safe_dump(config).encode()}),
    )


def _kubeconfig(server="https://10.0.0.2:6443", user=None, current="c2") -> dict:
    return {
        "clusters": [{"name": "c2", "cluster": {"server": server}}],
        "contexts": [{"name": "c2", "context": {"cluster": "c2", "user": "c2"}}],
        "current-context": current,
        "users": [{"name": "c2", "user": user if user is not None else {"token": "abc"}}],
    }


def test_secret_problems():
    clusters = ["c1", "c2"]
    now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    (ok,) = describe_remote_secret(_secret(_kubeconfig()), "c1", clusters, now)
    assert ok["problems"] == "" and ok["auth"] == "token" and ok["server"] == "https://10.0.0.2:6443"
    (loop,) = describe_remote_secret(
        _secret(_kubeconfig(server="https://127.0.0.1:6443")), "c1", clusters, now
    )
    assert "loopback" in loop["problems"]
    (nocreds,) = describe_remote_secret(_secret(_kubeconfig(user={})), "c1", clusters, now)
    assert "no credentials" in nocreds["problems"]
    (certs,) = describe_remote_secret(
        _secret(_kubeconfig(user={"client-certificate-data": "x", "client-key-data": "y"})),
        "c1",
        clusters,
        now,
    )
    assert certs["auth"] == "client-certificate" and certs["problems"] == ""
    (context,) = describe_remote_secret(_secret(_kubeconfig(current="other")), "c1", clusters, now)
    assert "current context 'other'" in context["problems"]
    (garbage,) = describe_remote_secret(
        dataclasses.replace(_secret(_kubeconfig()), data=SecretData({"c2": b"\x00: [unclosed"})),
        "c1",
        clusters,
        now,
    )
    assert "does not hold a kubeconfig" in garbage["problems"]
    (unannotated,) = describe_remote_secret(_secret(_kubeconfig(), annotation=None), "c1", clusters, now)
    assert "annotation" in unannotated["problems"]


def test_expired_token_is_a_problem_and_the_token_is_never_kept():
    mesh = meshnb.simulate()
    (secret,) = mesh.clusters["cluster1"].list_secrets("istio-system", "istio/multiCluster=true")
    token = yaml.safe_load(secret.data["cluster2"])["users"][0]["user"]["token"]
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    (row,) = describe_remote_secret(secret, "cluster1", ["cluster1", "cluster2"], later)
    assert row["token_expiry"] == dt.datetime(2028, 1, 1, tzinfo=dt.UTC)
    assert "the token expired on 2028-01-01" in row["problems"]
    assert token not in str(row)


def test_no_token_in_finding_html_json_or_logs(caplog):
    mesh = meshnb.simulate("remote-secret-wrong-key")
    tokens = [
        yaml.safe_load(s.data[k])["users"][0]["user"]["token"]
        for c in mesh.clusters.values()
        for s in c.list_secrets("istio-system", "istio/multiCluster=true")
        for k in s.data
    ]
    with caplog.at_level(logging.DEBUG, logger="meshnb"):
        finding = check_remote_secrets(mesh)
    texts = [finding.to_json(), finding._repr_html_(), str(finding), caplog.text]
    for token in tokens:
        for part in token.split("."):  # not even the JWT's payload or signature
            assert all(part not in text for text in texts)


def test_unreachable_and_forbidden_clusters_are_error_rows():
    from meshnb.errors import Forbidden

    mesh = meshnb.simulate(unreachable="cluster2")
    finding = check_remote_secrets(mesh)
    rows = finding.evidence["clusters"].set_index("cluster")
    assert rows.loc["cluster2", "status"] == "error" and "unreachable" in rows.loc["cluster2", "detail"]
    assert rows.loc["cluster1", "status"] == "pass"

    class NoSecrets:
        def __init__(self, inner):
            self.inner, self.name = inner, inner.name

        def __getattr__(self, attr):
            return getattr(self.inner, attr)

        def list_secrets(self, namespace, label_selector=None):
            raise Forbidden(self.name, 'secrets is forbidden: User "reader" cannot list resource "secrets"')

    healthy = meshnb.simulate()
    healthy.clusters["cluster1"] = NoSecrets(healthy.clusters["cluster1"])
    finding = check_remote_secrets(healthy)
    detail = finding.evidence["clusters"].set_index("cluster").loc["cluster1", "detail"]
    assert finding.status == "error" and "forbidden" in detail and 'cannot list resource "secrets"' in detail


def test_panel():
    panel = RemoteSecretsPanel(meshnb.simulate("remote-secret-wrong-key"))
    assert panel.namespace.description
    assert panel.run().status == "fail"
    assert "FAIL" in panel.status.value
    assert panel.tab.titles == (
        "Summary", "Clusters", "Remote secrets", "istiod events", "istiod's clusters", "By hand"
    )  # fmt: skip
    assert panel.progress["cluster1"].bar_style == "danger"


def test_a_log_without_the_adds_passes_without_claiming_istiod_added_them(monkeypatch):
    """A long-running istiod's startup lines leave its log's tail: the secrets pass, said honestly."""
    from meshnb.backends.sim.cluster import SimCluster

    assert check_remote_secrets(meshnb.simulate("healthy")).summary.endswith("and istiod synced them")
    quiet = f"{T}\tinfo\tads\tPush debounce stable[1] 1 for config ServiceEntry/sample/x\n"
    monkeypatch.setattr(SimCluster, "logs", lambda self, namespace, pod, **kwargs: quiet)
    # istiod's own view says it synced them: that is enough
    assert check_remote_secrets(meshnb.simulate("healthy")).summary.endswith("and istiod synced them")
    # without that view (its pod's exec denied), the log alone does not claim it
    run = SimCluster._run
    monkeypatch.setattr(
        SimCluster,
        "_run",
        lambda self, pod, container, argv, timeout: (
            ("", "forbidden", 1) if argv[0] == "pilot-discovery" else run(self, pod, container, argv, timeout)
        ),
    )
    finding = check_remote_secrets(meshnb.simulate("healthy"))
    assert finding.status == "pass"
    detail = finding.evidence["clusters"].set_index("cluster").loc["cluster1", "detail"]
    assert "istiod's log does not show it adding cluster2" in detail and "istiod added them" not in detail
    assert "istiod added them" not in finding.summary
