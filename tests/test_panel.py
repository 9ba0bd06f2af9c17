"""The load-balancing panel, driven without a browser: set values, click, read what it shows."""

from __future__ import annotations

import meshnb
from meshnb.panels import LoadBalancingPanel
from meshnb.widgets.display import PLOTLY_MIME


def _mimes(output) -> list[str]:
    return [mime for item in output.outputs for mime in item.get("data", {})]


def test_click_runs_the_check_and_fills_every_tab():
    panel = LoadBalancingPanel(meshnb.simulate())
    panel.requests.value = 40
    panel.run_button.click()
    assert panel.result is not None and panel.result.status == "pass"
    assert "PASS" in panel.status.value
    assert "text/html" in _mimes(panel.outputs["Summary"])
    assert "text/html" in _mimes(panel.outputs["Samples"])
    for tab in ("Split", "Sequence"):
        (item,) = panel.outputs[tab].outputs
        figure = item["data"][PLOTLY_MIME]
        names = {trace.get("name", "") for trace in figure["data"]}
        assert any(n.startswith("v1") for n in names) and any(n.startswith("v2") for n in names)
    assert [bar.value for bar in panel.progress.values()] == [40, 40]
    assert not panel.run_button.disabled
    assert panel.tab.titles == ("Summary", "Samples", "Split", "Sequence", "By hand")


def test_controls_reach_the_check_and_failures_show():
    mesh = meshnb.simulate("missing-remote-secret")
    panel = LoadBalancingPanel(mesh, requests=10)
    panel.requests.value = 25
    panel.run()
    assert panel.result.status == "fail"
    assert "FAIL" in panel.status.value and "cluster1" in panel.status.value
    assert len(panel.result.evidence["samples"]) == 50
    assert panel.progress["cluster1"].bar_style == "danger"
    assert panel.progress["cluster2"].bar_style == "success"


def test_bad_input_shows_in_the_panel_and_keeps_the_last_result():
    panel = LoadBalancingPanel(meshnb.simulate(), requests=10)
    panel.run()
    first = panel.result
    panel.service.value = "Not A Name"
    assert panel.run() is None
    assert "ERROR" in panel.status.value and "invalid service" in panel.status.value
    assert panel.result is first
    assert not panel.run_button.disabled


def test_button_is_disabled_while_running():
    seen = []
    panel = LoadBalancingPanel(meshnb.simulate(), requests=5)
    original = panel._on_progress

    def spy(cluster, done, total):
        seen.append(panel.run_button.disabled)
        original(cluster, done, total)

    panel._on_progress = spy
    panel.run()
    assert seen and all(seen)
    assert not panel.run_button.disabled


def test_every_control_has_a_label():
    panel = LoadBalancingPanel(meshnb.simulate())
    for control in (panel.service, panel.namespace, panel.port, panel.path, panel.requests):
        assert control.description
    assert panel.run_button.description and panel.run_button.tooltip
    assert all(bar.description for bar in panel.progress.values())


def test_scenario_picker_switches_what_the_panel_sees():
    from meshnb.panels import ScenarioPicker

    mesh = meshnb.simulate()
    picker, panel = ScenarioPicker(mesh), LoadBalancingPanel(mesh, requests=20)
    assert picker.scenario.description and "nothing is wrong" in picker.explanation.value
    assert panel.run().status == "pass"
    picker.scenario.value = "firewall"
    assert "dropped" in picker.explanation.value
    assert panel.run().status == "fail"
    picker.scenario.value = "healthy"
    assert panel.run().status == "pass"


def test_an_unreachable_clusters_bar_is_full_and_red_not_empty():
    panel = LoadBalancingPanel(meshnb.simulate(unreachable="cluster2"), requests=10)
    panel.run()
    bar = panel.progress["cluster2"]
    assert (bar.value, bar.bar_style, bar.tooltip) == (bar.max, "danger", "cluster2: error")
    assert panel.progress["cluster1"].bar_style != "danger"


def test_a_tab_shows_a_long_value_whole():
    """pandas cuts a value at 50 characters ("dat..."), so a secret's detail in the Clusters tab read
    'istio-system/istio-remote-secret-cluster2: dat...'."""
    import ipywidgets
    import pandas as pd

    from meshnb.widgets.display import show

    detail = "istio-system/istio-remote-secret-cluster2: data key 'kubeconfig' is not a cluster name " * 2
    out = ipywidgets.Output()
    show(out, pd.DataFrame({"detail": [detail], **{f"c{i}": [i] for i in range(40)}}))
    shown = out.outputs[0]["data"]["text/html"]
    assert detail.strip().replace("'", "&#x27;") in shown or detail.strip() in shown
    assert "c39" in shown and "..." not in shown
