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


@pytest.mark.parametrize("scenario", ["firewall", "missing-remote-secret"])
def test_failures_exit_1_with_next_steps(scenario):
    result = meshnb("check", "load-balancing", "--simulate", scenario, "--requests", "30")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("FAIL:") and "Next steps:" in result.stdout


def test_json_output_is_the_finding():
    args = ("check", "load-balancing", "--simulate", "missing-remote-secret", "--requests", "20", "--json")
    result = meshnb(*args)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["status"] == "fail" and data["check"] == "load-balancing"
    assert "samples" not in data["evidence"] and data["omitted"] == {"samples": 40}  # one row per request
    assert data["evidence"]["split"]["data"]
    every = json.loads(meshnb(*args, "--samples").stdout)
    assert len(every["evidence"]["samples"]["data"]) == 40 and "omitted" not in every


def test_triage_json_is_compact_unless_samples_are_asked_for():
    compact = meshnb("triage", "--simulate", "firewall", "--requests", "500", "--json")
    full = meshnb("triage", "--simulate", "firewall", "--requests", "500", "--json", "--samples")
    assert compact.returncode == full.returncode == 1
    lb, lb_full = (json.loads(r.stdout)["findings"]["load-balancing"] for r in (compact, full))
    assert lb["omitted"] == {"samples": 1000} and len(lb_full["evidence"]["samples"]["data"]) == 1000
    assert len(compact.stdout) < 40_000 < len(full.stdout)


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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_lab_serves_the_notebooks_with_the_widget_and_plotly_extensions(tmp_path):
    """`meshnb lab` (the README's first command) starts JupyterLab on the project's notebooks."""
    import os
    import time
    import urllib.request

    port, token = _free_port(), "meshnb-test-token"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    args = [
        "--",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
    ]
    log = tmp_path / "lab.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "meshnb", "lab", *args], env=env, stdout=subprocess.DEVNULL, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    notebook_url = f"{base}/lab/tree/notebooks/00-triage.ipynb?token={token}"  # the triage notebook
    try:
        deadline, page = time.monotonic() + 60, None
        while page is None and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(notebook_url, timeout=5) as response:
                    page = response.read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None, "JupyterLab did not answer within 60 s"
        assert "jupyterlab-plotly" in page and "@jupyter-widgets/jupyterlab-manager" in page
        # headless, it prints the notebook's own URL to open (a token it was given shows as "...")
        assert notebook_url.replace(token, "...") in log.read_text()
        request = urllib.request.Request(
            f"{base}/api/contents/notebooks/00-triage.ipynb?content=0",
            headers={"Authorization": f"token {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["type"] == "notebook"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_remote_secrets_check_from_the_command_line():
    result = meshnb("check", "remote-secrets", "--simulate", "missing-remote-secret")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("FAIL: cluster1: no remote secret for cluster2")
    assert "create-remote-secret" in result.stdout
    ok = meshnb("check", "remote-secrets", "--simulate", "healthy", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["check"] == "remote-secrets"


def test_trust_check_from_the_command_line():
    result = meshnb("check", "trust", "--simulate", "trust-mismatch")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("FAIL:") and "different roots" in result.stdout
    assert "PRIVATE" not in result.stdout
    ok = meshnb("check", "trust", "--simulate", "healthy", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["check"] == "trust"
    assert "PRIVATE" not in ok.stdout


def _envoys() -> set[str]:
    found = subprocess.run(["pgrep", "-x", "envoy"], capture_output=True, text=True, check=False)
    return set(found.stdout.split())


def test_triage_on_the_lab_from_the_command_line():
    """--lab starts real Envoys for the run and stops them: the verdict, and no Envoy left."""
    before = _envoys()
    result = meshnb("triage", "--lab", "trust-mismatch", "--requests", "30", "--json")
    assert result.returncode == 1, result.stderr
    assert [c["key"] for c in json.loads(result.stdout)["diagnosis"]["causes"]] == ["trust"]
    assert _envoys() <= before
