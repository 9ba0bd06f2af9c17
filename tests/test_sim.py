"""The simulated mesh: one consistent, seeded world whose knobs cause the guide's failures for real."""

from __future__ import annotations

import pytest
import yaml
from cryptography import x509

import meshnb
from meshnb.backends.sim import SCENARIOS
from meshnb.backends.sim.curl import MESHNB_WRITE_OUT, fill_write_out
from meshnb.errors import ConfigError, ExecError, InvalidName, NotFound, Unreachable
from meshnb.readers.curl import CURL_WRITE_OUT, classify_error, parse_curl_batch

URL = "http://helloworld.sample:5000/hello"


def curl(mesh, cluster: str, count: int = 20, url: str = URL, extra: tuple[str, ...] = ()):
    c = mesh.clusters[cluster]
    pod = c.list_pods("sample", "app=curl")[0].name
    argv = ["curl", "-s", "--max-time", "2", "--write-out", CURL_WRITE_OUT, *extra, *([url] * count)]
    return c.exec("sample", pod, argv)


def versions(mesh, cluster: str, count: int = 40) -> set[str]:
    out = set()
    for t in parse_curl_batch(curl(mesh, cluster, count).stdout):
        if classify_error(t.http_status, t.body, t.curl_exit, t.curl_error) is None:
            out.add(t.body.split("version: ")[1].split(",")[0])
    return out


def istiod_log(mesh, cluster: str) -> str:
    c = mesh.clusters[cluster]
    return c.logs("istio-system", c.list_pods("istio-system", "app=istiod")[0].name)


def test_layout_of_the_guide():
    mesh = meshnb.simulate()
    assert sorted(mesh.clusters) == ["cluster1", "cluster2"]
    for name, version in (("cluster1", "v1"), ("cluster2", "v2")):
        c = mesh.clusters[name]
        assert [p.labels["version"] for p in c.list_pods("sample", "app=helloworld")] == [version]
        assert len(c.list_pods("sample", "app=curl")) == 1
        assert len(c.list_pods("istio-system", "app=istiod")) == 1
        assert len(c.list_pods("istio-system", "istio=eastwestgateway")) == 1
        nodes = c.list_nodes()
        assert nodes and all(n.region and n.zone for n in nodes)
    assert (
        mesh.clusters["cluster1"].list_nodes()[0].region != mesh.clusters["cluster2"].list_nodes()[0].region
    )


def test_selectors():
    c = meshnb.simulate().clusters["cluster1"]
    assert c.list_pods("sample", "app in (curl,helloworld)") == c.list_pods("sample")
    assert [p.labels["app"] for p in c.list_pods("sample", "app!=curl")] == ["helloworld"]
    assert c.list_pods("sample", "version") == c.list_pods("sample", "app=helloworld")
    assert c.list_pods("sample", "!version") == c.list_pods("sample", "app=curl")
    assert c.list_pods("nowhere") == []
    with pytest.raises(InvalidName):
        c.list_pods("sample", "app=(bad")
    with pytest.raises(InvalidName):
        c.list_pods("Bad_Namespace")


def test_same_seed_same_world_and_answers():
    a, b, other = meshnb.simulate(seed=7), meshnb.simulate(seed=7), meshnb.simulate(seed=8)
    assert a.clusters["cluster1"].list_pods("sample") == b.clusters["cluster1"].list_pods("sample")
    assert a.clusters["cluster1"].list_pods("sample") != other.clusters["cluster1"].list_pods("sample")
    assert curl(a, "cluster1").stdout == curl(b, "cluster1").stdout
    assert curl(a, "cluster1").stdout != curl(other, "cluster1").stdout
    assert a.clusters["cluster2"].read_secret("istio-system", "cacerts") == b.clusters[
        "cluster2"
    ].read_secret("istio-system", "cacerts")


def test_healthy_mesh_balances_across_clusters():
    mesh = meshnb.simulate()
    assert versions(mesh, "cluster1") == {"v1", "v2"}
    assert versions(mesh, "cluster2") == {"v1", "v2"}
    endpoints = mesh.clusters["cluster1"].endpoints_view("sample", "helloworld", 5000)
    remote = [e for e in endpoints if e["via_gateway"]]
    assert len(remote) == 1 and remote[0]["port"] == 15443 and remote[0]["dest_cluster"] == "cluster2"


def test_scenarios_are_named_sets_of_knobs():
    assert {
        "healthy",
        "firewall",
        "trust-mismatch",
        "missing-remote-secret",
        "remote-secret-wrong-key",
        "locality-prefer-local",
    } <= set(SCENARIOS)
    assert meshnb.simulate("healthy", firewall=True).knobs == meshnb.simulate("firewall").knobs
    with pytest.raises(ConfigError, match="unknown scenario"):
        meshnb.simulate("nope")
    with pytest.raises(ConfigError, match="unknown simulated-mesh knob"):
        meshnb.simulate(firewal=True)


def test_firewall_times_out_cross_cluster_attempts():
    mesh = meshnb.simulate("firewall", retries=0)
    kinds = {
        classify_error(t.http_status, t.body, t.curl_exit, t.curl_error)
        for t in parse_curl_batch(curl(mesh, "cluster1", 40).stdout)
    }
    assert kinds == {None, "timeout"}  # Envoy waits 10 s to connect; curl gives up after --max-time 2
    # with Istio's default retries the failed attempt is retried locally: only v1 answers
    assert versions(meshnb.simulate("firewall"), "cluster1") == {"v1"}


def test_trust_mismatch_fails_tls_and_roots_differ():
    mesh = meshnb.simulate("trust-mismatch", retries=0, hide_tls_reason=False)
    bodies = [t.body for t in parse_curl_batch(curl(mesh, "cluster1", 40).stdout) if t.http_status == 503]
    assert bodies and all("CERTIFICATE_VERIFY_FAILED" in b for b in bodies)
    roots = {
        name: c.read_secret("istio-system", "cacerts")["root-cert.pem"] for name, c in mesh.clusters.items()
    }
    assert roots["cluster1"] != roots["cluster2"]
    healthy = meshnb.simulate()
    assert (
        len({c.read_secret("istio-system", "cacerts")["root-cert.pem"] for c in healthy.clusters.values()})
        == 1
    )


def test_cacerts_are_real_certificates_with_a_private_key():
    data = meshnb.simulate().clusters["cluster1"].read_secret("istio-system", "cacerts")
    assert set(data) == {"ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"}
    assert b"PRIVATE KEY" in data["ca-key.pem"]
    assert "PRIVATE" not in repr(data)  # the mapping never shows values
    ca = x509.load_pem_x509_certificate(data["ca-cert.pem"])
    root = x509.load_pem_x509_certificate(data["root-cert.pem"])
    assert ca.issuer == root.subject
    ca.verify_directly_issued_by(root)
    assert len(x509.load_pem_x509_certificates(data["cert-chain.pem"])) == 2


def test_remote_secrets_hold_kubeconfigs_with_tokens():
    mesh = meshnb.simulate()
    (secret,) = mesh.clusters["cluster1"].list_secrets("istio-system", "istio/multiCluster=true")
    assert secret.name == "istio-remote-secret-cluster2"
    assert secret.annotations["networking.istio.io/cluster"] == "cluster2"
    config = yaml.safe_load(secret.data["cluster2"])
    assert config["current-context"] == "cluster2"
    assert config["users"][0]["user"]["token"].count(".") == 2
    assert not config["clusters"][0]["cluster"]["server"].startswith("https://127.")
    assert "\tAdd cluster\tcluster=cluster2" in istiod_log(mesh, "cluster1")


def test_missing_remote_secret_hides_remote_endpoints():
    mesh = meshnb.simulate("missing-remote-secret")
    assert mesh.clusters["cluster1"].list_secrets("istio-system", "istio/multiCluster=true") == []
    assert [
        e["dest_cluster"] for e in mesh.clusters["cluster1"].endpoints_view("sample", "helloworld", 5000)
    ] == ["cluster1"]
    assert versions(mesh, "cluster1") == {"v1"}
    assert versions(mesh, "cluster2") == {"v1", "v2"}
    assert "Number of remote clusters: 0" in istiod_log(mesh, "cluster1")


def test_wrong_data_key_is_added_under_the_key_as_real_istiod_does():
    """Real istiod 1.31 on the test bed: ``Add cluster cluster=kubeconfig config=...``, and the remote
    cluster's endpoints are read all the same (the cluster ID is the key)."""
    mesh = meshnb.simulate("remote-secret-wrong-key")
    (secret,) = mesh.clusters["cluster1"].list_secrets("istio-system", "istio/multiCluster=true")
    assert list(secret.data) == ["kubeconfig"]
    log = istiod_log(mesh, "cluster1")
    assert "\terror\t" not in log
    assert "\tAdd cluster\tcluster=kubeconfig config=istio-system/istio-remote-secret-cluster2\n" in log
    assert versions(mesh, "cluster1") == {"v1", "v2"}


def test_locality_prefers_local_and_fails_over_when_local_dies():
    mesh = meshnb.simulate("locality-prefer-local")
    priorities = {
        e["dest_cluster"]: e["priority"]
        for e in mesh.clusters["cluster1"].endpoints_view("sample", "helloworld", 5000)
    }
    assert priorities["cluster1"] < priorities["cluster2"]
    assert versions(mesh, "cluster1") == {"v1"}
    mesh.set(dead_versions=("v1",))
    assert versions(mesh, "cluster1", 40) == {"v2"}  # outlier detection ejects v1, priority 1 takes over
    without_outlier = meshnb.simulate("healthy", locality_lb=True)
    assert versions(without_outlier, "cluster1") == {"v1", "v2"}  # locality settings not in effect


def test_envoy_admin_clusters_json_derives_from_the_model():
    import json

    mesh = meshnb.simulate("missing-remote-secret")
    c = mesh.clusters["cluster1"]
    pod = c.list_pods("sample", "app=curl")[0].name
    out = c.exec(
        "sample", pod, ["pilot-agent", "request", "GET", "clusters?format=json"], container="istio-proxy"
    )
    (status,) = json.loads(out.stdout)["cluster_statuses"]
    assert status["name"] == "outbound|5000||helloworld.sample.svc.cluster.local"
    assert len(status["host_statuses"]) == 1


def test_curl_edge_cases():
    mesh = meshnb.simulate()
    (t,) = parse_curl_batch(curl(mesh, "cluster1", 1, url="http://nosuch.sample:5000/hello").stdout)
    assert t.curl_exit == 6
    (t,) = parse_curl_batch(curl(mesh, "cluster1", 1, url="http://helloworld.sample:5001/hello").stdout)
    assert t.curl_exit == 7
    (t,) = parse_curl_batch(curl(mesh, "cluster1", 1, url="http://helloworld.sample:5000/other").stdout)
    assert t.http_status == 404
    result = curl(mesh, "cluster1", 1, extra=("--bogus",))
    assert result.returncode == 2 and "unknown" in result.stderr


def test_contract_errors():
    mesh = meshnb.simulate(unreachable="cluster2")
    c1 = mesh.clusters["cluster1"]
    with pytest.raises(Unreachable, match="cluster2"):
        mesh.clusters["cluster2"].list_nodes()
    with pytest.raises(NotFound, match='pods "ghost" not found'):
        c1.exec("sample", "ghost", ["echo"])
    pod = c1.list_pods("sample", "app=curl")[0].name
    with pytest.raises(InvalidName, match="shell string"):
        c1.exec("sample", pod, "curl http://x")
    with pytest.raises(ExecError, match="not valid"):
        c1.exec("sample", pod, ["echo"], container="nope")
    assert c1.exec("sample", pod, ["nosuchtool"]).returncode == 127
    with pytest.raises(ExecError):
        c1.exec("sample", pod, ["nosuchtool"]).check_returncode()
    with pytest.raises(NotFound, match='secrets "nope" not found'):
        c1.read_secret("istio-system", "nope")


def test_every_scenario_is_described():
    from meshnb.backends.sim import SCENARIO_DESCRIPTIONS

    assert list(SCENARIO_DESCRIPTIONS) == list(SCENARIOS)


def test_use_switches_scenario_and_resets_ejections():
    mesh = meshnb.simulate("locality-prefer-local", dead_versions=("v1",))
    assert versions(mesh, "cluster1", 40) == {"v2"}
    mesh.use("healthy")
    assert mesh.scenario == "healthy" and mesh.knobs == meshnb.simulate().knobs
    assert versions(mesh, "cluster1") == {"v1", "v2"}


def test_another_data_plane_plugs_in_through_the_seam():
    """What meshnb.backends.lab does: its own data plane for exec of curl and pilot-agent, told of changes."""
    from meshnb.backends.sim import DataPlane, Knobs, SimMesh

    class Recorder:
        def __init__(self, mesh):
            self.mesh, self.calls, self.changes = mesh, [], []

        def curl(self, cluster, pod, args, timeout):
            self.calls.append(("curl", cluster, pod.pod.name, args))
            return "hi\n", "", 0

        def admin(self, cluster, pod, path):
            self.calls.append(("admin", cluster, pod.app, path))
            return "{}", "", 0

        def on_change(self, *, new_scenario=False):
            self.changes.append(new_scenario)

    mesh = SimMesh(Knobs(), data_plane=Recorder)
    plane = mesh.data_plane
    assert isinstance(plane, DataPlane) and plane.mesh is mesh and plane.changes == [False]
    c = mesh.clusters["cluster1"]
    pod = c.list_pods("sample", "app=curl")[0].name
    assert c.exec("sample", pod, ["curl", "-s", "http://x"]).stdout == "hi\n"
    assert c.exec("sample", pod, ["pilot-agent", "request", "GET", "stats"], "istio-proxy").stdout == "{}"
    assert c.exec("sample", pod, ["echo", "x"]).stdout == "x\n"  # the cluster API's own
    assert plane.calls == [
        ("curl", "cluster1", pod, ["-s", "http://x"]),
        ("admin", "cluster1", "curl", "stats"),
    ]
    mesh.set(firewall=True)
    mesh.use("healthy")
    c.create({"kind": "Namespace", "metadata": {"name": "probe"}})
    c.delete("Namespace", None, "probe")
    assert plane.changes == [False, False, True, False, False]

    class OwnCerts(SimMesh):
        def cacerts(self, cluster):
            return {"root-cert.pem": b"mine"}

    secret = OwnCerts(Knobs()).clusters["cluster1"].read_secret("istio-system", "cacerts")
    assert dict(secret) == {"root-cert.pem": b"mine"}


# ---- the simulated curl's --write-out, read back by meshnb.readers.curl ----


def test_fill_write_out_fills_curl_variables_and_defaults_to_the_checks_format():
    assert MESHNB_WRITE_OUT == CURL_WRITE_OUT  # the sim does not import the readers: kept equal here
    assert fill_write_out("200", "0.012", "0", "") == "\n@@meshnb@@ 200 0.012 0 \n"
    assert fill_write_out("000", "2.0", "28", "late", template="%{exitcode}:%{errormsg}") == "28:late"


def test_batch_with_successes_and_failures():
    tls = "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"
    out = (
        "Hello version: v1, instance: helloworld-v1-a\n"
        + fill_write_out("200", "0.004100", "0", "")
        + tls
        + fill_write_out("503", "0.031000", "0", "")
        + fill_write_out(
            "000", "2.001000", "28", "Operation timed out after 2001 milliseconds with 0 bytes received"
        )
        + "Hello version: v2, instance: helloworld-v2-b\n"
        + fill_write_out("200", "0.020000", "0", "")
    )
    transfers = parse_curl_batch(out)
    assert [t.http_status for t in transfers] == [200, 503, None, 200]
    assert transfers[0].body == "Hello version: v1, instance: helloworld-v1-a"
    assert transfers[1].body == tls
    assert transfers[2].curl_exit == 28 and transfers[2].curl_error.startswith("Operation timed out")
    assert transfers[3].seconds == pytest.approx(0.02)


def test_body_without_trailing_newline_and_cut_batches():
    out = (
        "Hello version: v1, instance: x"
        + fill_write_out("200", "0.1", "0", "")
        + "Hello version: v2, instance"
    )
    transfers = parse_curl_batch(out)
    assert len(transfers) == 1  # the half transfer after the last marker is not counted
    assert transfers[0].body == "Hello version: v1, instance: x"
    assert parse_curl_batch("") == []
