"""The commands that gather each check's evidence by hand (issue 16, point 4: "show commands").

Every check of the registry declares them; they name every cluster's own kubeconfig context, the
check's options and, after a run, the pods it used; every line is valid shell with every name quoted.
The test bed runs them for real (tests/test_testbed.py).
"""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from fakeapi import write_kubeconfig

import meshnb
from meshnb.diagnostics.by_hand import Hand, commands
from meshnb.diagnostics.registry import CHECKS


@pytest.mark.parametrize("name", list(CHECKS))
def test_every_check_has_commands_in_valid_shell_for_every_cluster(name):
    lines = commands(CHECKS[name], meshnb.simulate())
    assert lines, f"{name} declares no commands"
    for line in lines:
        parsed = subprocess.run(["bash", "-n", "-c", line], capture_output=True, text=True, check=False)
        assert parsed.returncode == 0, (line, parsed.stderr)
    text = "\n".join(lines)
    assert "--context=cluster1" in text and "--context=cluster2" in text


def test_the_contexts_options_and_pods_are_the_users(tmp_path):
    kubeconfig = write_kubeconfig(
        tmp_path / "config", {}, unreachable="gke_prod east"
    )  # contexts are read; nothing is called
    mesh = meshnb.connect({"cluster1": "gke_prod east"}, kubeconfig=kubeconfig)
    (line,) = commands(
        CHECKS["endpoints"], mesh, {"service": "reviews", "namespace": "bookinfo", "port": 9080}
    )
    words = shlex.split(line)
    assert words[:3] == ["istioctl", f"--kubeconfig={kubeconfig}", "--context=gke_prod east"]
    assert words[-2:] == ["--cluster", "outbound|9080||reviews.bookinfo.svc.cluster.local"]
    assert "-n bookinfo get pod -l app=curl" in line  # the guide's way to find the curl pod
    finding = meshnb.check_endpoints(meshnb.simulate())
    ran = commands(CHECKS["endpoints"], meshnb.simulate(), finding=finding)
    endpoints = finding.evidence["endpoints"]
    pods = dict(zip(endpoints["source_cluster"], endpoints["source_pod"], strict=True))
    assert [shlex.split(line)[4] for line in ran] == [f"{pods[c]}.sample" for c in ("cluster1", "cluster2")]


def test_a_hostile_name_stays_one_quoted_word():
    hand = Hand({"c1": "ctx; rm -rf ~"}, {"namespace": "istio-system"})
    line = hand.kubectl("c1", "-n", "$(reboot)", "get", "pods")
    assert shlex.split(line) == ["kubectl", "--context=ctx; rm -rf ~", "-n", "$(reboot)", "get", "pods"]


def test_the_panel_shows_them_and_the_command_line_prints_them():
    from meshnb.panels import LoadBalancingPanel

    panel = LoadBalancingPanel(meshnb.simulate(), requests=10)
    shown = panel.outputs["By hand"].outputs[0]["data"]["text/html"]
    assert "app=curl" in shown  # before a run: the guide's lookup of the pod
    finding = panel.run()
    pod = finding.evidence["samples"]["source_pod"].iloc[0]
    assert pod in panel.outputs["By hand"].outputs[0]["data"]["text/html"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshnb",
            "check",
            "remote-secrets",
            "--simulate",
            "healthy",
            "--show-commands",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.splitlines()[0] == (
        "kubectl --context=cluster1 -n istio-system get secrets -l istio/multiCluster=true"
    )
