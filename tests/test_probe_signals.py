"""Signals during `meshnb check connectivity --apply` on the test bed's real API servers: Ctrl-C,
SIGTERM and SIGHUP at several points of the probe, a second Ctrl-C during cleanup, a namespace held
in Terminating by a finalizer, and an API server that stops answering mid-run. Each time: one line, the
signal's exit code, and nothing of the probe left, nor created after meshnb has gone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testbed import processes

NAMES = ["cluster1", "cluster2"]
HOLD = "meshnb.test/hold"


def _core(testbed, cluster: str):
    from kubernetes import client

    return client.CoreV1Api(testbed.client(cluster))


def _namespace(testbed, cluster: str, name: str):
    """The namespace's object, or None when it does not exist."""
    from kubernetes.client.exceptions import ApiException

    try:
        return _core(testbed, cluster).read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _live(testbed, cluster: str, name: str) -> bool:
    """The namespace exists and is not being deleted."""
    found = _namespace(testbed, cluster, name)
    return found is not None and found.metadata.deletion_timestamp is None


def _wait(what: str, condition, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"meshnb ended (rc {proc.returncode}) before {what}: {err}{out}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _probe(testbed, namespace: str, *extra: str) -> subprocess.Popen:
    targets = [arg for name in NAMES for arg in ("--context", name)]
    argv = [sys.executable, "-m", "meshnb", "check", "connectivity", "--apply", "--namespace", namespace]
    return subprocess.Popen(
        [*argv, *targets, "--kubeconfig", str(testbed.kubeconfig), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the signal goes to meshnb only, as from a terminal or a CI runner
    )


def _assert_stopped_cleanly(proc: subprocess.Popen, sig: signal.Signals, within: float) -> str:
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"meshnb took more than {within} s to stop after {sig.name}: {err}")
    elapsed = time.monotonic() - started
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert "Traceback" not in err + out, err
    assert err.strip().splitlines()[-1] == f"meshnb: interrupted ({sig.name})", err
    return f"{elapsed:.1f}s"


def _assert_nothing_left(testbed, namespace: str, linger: float = 2.0) -> None:
    """The probe's namespace is gone or going in both clusters, and stays so: nothing recreates it."""
    deadline = time.monotonic() + linger
    while time.monotonic() < deadline:
        for cluster in NAMES:
            assert not _live(testbed, cluster, namespace), f"{namespace} is live in {cluster}"
        time.sleep(0.25)
    _wait(f"{namespace} to be gone", lambda: all(_namespace(testbed, c, namespace) is None for c in NAMES))
    time.sleep(2.5)  # longer than a waiting worker's poll: had one survived, it would create now
    for cluster in NAMES:
        assert _namespace(testbed, cluster, namespace) is None, f"{namespace} came back in {cluster}"


POINTS = {
    # the moment to send the signal: (what it is, when it holds)
    "namespace created": lambda t, ns: _live(t, "cluster1", ns) or _live(t, "cluster2", ns),
    "pods created": lambda t, ns: any(
        _live(t, c, ns) and _core(t, c).list_namespaced_pod(ns).items for c in NAMES
    ),
    "pods running": lambda t, ns: all(
        _live(t, c, ns)
        and sum(p.status.phase == "Running" for p in _core(t, c).list_namespaced_pod(ns).items) == 2
        for c in NAMES
    ),
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
@pytest.mark.parametrize("point", sorted(POINTS))
def test_a_signal_during_the_probe_cleans_up_like_ctrl_c(testbed, sig, point):
    namespace = f"sig-{sig.name.lower()}-{point.replace(' ', '-')}"
    proc = _probe(testbed, namespace)
    _wait(point, lambda: POINTS[point](testbed, namespace), proc=proc)
    proc.send_signal(sig)
    _assert_stopped_cleanly(proc, sig, within=15)
    _assert_nothing_left(testbed, namespace)


def test_a_second_ctrl_c_during_cleanup_neither_cuts_it_short_nor_lets_workers_create(testbed):
    """cluster2 holds the namespace of an earlier probe in Terminating (a finalizer), so its worker
    waits for it to go; Ctrl-C, and Ctrl-C again while meshnb cleans up. Then the finalizer goes: the
    old namespace is deleted, and no worker of the stopped run may create the probe there."""
    namespace = "sig-held"
    core2 = _core(testbed, "cluster2")
    core2.create_namespace({"metadata": {"name": namespace, "finalizers": [HOLD]}})
    core2.delete_namespace(namespace)
    try:
        _wait("the namespace to be terminating", lambda: not _live(testbed, "cluster2", namespace))
        proc = _probe(testbed, namespace)
        _wait("cluster1's probe namespace", lambda: _live(testbed, "cluster1", namespace), proc=proc)
        time.sleep(1.5)  # cluster2's worker is in its wait for the old namespace
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)  # during cleanup, or, if that was quicker, as meshnb exits: both are fine
        proc.send_signal(signal.SIGINT)
        _assert_stopped_cleanly(proc, signal.SIGINT, within=15)
    finally:
        core2.patch_namespace(namespace, {"metadata": {"finalizers": None}})
    _assert_nothing_left(testbed, namespace)


@pytest.mark.parametrize("how", ["killed", "hung"])
def test_ctrl_c_takes_effect_while_calls_to_a_dead_api_server_are_in_flight(testbed, how):
    """cluster2's API server stops answering mid-probe (SIGSTOP: calls to it hang in flight), Ctrl-C,
    and then it is killed (``killed``) or stays hung (``hung``): meshnb stops within a few seconds
    (its --timeout bounds the wait), cluster1 is cleaned up at once, and cluster2's state is said."""
    namespace = f"sig-dead-{how}"
    proc = _probe(testbed, namespace, "--timeout", "3")
    _wait("cluster2's probe namespace", lambda: _live(testbed, "cluster2", namespace), proc=proc)
    processes.pause(testbed.root, "kube-apiserver-cluster2", True)
    try:
        time.sleep(0.3)  # meshnb's next call to cluster2 is in flight, unanswered
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        if how == "killed":
            os.kill(processes.recorded(testbed.root)["kube-apiserver-cluster2"], signal.SIGKILL)
        _wait("cluster1's namespace to be deleted", lambda: not _live(testbed, "cluster1", namespace), 10)
        cluster1_cleaned = time.monotonic() - sent
        _out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        if how == "killed":
            testbed.start_apiserver("cluster2")
        else:
            processes.pause(testbed.root, "kube-apiserver-cluster2", False)
        testbed.wait_ready()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert cluster1_cleaned < 3, cluster1_cleaned
    bound = 3 if how == "killed" else 3 + 1 + 3 + 2  # hung: the call in flight, then the delete
    assert elapsed < bound, elapsed
    assert re.search(f"cluster2: namespace {namespace} NOT (deleted|sure: NOT deleted)", err), err
    # cluster2 answers again: delete what it kept, as the message asks a person to
    from kubernetes.client.exceptions import ApiException

    try:
        _core(testbed, "cluster2").delete_namespace(namespace)
    except ApiException as exc:
        assert exc.status in (404, 409), exc
    _assert_nothing_left(testbed, namespace)


def test_probe_runs_to_the_end_when_not_interrupted(testbed):
    """The same command without a signal: pass, exit 0, cleaned up (the control case)."""
    proc = _probe(testbed, "sig-none")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err + out
    assert out.startswith("PASS:"), out
    _assert_nothing_left(testbed, "sig-none", linger=0.5)


def test_the_signal_handlers_are_only_the_commands(tmp_path):
    """Importing meshnb in a notebook or a program changes no signal handler."""
    code = (
        "import signal, meshnb, meshnb.cli; "
        "assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL; "
        "assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1], env=os.environ)
