"""The balancing demo without a browser: controls set the simulated mesh, batches fill the chart, the
expected split and the story follow the settings, the traffic thread starts, stops and reports errors."""

from __future__ import annotations

import threading
import time

import pytest

import meshnb
from meshnb.panels import BalancingDemo
from meshnb.widgets import demo as demo_module


@pytest.fixture
def demo():
    panel = BalancingDemo(meshnb.simulate(), batch=40, interval=0.01)
    yield panel
    panel.running.value = False


def shares(panel: BalancingDemo, source: str, column: str = "observed") -> dict[str, float]:
    table = panel.table().query("source_cluster == @source")
    return {v: round(s, 3) for v, s in zip(table["version"], table[column], strict=True) if s}


def chart(panel: BalancingDemo) -> dict[str, list[float]]:
    """The stacked bars by version ("v1 (cluster1)" -> "v1"): [cluster1 observed, cluster1 expected, ...]."""
    return {trace.name.split()[0]: list(trace.x) for trace in panel.figure.data if trace.orientation == "h"}


def test_controls_set_the_simulated_mesh(demo):
    demo.policy.value = "RANDOM"
    demo.locality.value = "prefer-local"
    assert demo.outlier.value is True  # Istio applies locality failover only with outlier detection
    assert demo.keep_local.disabled
    demo.replicas["cluster2"].value = 3
    for name in ("firewall", "trust_mismatch", "missing_remote_secret", "remote_secret_wrong_key", "dead:v1"):
        demo.faults[name].value = True
    knobs = demo.mesh.knobs
    assert (knobs.lb_policy, knobs.locality_lb, knobs.outlier_detection) == ("RANDOM", True, True)
    assert knobs.replicas == {"cluster1": 1, "cluster2": 3}
    assert knobs.firewall and knobs.trust_mismatch and knobs.dead_versions == ("v1",)
    assert knobs.missing_remote_secret == ("cluster1",) and knobs.remote_secret_wrong_key == ("cluster1",)
    demo.locality.value = "distribute"
    assert not demo.keep_local.disabled
    demo.keep_local.value = 70
    assert (demo.mesh.knobs.locality_distribute, demo.mesh.distribute("us-east")) == (
        70,
        {"us-east": 70, "us-west": 30},
    )


def test_a_batch_fills_observed_beside_expected(demo):
    assert chart(demo)["v1"] == [0.0, 0.5, 0.0, 0.5]  # nothing observed yet; expected drawn at once
    demo.step()
    observed = shares(demo, "cluster1")
    assert set(observed) == {"v1", "v2"} and sum(observed.values()) == pytest.approx(1.0)
    bars = chart(demo)
    assert bars["v1"][0] == pytest.approx(observed["v1"]) and bars["v1"][1] == 0.5
    assert "observed" in demo.headline.value and "of 40 requests" in demo.headline.value
    assert len(demo.figure.data) == 3 + 2 * 2  # v1, v2, failed; observed and expected line per source


def test_locality_keeps_traffic_home_and_a_dead_backend_fails_over(demo):
    demo.locality.value = "prefer-local"
    demo.step()
    assert shares(demo, "cluster1") == {"v1": 1.0} == shares(demo, "cluster1", "expected")
    assert "own zone (us-east/us-east-1a) first" in demo.story.value
    demo.faults["dead:v1"].value = True
    for _ in range(3):
        demo.step()
    observed = shares(demo, "cluster1")
    assert observed["v2"] > 0.9, observed  # ejected after 3 errors: cluster2 answers
    assert shares(demo, "cluster1", "expected") == {"v1": 1.0}  # configured to stay home
    assert "fails over to the next one" in demo.story.value


def test_weights_and_random_policy(demo):
    demo.policy.value = "ROUND_ROBIN"
    demo.replicas["cluster2"].value = 3
    demo.step()
    assert shares(demo, "cluster1") == {"v1": 0.25, "v2": 0.75} == shares(demo, "cluster1", "expected")
    demo.policy.value = "RANDOM"
    assert shares(demo, "cluster1", "expected") == {"v1": 0.5, "v2": 0.5}
    assert "Random ignores weights" in demo.story.value


def test_faults_show_as_failures_or_local_only_answers(demo):
    demo.faults["firewall"].value = True
    demo.step()
    observed = shares(demo, "cluster1")
    assert "v2" not in observed and observed.get("error", 0) > 0  # curl gives up before the retry
    assert "firewall" in demo.story.value.lower()
    demo.faults["firewall"].value = False
    demo.faults["missing_remote_secret"].value = True
    demo.step()
    assert shares(demo, "cluster1") == {"v1": 1.0}
    assert "no remote secret for cluster2" in demo.story.value


def test_a_change_starts_a_new_window(demo):
    demo.step()
    assert demo.table()["total"].max() == 40
    demo.policy.value = "ROUND_ROBIN"
    assert demo.table()["total"].max() == 0
    assert chart(demo)["v1"][0] == 0.0


def test_a_batch_sampled_under_old_settings_is_dropped():
    mesh = meshnb.simulate(rtt=0.3)  # every API call takes 0.3 s: the change lands mid-batch
    panel = BalancingDemo(mesh, batch=10)
    worker = threading.Thread(target=panel.step)
    worker.start()
    time.sleep(0.2)
    panel.locality.value = "prefer-local"
    worker.join()
    assert panel.batches == 0 and panel.table()["total"].max() == 0


def test_traffic_flows_in_the_background_until_paused(demo):
    demo.running.value = True
    deadline = time.monotonic() + 20
    while demo.batches < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert demo.batches >= 3
    assert demo.running.description == "Pause"
    demo.running.value = False
    assert not demo._thread.is_alive()
    stopped_at = demo.batches
    time.sleep(0.1)
    assert demo.batches == stopped_at and "Paused after batch" in demo.status.value
    history = next(t for t in demo.figure.data if t.name == "from cluster1")
    assert len(history.x) == stopped_at


def test_traffic_stops_once_the_page_showing_it_is_gone(demo):
    """The page's Viewer beats while it is open (headless, nothing ever beat: traffic flows on)."""
    demo.viewer_timeout = 0.3
    demo.viewer.beats += 1  # a page showed the demo
    demo.running.value = True
    deadline = time.monotonic() + 10
    while demo.running.value and time.monotonic() < deadline:
        demo.viewer.beats += 1 if demo.batches < 5 else 0  # the page stays open for five batches
        time.sleep(0.02)
    assert demo.running.value is False and demo.batches >= 5
    assert "the page showing the demo was closed" in demo.status.value
    stopped_at = demo.batches
    time.sleep(0.1)
    assert demo.batches == stopped_at and not demo._thread.is_alive()


def test_the_demo_server_culls_kernels_nobody_is_connected_to(monkeypatch, tmp_path):
    from meshnb import cli

    seen = []
    monkeypatch.setattr(cli.os, "execv", lambda _exe, argv: seen.append(argv))
    monkeypatch.chdir(tmp_path)  # main() changes to the project's folder: put it back after
    monkeypatch.setenv("MESHNB_BACKEND", "sim")
    cli.main(["demo", "--", "--MappingKernelManager.cull_idle_timeout=5"])
    (argv,) = seen
    assert "--MappingKernelManager.cull_interval=30" in argv
    culling = [arg for arg in argv if arg.startswith("--MappingKernelManager.cull_idle_timeout")]
    assert culling == ["--MappingKernelManager.cull_idle_timeout=5"]  # the user's replaces meshnb's 120
    seen.clear()
    cli.main(["demo"])
    assert "--MappingKernelManager.cull_idle_timeout=120" in seen[0]


def test_an_unreachable_cluster_is_said_and_the_other_still_counts(demo):
    demo.mesh.set(unreachable=("cluster2",))
    demo.step()
    assert "cluster2" in demo.status.value and "connection refused" in demo.status.value
    assert demo.table().query("source_cluster == 'cluster1'")["total"].max() == 40


def test_a_failing_batch_stops_the_traffic_and_says_why(demo, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("sampling broke")

    monkeypatch.setattr(demo_module, "check_load_balancing", broken)
    demo.running.value = True
    deadline = time.monotonic() + 10
    while demo.running.value and time.monotonic() < deadline:
        time.sleep(0.02)
    assert demo.running.value is False
    assert "ERROR" in demo.status.value and "sampling broke" in demo.status.value
    assert isinstance(demo.error, RuntimeError)


def test_the_demo_drives_the_lab():
    """The same panel on real Envoys: a control change reprograms the proxies, the next batch shows it."""
    with meshnb.lab() as mesh:
        panel = BalancingDemo(mesh, batch=40)
        panel.step()
        assert set(shares(panel, "cluster1")) == {"v1", "v2"}
        panel.locality.value = "prefer-local"
        panel.step()
        assert shares(panel, "cluster1") == {"v1": 1.0} and shares(panel, "cluster2") == {"v2": 1.0}


def test_the_data_plane_switch_runs_the_same_mesh_through_ztunnel_and_says_the_difference(demo):
    demo.policy.value = "RANDOM"
    demo.replicas["cluster2"].value = 3
    assert "Envoy sidecar" in demo.data_plane_note.value and not demo.policy.disabled
    assert shares(demo, "cluster1", "expected") == {"v1": 0.5, "v2": 0.5}  # RANDOM: the gateway is one host
    demo.data_plane.value = True
    assert demo.mesh.knobs.ambient and demo.mesh.knobs.lb_policy == "RANDOM"  # kept for the way back
    assert "ztunnel" in demo.data_plane_note.value
    assert (
        demo.policy.disabled and demo.locality.disabled and demo.outlier.disabled and demo.keep_local.disabled
    )
    assert shares(demo, "cluster1", "expected") == {"v1": 0.25, "v2": 0.75}  # by capacity
    demo.step()
    assert set(shares(demo, "cluster1")) == {"v1", "v2"}
    assert "ztunnel holds" in demo.story.value and "capacity 3" in demo.story.value
    demo.data_plane.value = False
    assert not demo.mesh.knobs.ambient and not demo.policy.disabled
