"""The command line under bad conditions, as a real subprocess: an unreachable cluster beside a good
one, a --save path that cannot be written, a reader that closes the pipe, an unexpected error. Never a
traceback; the result the user could read is never lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakeapi import FakeApiServer, write_kubeconfig

import meshnb


def meshnb_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "meshnb", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


@pytest.fixture
def half_mesh(tmp_path: Path):
    """A kubeconfig with cluster1 served by a fake API over the simulated cluster, cluster2 unreachable."""
    with FakeApiServer(meshnb.simulate().clusters["cluster1"]) as server:
        yield write_kubeconfig(tmp_path / "kubeconfig", {"cluster1": server}, unreachable="cluster2")


@pytest.mark.parametrize("check", ["trust", "remote-secrets", "endpoints", "locality", "load-balancing"])
def test_an_unreachable_cluster_is_an_error_row_beside_the_other(half_mesh, check):
    """Empty date cells (no certificate, no token expiry for cluster2) used to stop the table with a
    pandas error that hid cluster1 and exited 1."""
    result = meshnb_cli(
        "check", check, "--context", "cluster1", "--context", "cluster2", "--kubeconfig", str(half_mesh)
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == 2, (result.stdout, result.stderr)
    first, detail = result.stdout.splitlines()[:2]
    assert first.startswith("ERROR: cluster2 could not be") and "(unreachable)" in first, result.stdout
    assert detail.strip().startswith("cluster2: unreachable: "), result.stdout  # the summary, under it
    rows = [line.split() for line in result.stdout.splitlines()]
    assert any(row[:1] == ["cluster1"] for row in rows), result.stdout
    assert any(row[:1] == ["cluster2"] and "error" in row for row in rows), result.stdout


def test_triage_says_once_that_a_cluster_is_unreachable_and_cuts_nothing(half_mesh):
    """Every check used to warn again about the same dead API server, in urllib3's words; the check
    lines were clipped at 90 characters."""
    result = meshnb_cli(
        "triage", "--context", "cluster1", "--context", "cluster2", "--kubeconfig", str(half_mesh),
        env={**os.environ, "COLUMNS": "100"},
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "cluster2" in line]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("WARNING meshnb: cluster2: unreachable: ")
    assert warnings[0].endswith(": connection refused"), warnings[0]
    assert all(len(line) <= 100 for line in result.stdout.splitlines()), result.stdout
    assert "…" not in result.stdout
    checks = result.stdout.split("\nChecks:\n")[1]
    assert "remote-secrets error cluster2 could not be read (unreachable)" in " ".join(checks.split())


def test_a_garbage_kubeconfig_is_one_line_and_exit_2(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("clusters: [\n  {name: a, cluster: {server: ")
    result = meshnb_cli("triage", "--context", "a", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"meshnb: error: cannot read kubeconfig {kubeconfig}: not valid YAML")
    assert result.stderr.count("\n") == 1, result.stderr


def test_an_unwritable_save_path_still_prints_the_result(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = meshnb_cli(
        "triage", "--simulate", "firewall", "--requests", "20", "--save", str(blocker / "x.meshnb")
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stdout.startswith("FAIL: most likely:"), result.stdout  # the diagnosis is there
    assert "meshnb: error: the snapshot was not saved:" in result.stderr, result.stderr


def test_html_to_dev_null_is_refused_and_the_diagnosis_shown(tmp_path):
    snapshot = tmp_path / "s.meshnb"
    assert (
        meshnb_cli("triage", "--simulate", "healthy", "--requests", "20", "--save", str(snapshot)).returncode
        == 0
    )
    result = meshnb_cli("report", str(snapshot), "--html", "/dev/null")
    assert result.returncode == 2 and result.stdout.startswith("PASS:"), result
    assert "the HTML report was not written: refusing to write /dev/null" in result.stderr
    assert Path("/dev/null").is_char_device()


def test_a_reader_that_closes_the_pipe_ends_it_quietly():
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'meshnb', 'check', 'load-balancing', '--simulate',"
        " 'healthy', '--requests', '2000', '--json', '--samples'],"
        " stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "p.stdout.read(100); p.stdout.close()\n"
        "err = p.stderr.read().decode(); p.wait()\n"
        "print(p.returncode); print(err)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    returncode, _, err = result.stdout.partition("\n")
    assert returncode == "141", result.stdout
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_an_unexpected_error_is_one_line_and_the_traceback_only_with_vv(tmp_path):
    """A bug must not show a traceback either: one line, exit 2; -vv logs where it happened."""
    code = (
        "import sys, meshnb.cli as cli\n"
        "def broken(args): raise TypeError('something meshnb did not foresee')\n"
        "cli._triage = broken\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    argv = [sys.executable, "-c", code, "triage", "--simulate", "healthy"]
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert quiet.returncode == 2
    assert quiet.stderr == (
        "meshnb: internal error: TypeError: something meshnb did not foresee (run with -vv for details)\n"
    )
    loud = subprocess.run(
        [*argv[:3], "-vv", *argv[3:]], capture_output=True, text=True, timeout=60, check=False
    )
    assert loud.returncode == 2 and "Traceback" in loud.stderr and "def broken" not in loud.stdout


def test_main_puts_back_the_callers_signal_handlers(capsys):
    """Called from Python (a test, a script), the command's SIGTERM/SIGHUP handling ends with it."""
    import signal

    from meshnb import cli

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    assert cli.main(["scenarios"]) == 0
    assert {s: signal.getsignal(s) for s in before} == before


def test_an_interruption_dropped_by_a_finalizer_still_ends_as_interrupted(monkeypatch, capsys):
    """A SIGTERM that lands while Python runs a finalizer is printed and dropped by Python ("Exception
    ignored in: ..."), and the command runs on (a CI run of the probe saw it): meshnb notes it instead,
    prints no traceback, and exits 128 + the signal when the command ends."""
    import signal
    import sys
    import types

    from meshnb import cli

    def interrupted_in_a_finalizer(argv, checks=None):
        error = cli.Interrupted(signal.SIGTERM)
        sys.unraisablehook(
            types.SimpleNamespace(
                exc_value=error,
                exc_type=type(error),
                exc_traceback=None,
                err_msg=None,
                object="list_namespaced_pod",
            )
        )
        return 0

    monkeypatch.setattr(cli, "_main", interrupted_in_a_finalizer)
    previous = {s: signal.getsignal(s) for s in cli.STOP_SIGNALS}
    try:
        assert cli.main(["scenarios"]) == 128 + signal.SIGTERM
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "meshnb: interrupted (SIGTERM)" and "Traceback" not in err
    assert sys.unraisablehook is not cli._unraisable  # put back
