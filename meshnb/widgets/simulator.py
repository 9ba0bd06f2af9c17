"""Controls of the simulated mesh: pick the scenario (a named fault) the panels then run against.

>>> import meshnb
>>> mesh = meshnb.simulate()
>>> picker = ScenarioPicker(mesh)
>>> picker.scenario.value = "firewall"
>>> mesh.knobs.firewall
True
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from meshnb.backends.sim import SCENARIO_DESCRIPTIONS, SCENARIOS, SimMesh

__all__ = ["ScenarioPicker"]


class ScenarioPicker(widgets.HBox):
    """A dropdown of the simulated mesh's scenarios; choosing one switches ``mesh`` to it."""

    def __init__(self, mesh: SimMesh):
        self.mesh = mesh
        current = mesh.scenario if mesh.scenario in SCENARIOS else "healthy"
        self.scenario = widgets.Dropdown(
            options=list(SCENARIOS),
            value=current,
            description="Simulated scenario",
            style={"description_width": "initial"},
        )
        self.explanation = widgets.HTML()
        self.scenario.observe(self._changed, names="value")
        super().__init__([self.scenario, self.explanation])
        self.add_class("meshnb-scenario-picker")
        self._describe()

    def _describe(self) -> None:
        text = SCENARIO_DESCRIPTIONS.get(self.scenario.value, "")
        self.explanation.value = f"<i>{html.escape(text)}</i>"

    def _changed(self, change: dict) -> None:
        self.mesh.use(change["new"])
        self._describe()
