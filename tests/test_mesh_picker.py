"""The mesh picker: kubeconfig contexts chosen without code, over real HTTP; what it says when it can't."""

from __future__ import annotations

import html
import json

import ipywidgets as widgets
import pytest
from fakeapi import FakeApiServer, write_kubeconfig

import meshnb
from meshnb.backends.kube import KubeMesh
from meshnb.backends.sim import SimMesh
from meshnb.panels import MeshPicker, RemoteSecretsPanel, TriagePanel

TOKEN = "picker-token-5b9e0c7d13"


@pytest.fixture
def servers():
    """Two fake API servers serving the simulated mesh's clusters (contexts kind-east, kind-west)."""
    sim = meshnb.simulate()
    with (
        FakeApiServer(sim.clusters["cluster1"], token=TOKEN, git_version="v1.31.0-east") as east,
        FakeApiServer(sim.clusters["cluster2"], token=TOKEN, git_version="v1.31.0-west") as west,
    ):
        yield {"kind-east": east, "kind-west": west}


def _state(widget: widgets.Widget) -> str:
    """Everything the browser is sent for ``widget`` and the widgets below it."""
    state = widget.get_state()
    below = [child for child in state.get("children", ()) if isinstance(child, widgets.Widget)]
    return json.dumps(state, default=str) + "".join(_state(child) for child in below)


def test_simulated_by_default_with_the_scenario_menu():
    picker = MeshPicker(scenario="firewall", kubeconfig="/nonexistent/config")
    assert isinstance(picker.mesh, SimMesh) and picker.simulated
    assert picker.mesh.knobs.firewall
    assert picker.real_box.layout.display == "none"
    assert picker.simulated_box.children[0].scenario.value == "firewall"


def test_contexts_selected_and_named_drive_the_panels_over_http(tmp_path, servers):
    path = write_kubeconfig(tmp_path / "config", servers)
    picker = MeshPicker(kubeconfig=str(path))
    assert picker.contexts.options == ("kind-east", "kind-west")
    triage, secrets = TriagePanel(picker.mesh), RemoteSecretsPanel(picker.mesh)
    picker.drive(triage, secrets)
    secrets.run()
    picker.source.value = "kube"
    assert picker.real_box.layout.display is None and picker.simulated_box.layout.display == "none"
    assert picker.connect_button.disabled  # nothing selected yet
    picker.contexts.value = ("kind-east", "kind-west")
    picker.names["kind-east"].value, picker.names["kind-west"].value = "cluster1", "cluster2"
    mesh = picker.connect()
    assert isinstance(mesh, KubeMesh) and picker.mesh is mesh and not picker.simulated
    assert {name: c.context for name, c in mesh.clusters.items()} == {
        "cluster1": "kind-east",
        "cluster2": "kind-west",
    }
    # each API server answered, and the picker says which
    assert "✔ API server v1.31.0-east" in picker.message.value
    assert "✔ API server v1.31.0-west" in picker.message.value
    # the panels follow: their bars are the new clusters, and the earlier run is out of date
    for panel in (triage, secrets):
        assert panel.mesh is mesh
        assert [bar.description for bar in panel.bars.children] == ["cluster1", "cluster2"]
    assert "changed (the mesh): press Run" in secrets.freshness.banner.value
    finding = secrets.run()
    assert finding is not None and finding.status == "pass", finding.summary
    assert "kubectl --kubeconfig=" in "\n".join(secrets.commands())  # the file chosen, in the commands
    assert "--context=kind-east" in "\n".join(secrets.commands())
    assert TOKEN not in _state(picker)
    # back to the simulated mesh, then to the clusters again, without reconnecting
    picker.source.value = "simulated"
    assert isinstance(triage.mesh, SimMesh) and picker.simulated
    picker.source.value = "kube"
    assert triage.mesh is mesh
    mesh.close()


def test_one_unreachable_context_is_said_and_the_other_still_connects(tmp_path, servers):
    path = write_kubeconfig(tmp_path / "config", {"kind-east": servers["kind-east"]}, unreachable="gone")
    picker = MeshPicker(kubeconfig=str(path))
    picker.contexts.value = ("kind-east", "gone")
    mesh = picker.connect()
    assert mesh is not None and sorted(mesh.clusters) == ["gone", "kind-east"]
    lines = picker.message.value.split("<br>")
    assert "✔ API server v1.31.0-east" in next(line for line in lines if "kind-east" in line)
    assert "✖ not reached: " in next(line for line in lines if "<b>gone</b>" in line)
    assert "unreachable" in picker.message.value
    mesh.close()


@pytest.mark.parametrize(
    ("names", "said"),
    [
        (("cluster1", "cluster1"), "cluster name 'cluster1' is given to two contexts"),
        (("cluster 1", "cluster2"), "invalid cluster name 'cluster 1'"),
        (("", "cluster2"), "invalid cluster name ''"),
    ],
)
def test_bad_cluster_names_are_said_and_the_panels_keep_their_mesh(tmp_path, servers, names, said):
    path = write_kubeconfig(tmp_path / "config", servers)
    picker = MeshPicker(kubeconfig=str(path))
    panel = TriagePanel(picker.mesh)
    picker.drive(panel)
    before = picker.mesh
    picker.contexts.value = ("kind-east", "kind-west")
    picker.names["kind-east"].value, picker.names["kind-west"].value = names
    assert picker.connect() is None
    assert said in html.unescape(picker.message.value) and 'role="alert"' in picker.message.value
    assert picker.mesh is before and panel.mesh is before


def test_a_missing_or_garbage_kubeconfig_is_one_clear_line(tmp_path):
    picker = MeshPicker(kubeconfig=str(tmp_path / "nothing"))
    assert picker.load() == [] and "does not exist" in picker.message.value
    garbage = tmp_path / "garbage"
    garbage.write_text("contexts: {name: east}\ntoken: do-not-show-me\n")
    picker.kubeconfig.value = str(garbage)
    picker.load_button.click()
    assert "contexts must be a list" in picker.message.value
    assert "do-not-show-me" not in picker.message.value
    assert isinstance(picker.mesh, SimMesh)  # still usable on the simulated mesh


def test_contexts_given_as_parameters_connect_at_once(tmp_path, servers):
    path = write_kubeconfig(tmp_path / "config", servers)
    picker = MeshPicker(contexts={"cluster1": "kind-east", "cluster2": "kind-west"}, kubeconfig=str(path))
    assert picker.source.value == "kube" and not picker.simulated
    assert picker.contexts.value == ("kind-east", "kind-west")
    assert picker.names["kind-west"].value == "cluster2"
    assert sorted(picker.mesh.clusters) == ["cluster1", "cluster2"]
    picker.mesh.close()


def test_the_picker_on_the_test_beds_real_clusters(testbed):
    """Contexts read from the test bed's kubeconfig, connected, and triage run through the panel."""
    picker = MeshPicker(kubeconfig=str(testbed.kubeconfig))
    assert {"cluster1", "cluster2"} <= set(picker.contexts.options)
    panel = TriagePanel(picker.mesh)
    picker.drive(panel)
    picker.source.value = "kube"
    picker.contexts.value = ("cluster1", "cluster2")
    mesh = picker.connect()
    assert mesh is not None, picker.message.value
    assert picker.message.value.count("✔ API server v1.") == 2, picker.message.value
    panel.requests.value = 20
    report = panel.run()
    assert report is not None, panel.status.value
    assert report.metadata["clusters"] == ["cluster1", "cluster2"]
    assert report.findings["remote-secrets"].status == "pass", report.findings["remote-secrets"].summary
    assert report.findings["load-balancing"].status == "pass", report.findings["load-balancing"].summary
    mesh.close()
