"""Next steps a person can paste, and one-sentence headlines (issue 16, points 4 and 5).

Point 4: "commands with the user's own context, namespace and pod names filled in ... each check's next
steps depend on what triage found". Point 5: "status lines are one sentence, with the details in the
summary tab".
"""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
from fakeapi import FakeApiServer, write_kubeconfig

import meshnb
from meshnb.backends.sim import SCENARIOS
from meshnb.diagnostics.credentials import CAUSES
from meshnb.diagnostics.finding import Finding, commands_in
from meshnb.diagnostics.registry import CHECKS

#: What a placeholder looked like: `<remote ctx>`, `<curl pod>`, `--context=CTX1`.
PLACEHOLDER = re.compile(r"<[a-z][a-z ]*>|\bCTX\d\b")
#: The guide's command that gives cluster1 a remote secret for cluster2.
CREATE = (
    "istioctl --context=cluster2 create-remote-secret --name=cluster2 | kubectl --context=cluster1 apply -f -"
)
#: The guide's generic first step, which has no place once triage found the cause elsewhere.
RULE_OUT_THE_NETWORK = "rule out the network"


def _situations():
    for scenario in SCENARIOS:
        yield scenario, False
    yield "firewall", True  # the connectivity probe runs


def _every_step(report) -> list[str]:
    causes = [cause.next_step for cause in report.diagnosis.causes]
    return causes + [step for finding in report.findings.values() for step in finding.next_steps]


@pytest.mark.parametrize(("scenario", "allow"), list(_situations()))
def test_every_next_step_is_filled_in_and_every_command_is_valid_shell(scenario, allow):
    mesh = meshnb.simulate(scenario)
    report = meshnb.triage(mesh, requests=30, allow_changes=allow)
    steps = _every_step(report)
    assert not [step for step in steps if PLACEHOLDER.search(step)]
    commands = [command for step in steps for command in commands_in(step)]
    script = "\n".join(commands)
    parsed = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert parsed.returncode == 0, (script, parsed.stderr)
    for command in commands:  # kubectl and istioctl run in a cluster of this mesh, named
        for word in shlex.split(command):
            if word.startswith("--context="):
                assert word.removeprefix("--context=") in mesh.clusters, command
        if command.startswith(("kubectl ", "istioctl ")):
            assert "--context=" in command, command


def test_a_missing_remote_secret_gets_the_command_that_creates_it():
    report = meshnb.triage(meshnb.simulate("missing-remote-secret"), requests=30)
    (cause,) = report.diagnosis.causes
    assert CREATE in commands_in(cause.next_step)
    for name in ("remote-secrets", "load-balancing"):  # the check's own step, and triage's focus
        assert CREATE in [c for step in report.findings[name].next_steps for c in commands_in(step)], name


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if "secret" in s or s == "istiod-down"])
def test_no_generic_network_step_when_the_cause_is_the_control_plane(scenario):
    report = meshnb.triage(meshnb.simulate(scenario), requests=30)
    assert {cause.key for cause in report.diagnosis.causes} <= {
        "remote-secret-missing",
        "remote-secret-key",
        "remote-secret",
        "istiod-down",
        *(key for key, _title in CAUSES.values()),  # the credentials check's, each remote-secret fault
    }
    assert not [step for step in _every_step(report) if RULE_OUT_THE_NETWORK in step.lower()]


def test_a_wrong_data_key_is_deleted_and_created_again_named_after_its_cluster():
    report = meshnb.triage(meshnb.simulate("remote-secret-wrong-key"), requests=30)
    (cause,) = report.diagnosis.causes
    assert commands_in(cause.next_step) == [
        "kubectl --context=cluster1 -n istio-system delete secret istio-remote-secret-cluster2",
        CREATE,
    ]


def test_istiod_down_is_looked_at_where_it_is_down():
    report = meshnb.triage(meshnb.simulate("istiod-down"), requests=30)
    (cause,) = report.diagnosis.causes
    assert commands_in(cause.next_step) == [
        "kubectl --context=cluster2 -n istio-system get deploy,pods -l app=istiod",
        "kubectl --context=cluster2 -n istio-system rollout status deploy/istiod",
    ]


def test_an_unexplained_failure_names_the_proxy_to_read():
    """Without a mesh, diagnose names each cluster's context by the cluster's name (the simulated mesh's)."""
    from meshnb.diagnostics.diagnosis import diagnose

    broken = meshnb.triage(meshnb.simulate("missing-remote-secret"), requests=30).findings["load-balancing"]
    findings = {**meshnb.triage(meshnb.simulate(), requests=30).findings, "load-balancing": broken}
    (cause,) = diagnose(findings).causes
    pod = broken.evidence["sources"].set_index("source_cluster").loc["cluster1", "source_pod"]
    (command,) = commands_in(cause.next_step)
    assert cause.key == "unexplained" and shlex.split(command) == [
        *("istioctl", "--context=cluster1", "proxy-config", "endpoint", f"{pod}.sample"),
        *("--cluster", "outbound|5000||helloworld.sample.svc.cluster.local"),
    ]


def test_real_contexts_with_colons_and_spaces_are_quoted(tmp_path):
    """EKS and GKE context names, one with a space: each stays one shell word, with the kubeconfig file."""
    east, west = "arn:aws:eks:us-east-1:123456789012:cluster/east", "gke_proj_us-west1-b_west two"
    sim = meshnb.simulate("missing-remote-secret")
    with (
        FakeApiServer(sim.clusters["cluster1"]) as one,
        FakeApiServer(sim.clusters["cluster2"]) as two,
    ):
        path = write_kubeconfig(tmp_path / "config", {east: one, west: two})
        with meshnb.connect({"cluster1": east, "cluster2": west}, kubeconfig=path) as mesh:
            report = meshnb.triage(mesh, requests=10)
    # cluster2's secret names the simulated 172.18.1.10, which does not answer here: a warning of the
    # credentials check (istiod elsewhere may reach it), no cause
    assert [c.key for c in report.diagnosis.causes] == ["remote-secret-missing"]
    tried = report.findings["credentials"].evidence["clusters"].set_index("cluster")
    assert tried.loc["cluster2", "status"] == "warn"
    cause = report.diagnosis.causes[0]
    (create,) = commands_in(cause.next_step)
    assert shlex.split(create) == [
        *("istioctl", f"--kubeconfig={path}", f"--context={west}", "create-remote-secret", "--name=cluster2"),
        *("|", "kubectl", f"--kubeconfig={path}", f"--context={east}", "apply", "-f", "-"),
    ]
    steps = report.findings["remote-secrets"].next_steps
    assert create in [c for step in steps for c in commands_in(step)]
    endpoints = " ".join(report.findings["endpoints"].next_steps)
    assert f"--context={shlex.quote(east)} -n istio-system get secrets" in endpoints


def _failing(finding: Finding) -> set[str]:
    """The clusters a finding's summary names for its status: its verdict rows of that status."""
    table, key = CHECKS[finding.check].verdicts
    rows = finding.evidence.get(table)
    if rows is None or finding.status in ("pass", "skipped"):
        return set()
    bad = rows["status"] == finding.status if "status" in rows else rows["reason"] != "ok"
    return set(rows.loc[bad, key])


@pytest.mark.parametrize(("scenario", "allow"), list(_situations()))
def test_every_headline_is_one_sentence_naming_the_failing_clusters(scenario, allow):
    report = meshnb.triage(meshnb.simulate(scenario), requests=30, allow_changes=allow)
    for name, finding in report.findings.items():
        headline = finding.headline
        assert headline and "; " not in headline and "…" not in headline, (name, headline)
        assert len(headline) <= 140, (name, headline)
        for cluster in _failing(finding):
            assert re.search(rf"\b{cluster}\b", headline), (name, cluster, headline)
        if len(finding.summary) > 140 or "; " in finding.summary:
            assert headline != finding.summary, name  # the check wrote its own


@pytest.mark.parametrize(
    ("scenario", "check", "headline"),
    [  # the examples
        (
            "firewall",
            "load-balancing",
            "cluster1 and cluster2 reach only their own version: no cross-cluster traffic",
        ),
        (
            "trust-mismatch",
            "trust",
            "cluster1 and cluster2 have different roots: they do not trust each other",
        ),
        ("missing-remote-secret", "remote-secrets", "cluster1 has no remote secret for cluster2"),
        (
            "locality-prefer-local",
            "locality",
            "locality load balancing keeps traffic in its own locality by design in cluster1 and cluster2",
        ),
    ],
)
def test_the_headlines_say_the_conclusion(scenario, check, headline):
    finding = CHECKS[check].function(meshnb.simulate(scenario))
    assert finding.headline == headline


def test_the_headline_is_kept_and_an_older_finding_without_one_reads_its_summary(tmp_path):
    report = meshnb.triage(meshnb.simulate("trust-mismatch"), requests=30)
    loaded = meshnb.load(report.save(tmp_path / "s.meshnb"))
    assert {n: f.headline for n, f in loaded.findings.items()} == {
        n: f.headline for n, f in report.findings.items()
    }
    older = report.findings["trust"].to_dict()
    del older["headline"]
    assert Finding.from_dict(older).headline == older["summary"]
    assert Finding("x", "pass", "all is well").headline == "all is well"
