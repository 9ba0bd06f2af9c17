"""The meshnb command: tables, JSON and exit codes, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def meshnb(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "meshnb", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_healthy_passes_with_a_readable_table():
    result = meshnb("check", "load-balancing", "--simulate", "healthy", "--requests", "30")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PASS:")
    assert "cluster1" in result.stdout and "95% Wilson interval" in result.stdout


@pytest.mark.parametrize("scenario", ["firewall", "remote-secret-wrong-key"])
def test_failures_exit_1_with_next_steps(scenario):
    result = meshnb("check", "load-balancing", "--simulate", scenario, "--requests", "30")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("FAIL:") and "Next steps:" in result.stdout


def test_json_output_is_the_finding():
    result = meshnb(
        "check", "load-balancing", "--simulate", "missing-remote-secret", "--requests", "20", "--json"
    )
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["status"] == "fail" and data["check"] == "load-balancing"
    assert len(data["evidence"]["samples"]["data"]) == 40


def test_errors_exit_2(tmp_path):
    missing = meshnb("check", "load-balancing", "--context", "a", "--kubeconfig", str(tmp_path / "none"))
    assert missing.returncode == 2 and "meshnb: error:" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = meshnb("check", "load-balancing", "--simulate", "healthy", "--service", "Bad Name")
    assert bad.returncode == 2 and "invalid service" in bad.stderr
    usage = meshnb("check", "load-balancing")
    assert usage.returncode == 2 and "--simulate" in usage.stderr


def test_scenarios_are_listed():
    result = meshnb("scenarios")
    assert result.returncode == 0
    assert "trust-mismatch" in result.stdout and "locality-prefer-local" in result.stdout
