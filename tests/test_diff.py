"""diff: what changed between two reports, in memory or from snapshots."""

from __future__ import annotations

import pandas as pd
import pytest

import meshnb
from meshnb.diagnostics.diff import COLUMNS


@pytest.fixture(scope="module")
def healthy():
    return meshnb.triage(meshnb.simulate("healthy"))


def _rows(changes: pd.DataFrame, kind: str) -> list[tuple]:
    picked = changes[changes["kind"] == kind]
    return list(picked[["cluster", "item", "before", "after"]].itertuples(index=False, name=None))


def test_nothing_changed_is_an_empty_table(healthy):
    changes = meshnb.diff(healthy, meshnb.triage(meshnb.simulate("healthy")))
    assert list(changes.columns) == COLUMNS and changes.empty


def test_a_deleted_remote_secret(healthy):
    changes = meshnb.diff(healthy, meshnb.triage(meshnb.simulate("missing-remote-secret")))
    assert _rows(changes, "endpoint") == [("cluster1", "172.18.2.100:15443 (cluster2)", "HEALTHY", None)]
    ((cluster, item, before, after),) = _rows(changes, "remote secret")
    assert (cluster, item, after) == (
        "cluster1",
        "istio-system/istio-remote-secret-cluster2 [cluster2]",
        None,
    )
    assert "auth token" in before  # how it authenticated, never the token
    assert ("cluster1", "remote-secret-missing") in {(c, i) for c, i, _, _ in _rows(changes, "cause")}
    split = {item: (before, after) for cluster, item, before, after in _rows(changes, "split")}
    assert split["v2 (cluster2)"][1] == 0.0 and split["v1 (cluster1)"][1] == 1.0
    assert {item for _, item, _, _ in _rows(changes, "status")} == {
        "endpoints",
        "load-balancing",
        "remote-secrets",
    }


def test_rotated_certificates_are_listed_for_that_cluster_only(healthy):
    changes = meshnb.diff(healthy, meshnb.triage(meshnb.simulate("trust-mismatch")))
    certs = _rows(changes, "certificate")
    assert certs and {cluster for cluster, *_ in certs} == {"cluster2"}
    assert all(before != after and before and after for _, _, before, after in certs)


def test_new_istiod_errors(healthy):
    changes = meshnb.diff(healthy, meshnb.triage(meshnb.simulate("reader-role-removed")))
    errors = _rows(changes, "istiod error")
    assert {cluster for cluster, *_ in errors} == {"cluster1"} and all(b is None for _, _, b, _ in errors)
    assert any("failed to sync after 30s" in error for *_, error in errors)
    assert any("istio-reader-service-account" in error and "forbidden" in error for *_, error in errors)
    assert not any(line[:4].isdigit() for _, line, _, _ in errors)  # compared without the timestamp


def test_sampling_noise_in_the_split_is_not_a_change(healthy):
    other_seed = meshnb.triage(meshnb.simulate("healthy", seed=1))  # 43/57 here, 57/43 there
    split = healthy.findings["load-balancing"].evidence["split"]
    assert (
        split["share"].round(2).tolist()
        != other_seed.findings["load-balancing"].evidence["split"]["share"].round(2).tolist()
    )
    assert _rows(meshnb.diff(healthy, other_seed), "split") == []
    assert _rows(meshnb.diff(healthy, other_seed), "certificate")  # another seed, other certificates


def test_snapshots_diff_as_the_reports_do(healthy, tmp_path):
    broken = meshnb.triage(meshnb.simulate("remote-secret-wrong-key"))
    old, new = healthy.save(tmp_path / "old.meshnb"), broken.save(tmp_path / "new.meshnb")
    pd.testing.assert_frame_equal(
        meshnb.diff(meshnb.load(old), meshnb.load(new)), meshnb.diff(healthy, broken)
    )
