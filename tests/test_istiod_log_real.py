"""istiod's remote-cluster lines as Istio's secret controller writes them (tests/data/real/istiod).

Expected readings come from the format strings in istio/istio's secretcontroller.go at each tag (see
tests/data/real/istiod/README.md), never from meshnb's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshnb.readers.istiod_log import current_failures, parse_istiod_log

DATA = Path(__file__).parent / "data" / "real" / "istiod"
S = "istio-system/istio-remote-secret-c2"
INVALID = "kubeconfig is not valid: invalid configuration"
CLIENTS = "failed to create kube clients: bad"

EXPECTED = {
    "secretcontroller-1.15.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, CLIENTS),
        ("deleted", "c2", S, None),
        ("remote_clusters=0", None, None, None),
    ],
    "secretcontroller-1.16.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, "bad"),
        ("deleted", "c2", S, None),
    ],
    "secretcontroller-1.22.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, CLIENTS),
        ("deleted", "c2", S, None),
    ],
    "secretcontroller-1.30.0.log": [
        ("secret_event", None, S, None),
        ("added", "c2", S, None),
        ("add_failed", "c2", S, INVALID),
        ("updated", "c2", S, None),
        ("update_failed", "c2", S, CLIENTS),
        ("deleted", "c2", S, None),
    ],
    "json-1.22.0.log": [("update_failed", "c2", S, CLIENTS)],
    "kubectl-prefix-timestamps-1.16.0.log": [("add_failed", "c2", S, INVALID)],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_real_line_is_read_as_the_event_it_is(name):
    rows = parse_istiod_log((DATA / name).read_text(), cluster="c1")
    got = [(r["event"], r["remote_cluster"], r["secret"], r["error"]) for r in rows]
    assert got == EXPECTED[name]
    assert all(r["ts"] == "2026-11-28T09:00:01.000000Z" for r in rows)


@pytest.mark.parametrize("name", [n for n in EXPECTED if n.startswith("secretcontroller")])
def test_a_failure_stands_until_superseded(name):
    lines = (DATA / name).read_text().splitlines()
    failed_add = "\n".join(lines[:3])
    assert [r["event"] for r in current_failures(parse_istiod_log(failed_add))] == ["add_failed"]
    failed_update = "\n".join(lines[:5])
    assert [r["event"] for r in current_failures(parse_istiod_log(failed_update))] == ["update_failed"]
    # a later attempt for the same cluster and secret supersedes the failure
    assert current_failures(parse_istiod_log("\n".join([*lines[:3], lines[3]]))) == []
    # so does the deletion
    assert current_failures(parse_istiod_log("\n".join([*lines[:5], lines[5]]))) == []


def test_a_users_paste_from_istio_issue_58047():
    # istio/istio#58047 (2025-10-23): lines without a scope field; `Update cluster` is the 1.22+ attempt.
    rows = parse_istiod_log((DATA / "issue-58047-paste.log").read_text())
    secret = "istio-system/istio-remote-secret-cluster1"
    assert [(r["event"], r["remote_cluster"], r["secret"]) for r in rows] == [
        ("secret_event", None, secret),
        ("updated", "cluster1", secret),
    ]
