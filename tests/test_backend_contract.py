"""The backend contract, run over every backend: the simulated mesh directly, and real clusters
through meshnb.connect (the official kubernetes client over HTTP and websockets) against fake API
servers that serve the same simulated clusters, the real API servers of tests/testbed, and the lab's
real Envoy data plane (tests/test_lab.py compares its verdicts with the simulator's). The checks
must reach the same verdicts, from the same samples, on the simulated world served both ways
(``make_served_sim``); tests/test_testbed.py compares the test bed's verdicts with the simulator's.

A new backend joins by adding a parameter to the ``make_mesh`` fixture.
"""

from __future__ import annotations

from contextlib import ExitStack

import pandas as pd
import pytest
from fakeapi import FakeApiServer, write_kubeconfig
from testbed.bed import NAMES

import meshnb
from meshnb.backends.base import ExecResult, Node, Pod, Secret
from meshnb.errors import ExecError, InvalidName, NotFound

TOKEN = "contract-test-token-0123456789"


def _simulated_world(request, tmp_path):
    """make(scenario, dead=None, **knobs): a simulated world, directly or served over HTTP."""
    stack = ExitStack()

    def make(scenario: str = "healthy", *, dead: str | None = None, **knobs):
        if request.param == "lab":
            return stack.enter_context(meshnb.lab(scenario, **knobs))
        world = meshnb.simulate(scenario, **knobs)
        if request.param == "sim":
            if dead:
                world.set(unreachable=(dead,))
            return world
        servers = {
            name: stack.enter_context(FakeApiServer(cluster, token=TOKEN))
            for name, cluster in world.clusters.items()
            if name != dead
        }
        path = write_kubeconfig(tmp_path / f"kubeconfig-{scenario}", servers, unreachable=dead)
        return stack.enter_context(meshnb.connect(list(world.clusters), kubeconfig=str(path), timeout=5))

    return stack, make


@pytest.fixture(
    params=[
        "sim",
        "kube",
        pytest.param("testbed", marks=pytest.mark.testbed),
        pytest.param("lab", marks=pytest.mark.lab),
    ]
)
def make_mesh(request, tmp_path):
    """make_mesh(scenario) -> a Mesh of the backend under test, in the guide's world with that fault:
    the simulated mesh, the kube backend over a fake API serving it, the real API servers of
    tests/testbed (whose faults are changes to real objects), and the lab (real Envoys)."""
    if request.param != "testbed":
        stack, make = _simulated_world(request, tmp_path)
        with stack:
            yield make
        return
    bed = request.getfixturevalue("testbed")
    with ExitStack() as stack:

        def make_on_testbed(scenario: str = "healthy"):
            bed.fault(scenario)
            mesh = meshnb.connect(list(NAMES), kubeconfig=str(bed.kubeconfig), timeout=10)
            return stack.enter_context(mesh)

        yield make_on_testbed
    bed.fault("healthy")


@pytest.fixture(params=["sim", "kube"])
def make_served_sim(request, tmp_path):
    """Like make_mesh, for the simulated world only (same seed, so the same samples on both), with
    ``dead=NAME`` for a cluster whose API server is gone and any scenario or knob."""
    stack, make = _simulated_world(request, tmp_path)
    with stack:
        yield make


def test_reads(make_mesh):
    mesh = make_mesh()
    assert sorted(mesh.clusters) == ["cluster1", "cluster2"]
    c1 = mesh.clusters["cluster1"]
    pods = c1.list_pods("sample")
    assert all(isinstance(p, Pod) for p in pods) and len(pods) == 2
    (hello,) = c1.list_pods("sample", "app=helloworld,version in (v1,v2)")
    assert hello.labels["version"] == "v1" and hello.ip and hello.phase == "Running" and hello.ready
    assert "istio-proxy" in hello.containers
    assert c1.list_pods("no-such-namespace") == []
    nodes = c1.list_nodes()
    assert all(isinstance(n, Node) for n in nodes) and {n.region for n in nodes} == {"us-east"}
    cacerts = c1.read_secret("istio-system", "cacerts")
    assert sorted(cacerts) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]
    assert cacerts["root-cert.pem"].startswith(b"-----BEGIN CERTIFICATE-----")
    (remote,) = c1.list_secrets("istio-system", "istio/multiCluster=true")
    assert isinstance(remote, Secret) and list(remote.data) == ["cluster2"]
    assert remote.annotations["networking.istio.io/cluster"] == "cluster2"
    istiod = c1.list_pods("istio-system", "app=istiod")[0].name
    assert "\tAdd cluster\tcluster=cluster2 " in c1.logs("istio-system", istiod)
    assert len(c1.logs("istio-system", istiod, tail_lines=2).splitlines()) == 2


def test_exec(make_mesh):
    c1 = make_mesh().clusters["cluster1"]
    pod = c1.list_pods("sample", "app=curl")[0].name
    result = c1.exec("sample", pod, ["echo", "two  spaces", "'quoted' $HOME;"])
    assert isinstance(result, ExecResult)
    assert (result.stdout, result.returncode) == ("two  spaces 'quoted' $HOME;\n", 0)
    try:  # a non-zero status (the fake API), or a Failure status from the runtime (kwok, containerd)
        assert c1.exec("sample", pod, ["no-such-tool"]).returncode != 0
    except ExecError as exc:
        assert "no-such-tool" in str(exc)
    with pytest.raises(NotFound):
        c1.exec("sample", "ghost", ["echo"])
    with pytest.raises(InvalidName):
        c1.exec("sample", pod, "echo hi")


def test_errors(make_mesh):
    c1 = make_mesh().clusters["cluster1"]
    with pytest.raises(NotFound, match="cluster1"):
        c1.read_secret("istio-system", "no-such-secret")
    with pytest.raises(NotFound):
        c1.logs("istio-system", "no-such-pod")
    with pytest.raises(InvalidName):
        c1.list_pods("Not_A_Namespace")


@pytest.mark.parametrize("scenario", sorted(meshnb.SCENARIOS))
def test_same_verdicts_from_the_same_samples(make_served_sim, scenario):
    finding = meshnb.check_load_balancing(make_served_sim(scenario), requests=60, batch_size=25)
    reference = meshnb.check_load_balancing(meshnb.simulate(scenario), requests=60, batch_size=25)
    assert finding.status == reference.status
    pd.testing.assert_frame_equal(
        finding.evidence["sources"], reference.evidence["sources"], check_exact=False
    )
    pd.testing.assert_frame_equal(
        finding.evidence["samples"].drop(columns="ts"), reference.evidence["samples"].drop(columns="ts")
    )


def test_an_unreachable_cluster_is_an_error_row_and_the_other_still_reports(make_served_sim):
    finding = meshnb.check_load_balancing(make_served_sim(dead="cluster2"), requests=20)
    sources = finding.evidence["sources"].set_index("source_cluster")
    assert finding.status == "error"
    assert sources.loc["cluster2", "status"] == "error"
    assert "unreachable" in sources.loc["cluster2", "detail"]
    assert sources.loc["cluster1", "requests"] == 20


def test_config_maps_and_custom_objects(make_mesh):
    c1 = make_mesh("locality-prefer-local").clusters["cluster1"]
    assert "localityLbSetting" in c1.read_config_map("istio-system", "istio")["mesh"]
    with pytest.raises(NotFound):
        c1.read_config_map("istio-system", "no-such-map")
    (rule,) = c1.list_custom_objects("networking.istio.io", "v1", "sample", "destinationrules")
    assert rule["kind"] == "DestinationRule" and rule["spec"]["trafficPolicy"]["outlierDetection"]


def test_namespace_labels(make_mesh):
    c1 = make_mesh().clusters["cluster1"]
    assert c1.namespace_labels("istio-system")["topology.istio.io/network"] == "network1"
    with pytest.raises(NotFound):
        c1.namespace_labels("no-such-namespace")


def test_services(make_mesh):
    c1 = make_mesh().clusters["cluster1"]
    (gateway,) = c1.list_services("istio-system", "istio=eastwestgateway")
    assert gateway.type == "LoadBalancer" and gateway.external_addresses and 15443 in gateway.ports
    assert gateway.labels["topology.istio.io/network"] == "network1"
    (hello,) = c1.list_services("sample", "app=helloworld")
    assert hello.ports == (5000,) and hello.cluster_ip
    # each port's name and protocol, and the selector, as the sameness check compares them
    assert [(p.port, p.name, p.protocol) for p in hello.specs] == [(5000, "http", "TCP")]
    assert dict(hello.selector or {}) == {"app": "helloworld"}
    assert {p.name for p in gateway.specs} >= {"tls", "status-port"}
    assert c1.list_services("no-such-namespace") == []


@pytest.mark.parametrize(
    "scenario",
    [
        "healthy",
        "missing-remote-secret",
        "trust-mismatch",
        "locality-prefer-local",
        "drifted-destination-rule",
    ],
)
def test_every_check_agrees_across_backends(make_served_sim, scenario):
    checks = (
        meshnb.check_endpoints,
        meshnb.check_remote_secrets,
        meshnb.check_trust,
        meshnb.check_locality,
        meshnb.check_sameness,
    )
    for check in checks:
        finding, reference = check(make_served_sim(scenario)), check(meshnb.simulate(scenario))
        assert finding.status == reference.status
        pd.testing.assert_frame_equal(finding.evidence["clusters"], reference.evidence["clusters"])
    drift = meshnb.check_sameness(make_served_sim(scenario)).evidence["drift"]
    pd.testing.assert_frame_equal(drift, meshnb.check_sameness(meshnb.simulate(scenario)).evidence["drift"])


def test_connectivity_probe_creates_and_deletes_through_the_api(make_served_sim):
    mesh = make_served_sim("firewall")
    finding = meshnb.check_connectivity(mesh, apply=True)
    assert finding.status == "fail"
    assert set(finding.evidence["probes"]["outcome"]) == {"timeout"}
    assert finding.evidence["cleanup"]["cleanup"].eq("deleted").all()
    assert mesh.clusters["cluster1"].list_pods("uninjected-sample") == []
    with pytest.raises(NotFound):
        mesh.clusters["cluster1"].delete("Namespace", None, "uninjected-sample")
