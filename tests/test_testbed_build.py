"""tests/testbed/build: every binary the test bed runs is there, at its pinned version, measured.

Real Istio joins the test bed (issue 15): istiod (pilot-discovery), pilot-agent and istioctl are built
from the istio.io/istio module with their version stamped, and kube-controller-manager (EndpointSlices,
namespace deletion, service-account tokens) the way kube-apiserver is.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from testbed.bed import ISTIO_BINARIES, ISTIO_MODULE, ISTIO_VERSION, KUBE_VERSION


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_istioctl_says_the_istio_version_it_was_built_from(testbed_bin):
    result = _run(str(testbed_bin / f"istioctl-{ISTIO_VERSION}"), "version", "--remote=false", "-o", "json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)["clientVersion"]
    assert info["version"] == ISTIO_VERSION
    assert info["revision"] == ISTIO_MODULE.rsplit("-", 1)[1]  # the module's commit
    assert info["status"] == "Clean"


@pytest.mark.parametrize("name", ["pilot-discovery", "pilot-agent"])
def test_istiod_and_pilot_agent_say_it_too(testbed_bin, name):
    result = _run(str(testbed_bin / f"{name}-{ISTIO_VERSION}"), "version", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["clientVersion"]["version"] == ISTIO_VERSION


def test_kube_controller_manager_is_the_api_servers_release(testbed_bin):
    result = _run(str(testbed_bin / f"kube-controller-manager-v{KUBE_VERSION}"), "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Kubernetes v{KUBE_VERSION}"


def test_iptables_is_there_for_traffic_capture():
    path = shutil.which("iptables")
    assert path is not None
    assert _run(path, "--version").stdout.startswith("iptables v")


def test_the_build_is_measured(testbed_bin):
    stats = (testbed_bin.parent / "build-stats.txt").read_text()
    for name in ("kube-apiserver", "kube-controller-manager", *ISTIO_BINARIES):
        assert f"go build {name}:" in stats, f"no build figures for {name}"
    assert "max RSS" in stats and "total:" in stats
