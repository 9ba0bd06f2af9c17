"""Triage: the guide's checks in order, a diagnosis naming each fault, the report, the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import meshnb
from meshnb.diagnostics.triage import ORDER, triage

#: What triage must name for each scenario of the simulated mesh: (cause key, clusters explained).
EXPECTED = {
    "healthy": [],
    "firewall": [("network", ("cluster1", "cluster2"))],
    "trust-mismatch": [("trust", ("cluster1", "cluster2"))],
    "missing-remote-secret": [("remote-secret-missing", ("cluster1",))],
    "remote-secret-wrong-key": [("remote-secret-key", ("cluster1",))],
    "locality-prefer-local": [("locality", ("cluster1", "cluster2"))],
    # as on the test bed's real istiod and API servers (tests/test_testbed.py): the credentials check
    # tried the secret and says what is wrong with it
    "remote-secret-loopback": [("remote-server-loopback", ("cluster1",))],
    "remote-secret-revoked-token": [("remote-token-rejected", ("cluster1",))],
    "remote-secret-expired-token": [("remote-token-expired", ("cluster1",))],
    "remote-secret-no-endpointslices": [("remote-forbidden", ("cluster1",))],
    "reader-role-removed": [("remote-forbidden", ("cluster1",))],
    "istiod-down": [("istiod-down", ("cluster2",))],
    "remote-cluster-syncing": [("remote-syncing", ("cluster1",))],
    "stale-proxy": [("proxy-stale", ("cluster1",))],
    "second-gateway": [("several-gateways", ("cluster2",))],
    # a drift alone breaks no traffic: a warning, named all the same
    "drifted-destination-rule": [("config-drift", ("cluster1", "cluster2"))],
    # the port named otherwise in cluster2: no proxy gets the other cluster's endpoints
    "service-port-drift": [("sameness", ("cluster1", "cluster2"))],
    # ambient: the ambient check names what cluster1's ztunnels miss (cluster2's gateway for the last)
    "ambient": [],
    "ambient-service-not-global": [("ambient-service-not-global", ("cluster1",))],
    "ambient-no-global-scope": [("ambient-no-global-scope", ("cluster1",))],
    "ambient-multi-network-off": [("ambient-multi-network-off", ("cluster1",))],
    "ambient-no-east-west-gateway": [("ambient-no-east-west-gateway", ("cluster1",))],
}


def _causes(report) -> list[tuple[str, tuple[str, ...]]]:
    return [(cause.key, cause.clusters) for cause in report.diagnosis.causes]


def test_every_scenario_has_an_expectation():
    assert set(EXPECTED) == set(meshnb.SCENARIOS)


@pytest.mark.parametrize("allow_changes", [False, True])
@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_every_scenario_is_diagnosed(scenario, allow_changes):
    report = triage(meshnb.simulate(scenario), allow_changes=allow_changes)
    assert _causes(report) == EXPECTED[scenario]
    assert list(report.findings) == list(ORDER)
    assert (report.findings["connectivity"].status == "skipped") is not allow_changes
    if scenario in ("healthy", "ambient"):
        assert report.status == "pass" and report.diagnosis.summary.startswith("no problem found")
    elif not EXPECTED[scenario]:  # a warning that breaks no traffic: in the check list, not a cause
        assert report.diagnosis.summary.startswith("no problem found")
        assert {n: f.status for n, f in report.findings.items() if f.status not in ("pass", "skipped")} == {
            "sameness": "warn"
        }
    else:
        cause = report.diagnosis.causes[0]
        assert cause.evidence and cause.next_step
        assert report.diagnosis.summary.startswith(f"most likely: {cause.title}")


@pytest.mark.parametrize(
    ("knobs", "expected"),
    [
        (
            {"firewall": True, "missing_remote_secret": ("cluster1",)},
            [("network", ("cluster2",)), ("remote-secret-missing", ("cluster1",))],
        ),
        (
            {"trust_mismatch": True, "remote_secret_wrong_key": ("cluster1",)},
            [("trust", ("cluster1", "cluster2")), ("remote-secret-key", ("cluster1",))],
        ),
        (
            {"firewall": True, "trust_mismatch": True},
            [("network", ("cluster1", "cluster2")), ("trust", ("cluster1", "cluster2"))],
        ),
    ],
)
def test_two_faults_at_once_are_both_named(knobs, expected):
    assert _causes(triage(meshnb.simulate("healthy", **knobs))) == expected


def test_the_probe_names_the_network_in_both_directions():
    report = triage(meshnb.simulate("firewall", missing_remote_secret=("cluster1",)), allow_changes=True)
    network = report.diagnosis.causes[0]
    assert network.key == "network" and network.clusters == ("cluster1", "cluster2")
    assert [line.split(" (")[0] for line in network.evidence] == [
        "probe cluster1 -> cluster2",
        "probe cluster2 -> cluster1",
    ]


def test_a_firewall_hidden_by_retries_shows_in_the_latency():
    """With a long curl timeout, Envoy's retries answer every request locally after ~10 s connection
    timeouts: no error at all, only local versions, and a median latency of seconds."""
    from meshnb.diagnostics.diagnosis import diagnose
    from meshnb.diagnostics.triage import triage as run

    mesh = meshnb.simulate("firewall")
    report = run(mesh)
    findings = dict(report.findings, **{"load-balancing": meshnb.check_load_balancing(mesh, max_time=60)})
    assert findings["load-balancing"].evidence["samples"]["error_kind"].isna().all()
    (cause,) = diagnose(findings).causes
    assert cause.key == "network" and "time out" in cause.evidence[0]
    trust = dict(
        report.findings,
        **{"load-balancing": meshnb.check_load_balancing(meshnb.simulate("trust-mismatch"), max_time=60)},
    )
    assert "network" not in [c.key for c in diagnose(trust).causes]  # fast local answers: not the network


def test_locality_is_by_design_and_says_so():
    (cause,) = triage(meshnb.simulate("locality-prefer-local")).diagnosis.causes
    assert cause.by_design and "by design" in cause.title


def test_an_unreachable_cluster_is_named_and_the_other_still_checked():
    report = triage(meshnb.simulate(unreachable="cluster2"))
    first = report.diagnosis.causes[0]
    assert (first.key, first.clusters) == ("unreachable", ("cluster2",))
    assert report.status == "error" and report.exit_code == 2
    assert (
        report.findings["trust"].evidence["clusters"].set_index("cluster").loc["cluster1", "status"]
        != "error"
    )


def test_progress_names_each_check_in_order():
    seen = []
    triage(meshnb.simulate(), progress=lambda check, cluster, done, total: seen.append((check, cluster)))
    starts = [check for check, cluster in seen if not cluster]
    assert starts == list(ORDER)
    assert {cluster for _, cluster in seen if cluster} == {"cluster1", "cluster2"}


def test_report_metadata_and_json():
    report = triage(meshnb.simulate("trust-mismatch"))
    meta = report.metadata
    assert meta["clusters"] == ["cluster1", "cluster2"] and meta["meshnb_version"] == meshnb.__version__
    assert meta["scenario"] == "trust-mismatch" and meta["started"] <= meta["finished"]
    data = json.loads(json.dumps(report.to_dict(), default=str))
    assert data["diagnosis"]["causes"][0]["key"] == "trust" and data["status"] == "fail"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "meshnb.cli", "triage", *args], capture_output=True, text=True, check=False
    )


def test_cli_text_and_exit_codes():
    healthy = _cli("--simulate", "healthy")
    assert healthy.returncode == 0 and healthy.stdout.startswith("PASS: no problem found")
    broken = _cli("--simulate", "missing-remote-secret")
    assert broken.returncode == 1
    assert "1. a remote secret is missing in cluster1" in broken.stdout and "next: " in broken.stdout


def test_cli_json_and_changes():
    result = _cli("--simulate", "firewall", "--allow-changes", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["findings"]["connectivity"]["status"] == "fail"
    assert data["diagnosis"]["causes"][0]["key"] == "network"


def test_cli_bad_context_is_exit_2(tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: ctx\nusers: [{name: u, user: {}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: ctx, context: {cluster: c, user: u}}]\n"
    )
    result = _cli("--context", "nope", "--kubeconfig", str(config))
    assert result.returncode == 2 and "nope" in result.stderr


@pytest.mark.parametrize("scenario", ["missing-remote-secret", "trust-mismatch", "firewall"])
def test_in_triage_the_symptoms_next_steps_are_the_causes_not_the_whole_guide(scenario):
    """Alone, the failed load-balancing check walks the whole guide ("rule out the network" first); in
    triage, whose other checks walked it, its next steps are those of the causes found."""
    from meshnb.diagnostics.load_balancing import STEP_CONNECTIVITY, guide_steps

    mesh = meshnb.simulate(scenario)
    alone = meshnb.check_load_balancing(mesh)
    assert STEP_CONNECTIVITY in alone.next_steps and set(guide_steps(mesh, alone)) <= set(alone.next_steps)
    report = meshnb.triage(mesh)
    symptom = report.findings["load-balancing"]
    causes = report.diagnosis.causes
    assert symptom.next_steps[: len(causes)] == [f"{c.title}: {c.next_step}" for c in causes]
    assert len(guide_steps(mesh, symptom)) == 5 and not set(symptom.next_steps) & set(
        guide_steps(mesh, symptom)
    )
