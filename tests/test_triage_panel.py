"""The triage panel, driven without a browser: lights, diagnosis, a tab per check, save and export."""

from __future__ import annotations

import html

import meshnb
from meshnb.diagnostics.triage import ORDER
from meshnb.panels import TriagePanel
from meshnb.widgets.display import PLOTLY_MIME


def _mimes(output) -> list[str]:
    return [mime for item in output.outputs for mime in item.get("data", {})]


def test_run_lights_every_check_and_names_the_cause(tmp_path):
    panel = TriagePanel(meshnb.simulate("remote-secret-wrong-key"))
    assert all("not run" in light.value for light in panel.lights.values())
    assert panel.save_button.disabled and panel.export_button.disabled
    panel.run_button.click()
    report = panel.result
    assert [c.key for c in report.diagnosis.causes] == ["remote-secret-key"]
    for name in ORDER:
        assert report.findings[name].status.upper() in panel.lights[name].value
    assert "SKIPPED" in panel.lights["connectivity"].value  # no changes unless allowed
    assert "FAIL" in panel.status.value and "data key" in panel.diagnosis.value
    assert panel.tab.titles == ORDER
    assert PLOTLY_MIME in _mimes(panel.outputs["load-balancing"])
    assert PLOTLY_MIME in _mimes(panel.outputs["endpoints"])
    assert "text/html" in _mimes(panel.outputs["trust"])


def test_save_and_export(tmp_path):
    panel = TriagePanel(meshnb.simulate("trust-mismatch"))
    panel.run()
    panel.snapshot_path.value = str(tmp_path / "t.meshnb")
    panel.report_path.value = str(tmp_path / "t.html")
    panel.save_button.click()
    assert "snapshot written" in panel.message.value
    assert meshnb.load(tmp_path / "t.meshnb").diagnosis.causes[0].key == "trust"
    panel.export_button.click()
    assert "report written" in panel.message.value and "root of trust" in (tmp_path / "t.html").read_text()


def test_a_write_that_fails_says_so_and_keeps_the_result(tmp_path):
    panel = TriagePanel(meshnb.simulate())
    panel.run()
    (tmp_path / "dir").mkdir()
    panel.snapshot_path.value = str(tmp_path / "dir")  # a directory: cannot be replaced by a file
    assert panel.save() is None
    assert "could not write the snapshot" in panel.message.value and panel.result is not None


def test_allow_changes_runs_the_probe():
    panel = TriagePanel(meshnb.simulate("firewall"))
    panel.allow_changes.value = True
    panel.requests.value = 20
    report = panel.run()
    assert report.findings["connectivity"].status == "fail"
    assert report.diagnosis.causes[0].evidence[0].startswith("probe cluster1 -> cluster2")


def test_the_diagnosis_and_the_lights_are_said_once():
    panel = TriagePanel(meshnb.simulate("missing-remote-secret"))
    report = panel.run()
    summary = html.escape(report.diagnosis.summary)
    assert (panel.status.value + panel.diagnosis.value).count(summary) == 1
    assert "meshnb-status" not in panel.diagnosis.value  # the lights are the panel's own row
    assert all("meshnb-status" in light.value for light in panel.lights.values())


def test_the_panel_shows_the_check_list_and_says_each_command_once():
    """The list `meshnb check` prints: a line per check, under a problem its hint and the guide's section,
    except a hint the diagnosis below already gives."""
    panel = TriagePanel(meshnb.simulate("missing-remote-secret"))
    panel.requests.value = 20
    report = panel.run()
    rows = {name: light.value for name, light in panel.lights.items()}
    assert "cluster1 has no remote secret for cluster2" in rows["remote-secrets"]
    assert "multicluster/#step-by-step-diagnosis" in rows["remote-secrets"]
    assert "multicluster/#trust-configuration" not in rows["trust"]  # a pass: nothing to look up
    create = "create-remote-secret --name=cluster2"
    assert create in panel.diagnosis.value and not any(create in row for row in rows.values())
    assert "get secrets -l istio/multiCluster=true" in rows["endpoints"]  # its own hint, not the diagnosis'
    assert (
        "tick *Allow changes" in rows["connectivity"] and report.findings["connectivity"].status == "skipped"
    )
    healthy = TriagePanel(meshnb.simulate("healthy"))
    healthy.run()
    assert not any(
        "meshnb-check-hint" in light.value for name, light in healthy.lights.items() if name != "connectivity"
    )
