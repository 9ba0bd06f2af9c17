"""The connectivity probe: plan without changes, probe with them, always clean up."""

from __future__ import annotations

import pytest

import meshnb
from meshnb.diagnostics.connectivity import check_connectivity, manifests
from meshnb.diagnostics.finding import commands_in
from meshnb.errors import ClusterError
from meshnb.panels import ConnectivityPanel

NS = "uninjected-sample"


def _namespaces(mesh) -> list[set[str]]:
    return [set(mesh.state(name).namespaces) for name in mesh.clusters]


def test_plan_changes_nothing():
    mesh = meshnb.simulate()
    before = _namespaces(mesh)
    finding = check_connectivity(mesh)
    assert finding.status == "skipped" and "nothing is created until changes are allowed" in finding.summary
    assert "--apply" in finding.next_steps[0] and "apply=True" in finding.next_steps[0]
    plan = finding.evidence["plan"]
    assert (
        plan.groupby("cluster")["kind"].apply(list).tolist() == [["Namespace", "Service", "Pod", "Pod"]] * 2
    )
    assert _namespaces(mesh) == before
    assert sum(c.calls["create"] + c.calls["delete"] for c in mesh.clusters.values()) == 0


def test_manifests_match_the_sample_without_injection():
    namespace, service, hello, curl = manifests(1, NS)
    assert namespace["metadata"]["labels"]["istio-injection"] == "disabled"
    assert "istio.io/rev" not in namespace["metadata"]["labels"]
    assert service["spec"]["ports"] == [{"port": 5000, "name": "http"}]
    assert hello["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "meshnb",
        "app": "helloworld",
        "version": "v2",
    }
    assert hello["spec"]["containers"][0]["ports"] == [{"containerPort": 5000}]
    assert curl["spec"]["containers"][0]["command"] == ["/bin/sleep", "infinity"]


@pytest.mark.parametrize(
    ("scenario", "status", "outcome"),
    [("healthy", "pass", "ok"), ("firewall", "fail", "timeout"), ("trust-mismatch", "pass", "ok")],
)
def test_probes_every_direction_and_cleans_up(scenario, status, outcome):
    mesh = meshnb.simulate(scenario)
    before = _namespaces(mesh)
    finding = check_connectivity(mesh, apply=True)
    assert finding.status == status
    probes = finding.evidence["probes"]
    assert sorted(zip(probes["source_cluster"], probes["dest_cluster"], strict=True)) == [
        ("cluster1", "cluster2"),
        ("cluster2", "cluster1"),
    ]
    assert set(probes["outcome"]) == {outcome}
    assert probes["pod_ip"].str.match(r"10\.\d\.1\.\d+").all()
    assert _namespaces(mesh) == before
    assert finding.evidence["cleanup"]["cleanup"].eq("deleted").all()
    if status == "fail":
        assert "outside Istio" in finding.summary and any("firewall" in s for s in finding.next_steps)


def test_refused_when_the_remote_backend_is_down():
    finding = check_connectivity(meshnb.simulate(dead_versions=("v2",)), apply=True)
    probes = finding.evidence["probes"].set_index("source_cluster")
    assert finding.status == "fail" and probes.loc["cluster1", "outcome"] == "refused"
    assert probes.loc["cluster2", "outcome"] == "ok"


def test_keep_leaves_the_objects():
    mesh = meshnb.simulate()
    finding = check_connectivity(mesh, apply=True, keep=True)
    assert finding.evidence["cleanup"]["cleanup"].str.startswith("kept").all()
    assert all(NS in ns for ns in _namespaces(mesh))


def test_cleanup_after_an_interruption():
    mesh = meshnb.simulate()
    before = _namespaces(mesh)
    cluster1 = mesh.clusters["cluster1"]

    class Interrupting:
        name = "cluster1"

        def __getattr__(self, attr):
            return getattr(cluster1, attr)

        def exec(self, *args, **kwargs):
            raise KeyboardInterrupt

    mesh.clusters["cluster1"] = Interrupting()
    with pytest.raises(KeyboardInterrupt):
        check_connectivity(mesh, apply=True)
    assert _namespaces(mesh) == before


def test_where_cleanup_failed_the_step_deletes_the_namespace_there(monkeypatch):
    mesh = meshnb.simulate("firewall")

    def refuse(*args, **kwargs):
        raise ClusterError("cluster2", "namespaces is forbidden", status=403)

    monkeypatch.setattr(mesh.clusters["cluster2"], "delete", refuse)
    finding = check_connectivity(mesh, apply=True)
    assert finding.headline.startswith(
        "cluster1 and cluster2 cannot reach each other's pods even without Istio"
    )
    (step,) = [s for s in finding.next_steps if "cleanup failed" in s]
    assert commands_in(step) == [f"kubectl --context=cluster2 delete namespace {NS}"]


def test_a_namespace_that_exists_is_not_touched():
    mesh = meshnb.simulate()
    mesh.clusters["cluster2"].create({"kind": "Namespace", "metadata": {"name": NS}})
    finding = check_connectivity(mesh, apply=True)
    assert finding.status == "error" and "already exists" in finding.summary
    assert NS in mesh.state("cluster2").namespaces and NS not in mesh.state("cluster1").namespaces


class _StillDeleting:
    """cluster2 as right after a previous probe: its namespace is terminating for ``calls`` attempts."""

    def __init__(self, cluster, calls: int):
        self.cluster, self.calls = cluster, calls

    def __getattr__(self, attr):
        return getattr(self.cluster, attr)

    def create(self, manifest):
        if manifest["kind"] == "Namespace" and self.calls:
            self.calls -= 1
            message = f'object is being deleted: namespaces "{NS}" already exists'
            raise ClusterError("cluster2", message, status=409)
        return self.cluster.create(manifest)


def test_waits_for_a_namespace_still_being_deleted():
    mesh = meshnb.simulate()
    mesh.clusters["cluster2"] = _StillDeleting(mesh.clusters["cluster2"], calls=3)
    waits = []
    finding = check_connectivity(mesh, apply=True, sleep=waits.append)
    assert finding.status == "pass" and waits == [1.0, 1.0, 1.0]


def test_gives_up_on_a_namespace_that_never_finishes_deleting():
    mesh = meshnb.simulate()
    mesh.clusters["cluster2"] = _StillDeleting(mesh.clusters["cluster2"], calls=10**6)
    finding = check_connectivity(mesh, apply=True, timeout=0.0, sleep=lambda s: None)
    assert finding.status == "error" and "being deleted" in finding.summary
    assert NS not in mesh.state("cluster1").namespaces


def test_unreachable_cluster_creates_nothing_there_and_cleans_the_other():
    mesh = meshnb.simulate(unreachable="cluster2")
    finding = check_connectivity(mesh, apply=True)
    assert finding.status == "error" and "unreachable" in finding.summary
    assert finding.evidence["cleanup"].to_dict("records") == [{"cluster": "cluster1", "cleanup": "deleted"}]
    assert NS not in mesh.state("cluster1").namespaces


def test_refuses_system_namespaces():
    for namespace in ("istio-system", "sample", "kube-system", "default"):
        with pytest.raises(ValueError, match="refusing"):
            check_connectivity(meshnb.simulate(), namespace=namespace, apply=True)


def test_panel_shows_the_plan_until_changes_are_allowed():
    mesh = meshnb.simulate("firewall")
    panel = ConnectivityPanel(mesh)
    assert panel.allow_changes.description and panel.keep.description and not panel.allow_changes.value
    assert panel.run().status == "skipped"
    panel.allow_changes.value = True
    assert panel.run().status == "fail" and "FAIL" in panel.status.value


def test_a_second_interrupt_during_cleanup_waits_for_it_to_finish(caplog):
    """Ctrl-C during the probe, then Ctrl-C again while the (slow) cleanup runs: cleanup still deletes
    everything, then the interruption goes on."""
    import _thread
    import threading
    import time

    mesh = meshnb.simulate()
    before = _namespaces(mesh)
    cluster1 = mesh.clusters["cluster1"]

    class Slow:
        name = "cluster1"

        def __getattr__(self, attr):
            return getattr(cluster1, attr)

        def exec(self, *args, **kwargs):
            raise KeyboardInterrupt  # the first Ctrl-C, during the probe

        def delete(self, *args, **kwargs):
            threading.Timer(0.2, _thread.interrupt_main).start()  # the second, mid-delete
            time.sleep(1.0)
            return cluster1.delete(*args, **kwargs)

    mesh.clusters["cluster1"] = Slow()
    with pytest.raises(KeyboardInterrupt):
        check_connectivity(mesh, apply=True)
    assert _namespaces(mesh) == before
    assert "cleaning up namespace uninjected-sample first" in caplog.text


def test_no_create_starts_once_cleanup_began():
    """Ctrl-C, and Ctrl-C again, while cluster2's worker waits for an old namespace to go; the old
    namespace goes afterwards: the stopped run's worker must not create the probe there then (the gate
    is closed before cleanup deletes, and nothing waits for the worker)."""
    import _thread
    import threading
    import time

    mesh = meshnb.simulate()
    still = _StillDeleting(mesh.clusters["cluster2"], calls=10**6)
    mesh.clusters["cluster2"] = still
    waiting = threading.Event()

    def sleep(seconds):
        waiting.set()
        time.sleep(0.05)

    finished = threading.Event()

    def interrupt_twice():
        waiting.wait(5)
        _thread.interrupt_main()
        time.sleep(0.1)
        _thread.interrupt_main()
        time.sleep(0.3)
        still.calls = 0  # the old namespace is gone now: a surviving worker would create
        finished.set()

    threading.Thread(target=interrupt_twice, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            check_connectivity(mesh, apply=True, sleep=sleep)
        finished.wait(5)
    except KeyboardInterrupt:  # the second Ctrl-C came after cleanup had already ended
        finished.wait(5)
    time.sleep(0.5)  # well past the old namespace going and a worker's next poll
    assert NS not in mesh.state("cluster2").namespaces and NS not in mesh.state("cluster1").namespaces


def test_the_panels_speak_of_their_own_checkbox():
    from meshnb.panels import ConnectivityPanel, TriagePanel

    panel = ConnectivityPanel(meshnb.simulate())
    plan = panel.run()
    assert plan.next_steps == [
        "Review the plan, then tick *Allow changes (create, probe, delete)* above and press Run."
    ]
    assert "apply" not in plan.summary + plan.next_steps[0]
    triage = TriagePanel(meshnb.simulate())
    skipped = triage.run().findings["connectivity"]
    assert skipped.next_steps == [
        f"Review the plan, then tick *{triage.allow_changes.description}* above and press Run."
    ]
