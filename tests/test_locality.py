"""The locality check: localities, settings and priorities, explained on every relevant scenario."""

from __future__ import annotations

import pytest

import meshnb
from meshnb.diagnostics.locality import check_locality, locality_of
from meshnb.panels import LocalityPanel


@pytest.mark.parametrize(
    ("knobs", "status", "phrase"),
    [
        ({}, "pass", "locality load balancing is off"),
        ({"locality_lb": True, "outlier_detection": True}, "warn", "preferred by design"),
        ({"locality_lb": True}, "pass", "no outlier detection, so they are not in effect"),
        ({"locality_lb": True, "outlier_detection": True, "same_locality": True}, "pass", "shares locality"),
    ],
)
def test_explains_the_outcome(knobs, status, phrase):
    finding = check_locality(meshnb.simulate(**knobs))
    assert finding.status == status
    assert phrase in finding.summary
    if status == "warn":
        assert any("Locality load balancing" in step for step in finding.next_steps)


def test_explanation_agrees_with_what_load_balancing_sees():
    """Where locality says 'by design', load balancing sees only local versions; elsewhere both."""
    for knobs in (
        {"locality_lb": True, "outlier_detection": True},
        {"locality_lb": True},
        {"same_locality": True},
    ):
        mesh = meshnb.simulate(**knobs)
        local_only = meshnb.check_load_balancing(mesh, requests=60).status == "fail"
        assert local_only == (check_locality(mesh).status == "warn"), knobs


def test_evidence():
    finding = check_locality(meshnb.simulate("locality-prefer-local"))
    localities = finding.evidence["localities"]
    assert set(localities["cluster"]) == {"cluster1", "cluster2"}
    assert localities.set_index(["cluster", "app"]).loc[("cluster2", "helloworld"), "region"] == "us-west"
    settings = finding.evidence["settings"]
    assert settings["source"].str.startswith("DestinationRule").sum() == 2
    assert settings["outlier_detection"].eq(True).sum() == 2
    endpoints = finding.evidence["endpoints"]
    remote = endpoints[endpoints["source_cluster"] != endpoints["dest_cluster"]]
    assert (remote["priority"] > 0).all()
    assert "lower priority" in finding.summary


def test_pod_label_overrides_node_locality():
    assert locality_of({"topology.kubernetes.io/region": "r"}, "eu.eu-1.rack") == ("eu", "eu-1", "rack")
    assert locality_of({"topology.kubernetes.io/region": "r", "topology.istio.io/subzone": "s"}) == (
        "r",
        "",
        "s",
    )


def test_unreachable_cluster_is_an_error_row():
    finding = check_locality(meshnb.simulate(unreachable="cluster2"))
    rows = finding.evidence["clusters"].set_index("cluster")
    assert finding.status == "error" and rows.loc["cluster2", "status"] == "error"
    assert rows.loc["cluster1", "status"] == "pass"


def test_panel_and_cli():
    import subprocess
    import sys

    panel = LocalityPanel(meshnb.simulate("locality-prefer-local"))
    assert panel.run().status == "warn" and "WARN" in panel.status.value
    result = subprocess.run(
        [sys.executable, "-m", "meshnb", "check", "locality", "--simulate", "locality-prefer-local"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.startswith("WARN:")


@pytest.mark.parametrize(("limit", "blocked"), [(None, True), (49, True), (50, False), (100, False)])
def test_a_max_ejection_percent_that_forbids_failover_is_named(limit, blocked):
    """One preferred endpoint of two: Envoy ejects it only if 50% is allowed (10% when unset)."""
    finding = check_locality(meshnb.simulate("locality-prefer-local", max_ejection_percent=limit))
    assert finding.status == "warn"
    details = finding.evidence["clusters"]["detail"]
    assert details.str.contains("failover cannot happen", regex=False).all() == blocked
    assert any("maxEjectionPercent" in step for step in finding.next_steps) == blocked
    assert ("maxEjectionPercent blocks failover" in finding.headline) == blocked  # still one short sentence
    assert "; " not in finding.headline and len(finding.headline) <= 140
    if limit is None:
        assert "(10%, the default)" in details.iloc[0] and "needs 50%" in details.iloc[0]
