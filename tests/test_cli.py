"""The meshnb command: tables, JSON and exit codes, run as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
    # the samples are most of it: without them less than half (the checks' own tables remain)
    assert len(compact.stdout) < 60_000 and 2 * len(compact.stdout) < len(full.stdout)


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


@contextlib.contextmanager
def _meshnb_lab(tmp_path, cwd=None):
    """`meshnb lab` headless on a free port, run from ``cwd``: yields (base URL, token, its log)."""
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
            [sys.executable, "-m", "meshnb", "lab", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.5)
        yield base, token, log
    finally:
        server.terminate()
        server.wait(timeout=30)


def _contents(base: str, token: str, path: str, model: dict | None = None) -> dict:
    """GET (or, given ``model``, PUT: what JupyterLab's Save and autosave send) a file of the contents API."""
    request = urllib.request.Request(
        f"{base}/api/contents/{path}",
        method="GET" if model is None else "PUT",
        data=None if model is None else json.dumps(model).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.load(response)


def test_lab_serves_the_notebooks_with_the_widget_and_plotly_extensions(tmp_path):
    """`meshnb lab` (the README's first command) starts JupyterLab on the project's notebooks."""
    with _meshnb_lab(tmp_path) as (base, token, log):
        notebook_url = f"{base}/lab/tree/notebooks/00-triage.ipynb?token={token}"  # the triage notebook
        with urllib.request.urlopen(notebook_url, timeout=10) as response:
            page = response.read().decode()
        assert "jupyterlab-plotly" in page and "@jupyter-widgets/jupyterlab-manager" in page
        # headless, it prints the notebook's own URL to open (a token it was given shows as "...")
        assert notebook_url.replace(token, "...") in log.read_text()
        assert _contents(base, token, "notebooks/00-triage.ipynb?content=0")["type"] == "notebook"


def test_saving_a_run_notebook_in_meshnb_lab_leaves_git_status_clean(tmp_path):
    """JupyterLab's autosave and Ctrl+S PUT the notebook with its outputs: in a fresh clone, a shipped
    notebook saved with outputs, widget state and the kernel's language details is written as shipped,
    while a person's own notebook keeps its outputs."""
    root = Path(__file__).resolve().parents[1]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    with _meshnb_lab(tmp_path, cwd=clone) as (base, token, _log):
        model = _contents(base, token, "notebooks/03-locality.ipynb")
        notebook = model["content"]
        notebook["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
        notebook["metadata"]["language_info"] = {
            "name": "python",
            "version": "3.11.2",
            "file_extension": ".py",
        }
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        for n, cell in enumerate(code, 1):
            cell["execution_count"] = n
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "cluster1: PASS\n"}]
            cell["metadata"]["scrolled"] = True
        saved = {"type": "notebook", "format": "json", "content": notebook}
        _contents(base, token, "notebooks/03-locality.ipynb", saved)
        _contents(base, token, "notebooks/my-incident.ipynb", saved)
        mine = _contents(base, token, "notebooks/my-incident.ipynb")["content"]
    assert mine["cells"][-1]["outputs"] and mine["metadata"]["widgets"]  # saved whole
    status = subprocess.run(
        ["git", "-C", str(clone), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    diff = subprocess.run(
        ["git", "-C", str(clone), "diff"], capture_output=True, text=True, check=True
    ).stdout
    assert status.stdout == "?? notebooks/my-incident.ipynb\n", status.stdout + diff


def test_remote_secrets_check_from_the_command_line():
    result = meshnb("check", "remote-secrets", "--simulate", "missing-remote-secret")
    assert result.returncode == 1, result.stderr
    headline, summary = result.stdout.splitlines()[:2]
    assert headline == "FAIL: cluster1 has no remote secret for cluster2"  # then the summary, in full
    assert summary == "  cluster1: no remote secret for cluster2"
    assert "create-remote-secret" in result.stdout
    ok = meshnb("check", "remote-secrets", "--simulate", "healthy", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["check"] == "remote-secrets"


def test_triage_says_a_headline_per_check_and_prints_each_command_on_one_line():
    create = (
        "`istioctl --context=cluster2 create-remote-secret --name=cluster2 | kubectl --context=cluster1 apply"
    )
    result = subprocess.run(
        [sys.executable, "-m", "meshnb", "triage", "--simulate", "missing-remote-secret", "--requests", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 1, result.stderr
    checks = result.stdout.split("\nChecks:\n")[1].splitlines()
    assert "  remote-secrets  fail    cluster1 has no remote secret for cluster2" in checks
    assert not [line for line in checks if "; " in line]  # one sentence each, not the summaries
    assert any(f"{create} -f -`" in line for line in result.stdout.splitlines())  # whole, past 80 columns


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
