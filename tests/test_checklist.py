"""`meshnb check` with no name: the list of every read-only check, its outputs, --wait and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fakeapi import FakeApiServer, write_kubeconfig

import meshnb
from meshnb import cli
from meshnb.diagnostics import checklist
from meshnb.diagnostics.check import GUIDE_URL
from meshnb.diagnostics.registry import CHECKS
from meshnb.diagnostics.triage import triage

#: The sections of Istio's guide, by their anchors on the page (content/en/docs/ops/diagnostic-tools/
#: multicluster/index.md of istio/istio.io, its headings as Hugo makes anchors of them).
GUIDE_ANCHORS = {
    "cross-cluster-load-balancing",
    "connectivity-and-firewall-issues",
    "locality-load-balancing",
    "trust-configuration",
    "step-by-step-diagnosis",
}
MARKS = tuple(checklist.MARKS.values())


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def check_lines(out: str) -> dict[str, str]:
    """Each check's line of a printed list, by check name."""
    found = {}
    for line in out.splitlines():
        mark, _, rest = line.partition(" ")
        if mark in MARKS and ":" in rest:
            found[rest.split(":")[0]] = line
    return found


def test_every_check_names_a_section_of_the_guide():
    for spec in CHECKS.values():
        if spec.docs:  # ambient mode: the guide has no section on it
            assert spec.guide_url == spec.docs and spec.docs.startswith(
                "https://istio.io/latest/docs/ambient/"
            )
            continue
        url, _, anchor = spec.guide_url.partition("#")
        assert url == GUIDE_URL and anchor in GUIDE_ANCHORS, spec.name


def test_a_healthy_mesh_is_all_pass_and_exits_0(capsys):
    code, out, err = run(capsys, "--simulate", "healthy", "--requests", "20")
    assert code == 0, err
    lines = check_lines(out)
    assert list(lines) == list(CHECKS)  # one line per check, in the guide's order
    assert {name: line[0] for name, line in lines.items() if name not in ("connectivity", "ambient")} == (
        dict.fromkeys(set(CHECKS) - {"connectivity", "ambient"}, "√")
    )
    assert lines["connectivity"].startswith("- connectivity: the probe is planned, not run")  # read-only
    assert lines["ambient"].startswith("- ambient: sample is in ambient mode in no cluster")  # sidecars
    assert "for hints" not in out  # nothing to look up
    assert out.rstrip().endswith("Status check results are √")


def test_a_failing_check_shows_its_hint_and_section_and_the_triage_exit_code(capsys):
    expected = triage(meshnb.simulate("missing-remote-secret"), requests=20).exit_code
    code, out, _err = run(capsys, "--simulate", "missing-remote-secret", "--requests", "20")
    assert code == expected == 1
    lines = out.splitlines()
    at = lines.index("× remote-secrets: cluster1 has no remote secret for cluster2")
    block = " ".join(lines[at + 1 : at + 5])
    assert "istioctl --context=cluster2 create-remote-secret --name=cluster2 | kubectl" in block
    assert f"    see {GUIDE_URL}#step-by-step-diagnosis for hints" in lines[at + 1 : at + 6]
    assert check_lines(out)["trust"].startswith("√ trust:")
    assert lines[-1] == "Status check results are ×"


def test_each_line_has_its_status_mark_and_the_exit_code_is_triage_s(capsys):
    code, out, _err = run(capsys, "--simulate", "istiod-down", "--requests", "10")
    report = triage(meshnb.simulate("istiod-down"), requests=10)
    assert code == report.exit_code == 1
    lines = check_lines(out)
    for name, finding in report.findings.items():
        assert lines[name].startswith(checklist.MARKS[finding.status] + " " + name), lines[name]


@pytest.fixture
def half_mesh(tmp_path):
    """A kubeconfig with cluster1 served by a fake API over the simulated cluster, cluster2 unreachable."""
    with FakeApiServer(meshnb.simulate().clusters["cluster1"]) as server:
        yield write_kubeconfig(tmp_path / "kubeconfig", {"cluster1": server}, unreachable="cluster2")


def test_an_unreachable_cluster_is_a_cross_and_exit_2_with_no_traceback(half_mesh):
    result = subprocess.run(
        [sys.executable, "-m", "meshnb", "check", "--context", "cluster1", "--context", "cluster2",
         "--kubeconfig", str(half_mesh), "--requests", "10"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = check_lines(result.stdout)
    assert lines["trust"].startswith("× trust: cluster2 could not be"), result.stdout
    assert result.stdout.endswith("Status check results are ×\n")


def test_short_shows_only_the_problems(capsys):
    code, out, _err = run(capsys, "--simulate", "missing-remote-secret", "--requests", "20", "-o", "short")
    assert code == 1
    assert set(check_lines(out)) == {"load-balancing", "endpoints", "remote-secrets"}
    assert "Trust Configuration" not in out and out.splitlines()[-1] == "Status check results are ×"
    code, out, _err = run(capsys, "--simulate", "healthy", "--requests", "20", "--output", "short")
    assert (code, out) == (0, "Status check results are √\n")


def test_json_is_the_rows_and_the_status(capsys):
    code, out, _err = run(capsys, "--simulate", "missing-remote-secret", "--requests", "50", "-o", "json")
    data = json.loads(out)
    assert code == 1 and data["status"] == "fail" and "rounds" not in data
    rows = {row["check"]: row for row in data["checks"]}
    assert list(rows) == list(CHECKS)
    secrets = rows["remote-secrets"]
    assert (secrets["status"], secrets["mark"], secrets["section"]) == ("fail", "×", "Step-by-step Diagnosis")
    assert "create-remote-secret" in secrets["hint"]
    assert secrets["guide"] == f"{GUIDE_URL}#step-by-step-diagnosis"
    assert rows["trust"]["hint"] == "" and rows["connectivity"]["mark"] == "-"
    assert len(out) < 10_000  # compact: no evidence, no samples


def test_wait_that_never_passes_ends_when_the_time_is_up(capsys, monkeypatch):
    monkeypatch.setattr(checklist, "PAUSE", 0.2)
    started = time.monotonic()
    code, out, _err = run(capsys, "--simulate", "firewall", "--requests", "10", "--wait", "2s", "-o", "short")
    took = time.monotonic() - started
    assert code == 1 and 2 <= took < 10
    headings = [line for line in out.splitlines() if line.startswith("== round")]
    assert headings[0].startswith("== round 1, ")  # then nothing while the list stays the same
    assert len(headings) == 2 and headings[-1].endswith("s after the start: the time is up")
    assert int(headings[-1].split()[2].rstrip(",")) > 3  # it did run again, quietly
    assert out.splitlines()[-1] == "Status check results are ×"


def test_wait_stops_after_the_first_round_that_passes(capsys):
    started = time.monotonic()
    code, out, _err = run(capsys, "--simulate", "healthy", "--requests", "10", "--wait", "1m", "-o", "short")
    assert code == 0 and time.monotonic() - started < 20
    assert out.splitlines()[0].startswith("== round 1, ") and out.count("== round") == 1
    assert out.splitlines()[0].endswith(": no check fails")


def test_wait_prints_a_round_that_changed_and_stops_once_fixed(capsys, monkeypatch):
    """The fault is fixed during the wait: round 1 shows it, round 2 (changed) passes and ends the wait."""
    import meshnb.diagnostics.triage as triage_module

    real = triage_module.triage

    def triage_then_fix(mesh, **kwargs):
        report = real(mesh, **kwargs)
        assert kwargs["allow_changes"] is False  # read-only: the probe is only planned
        mesh.use("healthy")
        return report

    monkeypatch.setattr(triage_module, "triage", triage_then_fix)
    monkeypatch.setattr(checklist, "PAUSE", 0.1)
    code, out, _err = run(capsys, "--simulate", "missing-remote-secret", "--requests", "10", "--wait", "30")
    assert code == 0
    first, second = out.split("== round 2, ")
    assert "× remote-secrets" in first and "Status check results are ×" in first
    assert second.split("\n")[0].endswith(": no check fails") and "× " not in second


def test_json_with_wait_is_one_document_of_the_last_round(capsys, monkeypatch):
    monkeypatch.setattr(checklist, "PAUSE", 0.2)
    code, out, _err = run(capsys, "--simulate", "firewall", "--requests", "10", "--wait", "1", "-o", "json")
    data = json.loads(out)
    assert code == 1 and data["rounds"] >= 2 and data["seconds"] >= 1


@pytest.mark.parametrize("value", ["soon", "5 minutes", "-1m", "1d"])
def test_a_bad_wait_is_one_line_and_exit_2(capsys, value):
    code, out, err = run(capsys, "--simulate", "healthy", f"--wait={value}")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("meshnb: error: --wait takes a time such as 90s")


def test_the_list_needs_a_mesh_and_its_options_are_its_own(capsys):
    code, _out, err = run(capsys)
    assert code == 2 and "--simulate" in err and err.count("\n") == 1
    code, _out, err = run(capsys, "-o", "json", "trust", "--simulate", "healthy")
    assert code == 2 and "`meshnb check trust` has --json" in err


def test_from_a_real_process_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "meshnb", "check", "--simulate", "trust-mismatch", "--requests", "10"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1 and result.stderr == ""
    assert "× trust: " in result.stdout and result.stdout.endswith("Status check results are ×\n")


def test_ctrl_c_during_wait_ends_cleanly():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meshnb",
            "check",
            "--simulate",
            "firewall",
            "--requests",
            "10",
            "--wait",
            "5m",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # round 1 is printed, then the wait goes on
            if line.startswith("Status check results are"):
                break
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGINT
    assert err.strip() == "meshnb: interrupted (SIGINT)" and "Traceback" not in err


def test_rows_of_findings_without_a_registered_check():
    """A Finding of a check the registry does not know (an older snapshot's) still gets its row."""
    row = checklist.rows({"toy": meshnb.Finding("toy", "warn", "look", next_steps=["Do it."])})[0]
    assert (row.title, row.section, row.guide, row.hint, row.mark) == ("toy", "toy", "", "Do it.", "‼")
    assert "for hints" not in checklist.text([row])
