"""The kube backend against API servers that misbehave, through the real kubernetes client over HTTP:
answers that are not JSON, JSON of the wrong shape, trickles, floods; credential plugins that hang;
kubeconfigs of the wrong form. Each is one cluster's error with a clear message, never a traceback,
and never hides the other cluster."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from fakeapi import FakeApiServer, write_kubeconfig
from hostile import (
    HostileServer,
    announced_gigabytes,
    endless_chunks,
    html_page,
    json_answer,
    not_utf8,
    trickle_body,
    trickle_headers,
)

import meshnb
from meshnb.backends.kube import connect
from meshnb.errors import ClusterError, ClusterTimeout, ConfigError

WRONG_SHAPES = {
    "a list": [1, 2],
    "items not a list": {"kind": "PodList", "items": 5},
    "items of numbers": {"kind": "PodList", "items": [1, 2]},
    "metadata a string": {"kind": "PodList", "items": [{"metadata": "pod"}]},
    "not a list kind": {"kind": "Status", "items": []},
    "no kind": {"items": []},
    "labels of numbers": {"kind": "PodList", "items": [{"metadata": {"name": "p", "labels": {"app": 1}}}]},
    "name a number": {"kind": "PodList", "items": [{"metadata": {"name": 7}}]},
    "containers an object": {
        "kind": "PodList",
        "items": [{"metadata": {"name": "p"}, "spec": {"containers": {"a": 1}}}],
    },
}


def _cluster(tmp_path: Path, behaviour, **options):
    server = HostileServer(behaviour)
    server.__enter__()
    path = write_kubeconfig(tmp_path / "kc", {"bad": server})
    mesh = connect(["bad"], path, **options)
    return server, mesh, mesh.clusters["bad"]


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        (html_page, r"answer is not JSON \(an HTML page of 57 bytes: a proxy or load balancer"),
        (not_utf8, r"answer is not JSON \(19 bytes that are not UTF-8 text\)"),
    ],
)
def test_an_answer_that_is_not_json_is_that_clusters_error(tmp_path, behaviour, message):
    server, mesh, bad = _cluster(tmp_path, behaviour)
    try:
        for call in (lambda: bad.list_pods("sample"), bad.list_nodes, lambda: bad.read_secret("a", "b")):
            with pytest.raises(ClusterError, match=message):
                call()
        with pytest.raises(ClusterError, match="not JSON"):
            bad.version()
    finally:
        mesh.close()
        server.__exit__()


@pytest.mark.parametrize("shape", sorted(WRONG_SHAPES))
def test_json_of_the_wrong_shape_names_the_field(tmp_path, shape):
    server, mesh, bad = _cluster(tmp_path, json_answer(WRONG_SHAPES[shape]))
    try:
        with pytest.raises(
            ClusterError,
            match=r"^bad: error: pods in namespace sample: (unexpected answer|.* JSON object|.* not a List)",
        ):
            bad.list_pods("sample")
    finally:
        mesh.close()
        server.__exit__()


@pytest.mark.parametrize("behaviour", [trickle_body(0.3), trickle_headers(0.3)], ids=["body", "headers"])
def test_a_trickle_is_cut_at_the_calls_timeout(tmp_path, behaviour):
    server, mesh, bad = _cluster(tmp_path, behaviour, timeout=2)
    try:
        start = time.monotonic()
        with pytest.raises(ClusterTimeout, match=r"no complete answer within 2s"):
            bad.list_pods("sample")
        elapsed = time.monotonic() - start
        assert 1.9 < elapsed < 3.5, elapsed  # each byte came well within urllib3's per-read timeout
    finally:
        mesh.close()
        server.__exit__()


@pytest.mark.parametrize("behaviour", [announced_gigabytes, endless_chunks], ids=["announced", "chunked"])
def test_an_answer_over_the_limit_is_refused_before_it_costs_memory(tmp_path, behaviour):
    server, mesh, bad = _cluster(tmp_path, behaviour, max_answer_bytes=4 << 20, timeout=30)
    try:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(
            ClusterError, match=r"refused an answer of .* bytes or more, over the limit of 4,194,304"
        ):
            bad.list_pods("sample")
        grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert grown_mib < 8 * 2, f"peak RSS grew {grown_mib:.0f} MiB for a 4 MiB limit"
    finally:
        mesh.close()
        server.__exit__()


def test_default_limit_is_generous_for_real_answers():
    from meshnb.backends.bounded import MAX_ANSWER_BYTES

    assert MAX_ANSWER_BYTES >= 128 << 20  # the 50,000-host Envoy JSON of bench_endpoints is 59 MB


# ---------------------------------------------------------------------------------- one bad, one good
@pytest.mark.parametrize("behaviour", [html_page, not_utf8, json_answer({"items": 5}), trickle_body(0.3)])
def test_one_bad_cluster_never_hides_the_other(tmp_path, behaviour):
    sim = meshnb.simulate()
    with FakeApiServer(sim.clusters["cluster1"]) as good, HostileServer(behaviour) as bad:
        path = write_kubeconfig(tmp_path / "kc", {"cluster1": good, "cluster2": bad})
        with connect(["cluster1", "cluster2"], path, timeout=2) as mesh:
            for check in (meshnb.check_trust, meshnb.check_remote_secrets, meshnb.check_endpoints):
                finding = check(mesh)
                statuses = finding.cluster_statuses()
                assert statuses["cluster2"] == "error", (check.__name__, statuses)
                assert statuses["cluster1"] != "error", (check.__name__, statuses)


def test_the_command_line_reports_both_clusters_without_a_traceback(tmp_path):
    sim = meshnb.simulate()
    with FakeApiServer(sim.clusters["cluster1"]) as good, HostileServer(html_page) as bad:
        path = write_kubeconfig(tmp_path / "kc", {"cluster1": good, "cluster2": bad})
        for check in ("trust", "remote-secrets", "endpoints"):
            targets = ["--context", "cluster1", "--context", "cluster2", "--kubeconfig", str(path)]
            argv = [sys.executable, "-m", "meshnb", "check", check, *targets]
            result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
            assert result.returncode == 2, (check, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr + result.stdout
            assert "cluster1" in result.stdout and "cluster2" in result.stdout
            assert "an HTML page" in result.stdout, result.stdout


# ---------------------------------------------------------------------------------- kubeconfig forms
BAD_KUBECONFIGS = {
    "a list": "- name: east\n",
    "a string": "just some text\n",
    "a number": "42\n",
    "contexts a mapping": "contexts: {name: east}\n",
    "a context that is a string": "contexts: [east]\n",
    "a context without a name": "contexts: [{context: {cluster: east}}]\n",
    "a name that is a number": "contexts: [{name: 5, context: {cluster: east}}]\n",
    "context body a list": "contexts: [{name: east, context: [cluster, east]}]\n",
    "cluster server a list": "clusters: [{name: east, cluster: {server: [a]}}]\n",
    "insecure a string": "clusters: [{name: east, cluster: {server: x, insecure-skip-tls-verify: 'yes'}}]\n",
    "user token a number": "users: [{name: east, user: {token: 12345}}]\n",
    "exec without a command": "users: [{name: east, user: {exec: {apiVersion: v1}}}]\n",
    "exec args a string": "users: [{name: east, user: {exec: {command: aws, args: 'eks get-token'}}}]\n",
    "exec env values": "users: [{name: east, user: {exec: {command: aws, env: [{name: A, value: 1}]}}}]\n",
    "auth-provider config": "users: [{name: east, user: {auth-provider: {name: gcp, config: [1]}}}]\n",
    "current-context a list": "current-context: [east]\n",
    "users a string": "users: alice\n",
}


@pytest.mark.parametrize("name", sorted(BAD_KUBECONFIGS))
def test_a_kubeconfig_of_the_wrong_form_is_one_clear_line(tmp_path, name, capsys):
    from meshnb import cli

    path = tmp_path / "kubeconfig"
    path.write_text(BAD_KUBECONFIGS[name] + "# token: s3cr3t-t0ken-value\n")
    with pytest.raises(ConfigError, match=f"kubeconfig {path}") as caught:
        connect(["east"], path)
    assert "s3cr3t" not in str(caught.value)
    code = cli.main(["check", "trust", "--context", "east", "--kubeconfig", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("meshnb: error:") and err.count("\n") == 1, err


def test_a_context_whose_cluster_entry_is_missing_is_a_config_error(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("contexts: [{name: east, context: {cluster: nowhere, user: nobody}}]\n")
    with pytest.raises(ConfigError, match="context 'east'"):
        connect(["east"], path)


# ---------------------------------------------------------------------------------- credential plugins
def _plugin(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "plugin.py"
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


EXEC_API = "client.authentication.k8s.io/v1"


def _exec_kubeconfig(tmp_path: Path, server_url: str, plugin: Path, **extra) -> Path:
    config = {
        "clusters": [{"name": "east", "cluster": {"server": server_url}}],
        "contexts": [{"name": "east", "context": {"cluster": "east", "user": "east"}}],
        "users": [
            {"name": "east", "user": {**extra, "exec": {"apiVersion": EXEC_API, "command": str(plugin)}}}
        ],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


HANGING = """
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(os.environ["PIDS"], "w").write(f"{os.getpid()} {child.pid}")
    time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie of a child reaped later is gone too
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def _assert_gone(pid_file: Path) -> None:
    """The plugin and its child are gone (the child, reparented, may take a moment to be reaped)."""
    pids = [int(p) for p in pid_file.read_text().split()]
    deadline = time.monotonic() + 5
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(p) for p in pids), pids


def test_an_exec_plugin_that_never_returns_is_killed_with_its_children(tmp_path, monkeypatch):
    monkeypatch.setenv("PIDS", str(tmp_path / "pids"))
    path = _exec_kubeconfig(tmp_path, "http://127.0.0.1:1", _plugin(tmp_path, HANGING))
    start = time.monotonic()
    with pytest.raises(
        ConfigError, match=r"credential plugin 'plugin.py' did not finish within 1s and was stopped"
    ):
        connect(["east"], path, credential_timeout=1)
    assert time.monotonic() - start < 3
    _assert_gone(tmp_path / "pids")


def test_a_gcp_cmd_path_that_never_returns_is_killed(tmp_path, monkeypatch):
    monkeypatch.setenv("PIDS", str(tmp_path / "pids"))
    plugin = _plugin(tmp_path, HANGING)
    settings = {"cmd-path": str(plugin), "cmd-args": "config config-helper"}
    config = {
        "clusters": [{"name": "east", "cluster": {"server": "http://127.0.0.1:1"}}],
        "contexts": [{"name": "east", "context": {"cluster": "east", "user": "east"}}],
        "users": [{"name": "east", "user": {"auth-provider": {"name": "gcp", "config": settings}}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="did not finish within 1s"):
        connect(["east"], path, credential_timeout=1)
    _assert_gone(tmp_path / "pids")


def test_the_command_line_reports_a_hanging_plugin_in_one_line(tmp_path):
    env = {**os.environ, "PIDS": str(tmp_path / "pids")}
    path = _exec_kubeconfig(tmp_path, "http://127.0.0.1:1", _plugin(tmp_path, HANGING))
    # the real command, with connect()'s default plugin timeout shortened from 30 s for the test
    code = (
        "import sys, meshnb.backends.kube as kube; kube.connect.__kwdefaults__['credential_timeout'] = 1; "
        "from meshnb.cli import main; sys.exit(main())"
    )
    argv = [sys.executable, "-c", code, "check", "trust", "--context", "east", "--kubeconfig", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "did not finish within 1s" in result.stderr, result.stderr


def test_an_exec_plugin_token_is_used_and_refreshed_when_it_expires(tmp_path):
    counter = tmp_path / "runs"
    plugin = _plugin(
        tmp_path,
        f"""
        import datetime, json, os
        runs = int(open({str(counter)!r}).read()) + 1 if os.path.exists({str(counter)!r}) else 1
        open({str(counter)!r}, "w").write(str(runs))
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=11)
        stamp = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {{"token": f"plugin-token-{{runs}}", "expirationTimestamp": stamp}}
        print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                           "status": status}}))
        """,
    )
    sim = meshnb.simulate().clusters["cluster1"]
    with FakeApiServer(sim, token="plugin-token-1") as server:
        path = _exec_kubeconfig(tmp_path, server.url, plugin)
        with connect(["east"], path, credential_timeout=10) as mesh:
            assert mesh.clusters["east"].list_nodes()  # the plugin's token was accepted
            assert counter.read_text() == "1"
            time.sleep(1.1)  # within 10 s of expiry: the next call runs the plugin again
            server.token = "plugin-token-2"
            assert mesh.clusters["east"].list_nodes()
            assert counter.read_text() == "2"


def test_an_exec_plugin_that_fails_says_its_last_line_without_a_token(tmp_path):
    plugin = _plugin(
        tmp_path,
        """
        import sys
        print("error: token eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl expired; run 'aws sso login'", file=sys.stderr)
        sys.exit(3)
        """,
    )
    path = _exec_kubeconfig(tmp_path, "http://127.0.0.1:1", plugin)
    with pytest.raises(ConfigError, match=r"exited 3: error: token <redacted> expired; run 'aws sso login'"):
        connect(["east"], path)


def test_an_exec_plugin_printing_garbage_is_not_quoted(tmp_path):
    plugin = _plugin(tmp_path, 'print("{\\"status\\": {\\"token\\": ")  # s3cr3t-half-json\n')
    path = _exec_kubeconfig(tmp_path, "http://127.0.0.1:1", plugin)
    with pytest.raises(ConfigError, match="printed no credential meshnb can read") as caught:
        connect(["east"], path)
    assert "s3cr3t" not in str(caught.value)


def test_a_missing_plugin_is_a_clear_error(tmp_path):
    path = _exec_kubeconfig(tmp_path, "http://127.0.0.1:1", tmp_path / "no-such-plugin")
    with pytest.raises(ConfigError, match="credential plugin 'no-such-plugin' could not be started"):
        connect(["east"], path)


def test_the_plugin_gets_kubectls_environment_and_no_stdin(tmp_path):
    seen = tmp_path / "seen.json"
    plugin = _plugin(
        tmp_path,
        f"""
        import json, os, sys
        json.dump({{"info": json.loads(os.environ["KUBERNETES_EXEC_INFO"]), "stdin": sys.stdin.read(),
                   "cwd": os.getcwd()}}, open({str(seen)!r}, "w"))
        print(json.dumps({{"apiVersion": "v1", "kind": "ExecCredential", "status": {{"token": "t"}}}}))
        """,
    )
    connect(["east"], _exec_kubeconfig(tmp_path, "http://127.0.0.1:1", plugin)).close()
    got = json.loads(seen.read_text())
    assert got["info"]["kind"] == "ExecCredential" and got["info"]["spec"] == {"interactive": False}
    assert got["stdin"] == "" and got["cwd"] == str(tmp_path)
