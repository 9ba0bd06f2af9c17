"""Never a stale answer (issue 16, point 3): every panel, driven without a browser.

Each check's panel and the triage panel, on the simulated mesh: after a run, changing any of its
controls or the simulated scenario marks the result out of date until it runs again, and a note made
for a cell below goes out of date once the panel changes or runs again. The browser suite checks the
same on screen.
"""

from __future__ import annotations

import gc

import ipywidgets as widgets
import pytest

import meshnb
from meshnb.diagnostics.registry import CHECKS
from meshnb.panels import ScenarioPicker, TriagePanel, panel
from meshnb.widgets.freshness import STALE_CLASS

PANELS = [check.panel_name for check in CHECKS.values()]


def _make(name: str, mesh):
    made = TriagePanel(mesh) if name == "TriagePanel" else panel(name)(mesh)
    if hasattr(made, "requests"):
        made.requests.value = 20
    return made


def _controls(made) -> list[widgets.ValueWidget]:
    """The controls that decide the result: every value widget of the panel's control row."""
    row = made.children[1]
    return [child for child in row.children if isinstance(child, widgets.ValueWidget)]


def _stale(made) -> bool:
    return STALE_CLASS in made._dom_classes and "press Run" in made.freshness.banner.value


def _changed(control: widgets.ValueWidget) -> None:
    value = control.value
    if isinstance(value, bool):
        control.value = not value
    elif isinstance(value, int):
        control.value = value + 1
    else:
        control.value = f"{value}x"


@pytest.mark.parametrize("name", [*PANELS, "TriagePanel"])
def test_every_control_marks_the_result_out_of_date_until_the_next_run(name):
    made = _make(name, meshnb.simulate())
    controls = _controls(made)
    assert controls, f"{name} has no controls"
    for control in controls:
        _changed(control)  # before any run there is nothing to mark
    assert not _stale(made) and made.freshness.banner.value == ""
    made.run()
    for control in controls:
        assert not _stale(made)
        _changed(control)
        assert _stale(made), f"{name}: changing {control.description!r} did not mark the result"
        assert control.description in made.freshness.banner.value
        made.run()  # an error (a text made invalid) is as fresh an answer as a finding
    assert not _stale(made)


@pytest.mark.parametrize("name", [*PANELS, "TriagePanel"])
def test_a_new_scenario_marks_every_panel_on_the_mesh(name):
    mesh = meshnb.simulate()
    made, picker = _make(name, mesh), ScenarioPicker(mesh)
    made.run()
    picker.scenario.value = "firewall"
    assert _stale(made) and "the scenario: firewall" in made.freshness.banner.value
    made.run()
    assert not _stale(made)
    mesh.set(retries=0)  # a knob set in code counts too
    assert _stale(made) and "retries" in made.freshness.banner.value


def test_a_cell_below_says_its_result_is_from_an_earlier_run():
    made = _make("LoadBalancingPanel", meshnb.simulate())
    made.run()
    below = made.note()
    assert below.value == ""
    made.requests.value = 30
    assert "Out of date" in below.value
    made.run()
    assert not _stale(made) and "Out of date" in below.value  # it still shows the earlier run
    again = made.note()  # the cell run again
    assert again.value == ""
    triage = TriagePanel(meshnb.simulate())
    triage.run()
    note = triage.note()
    triage.run()
    assert "Out of date" in note.value


def test_the_mesh_holds_its_watchers_weakly():
    class Watcher:
        def __init__(self):
            self.heard = []

        def changed(self, what):
            self.heard.append(what)

    mesh, kept, gone = meshnb.simulate(), Watcher(), Watcher()
    mesh.watch(kept.changed)
    mesh.watch(gone.changed)
    del gone
    gc.collect()
    mesh.use("firewall")
    assert kept.heard == ["the scenario: firewall"] and len(mesh._watchers) == 1
