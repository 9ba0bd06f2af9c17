"""Never a stale answer: a panel changed since its last run says so, as do the cells below it.

A panel's result goes out of date when one of its controls or its mesh (the simulated scenario) changes;
a cell below that shows the result also when the panel runs again.

>>> import ipywidgets as widgets
>>> requests = widgets.IntText(value=100, description="Requests")
>>> fresh = Freshness(widgets.VBox(), None, [requests])
>>> fresh.ran()
>>> note = fresh.note()                  # a cell below shows this run's result
>>> note.value
''
>>> requests.value = 500
>>> fresh.banner.value.count("changed (Requests): press Run")
1
>>> fresh.ran()                          # the panel is fresh again, the cell below is not
>>> fresh.banner.value, "earlier run" in note.value
('', True)
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import ipywidgets as widgets

__all__ = ["STALE_CLASS", "Freshness"]

#: The CSS class of a panel whose result is out of date.
STALE_CLASS = "meshnb-stale"
_NOTE = (
    '<span role="status" class="meshnb-stale-note">⚠ Out of date: this shows an earlier run of the panel '
    "above, which has changed or run again since. Run this cell again.</span>"
)


class Freshness:
    """Whether ``panel``'s result still answers its ``controls`` and ``mesh``; :attr:`banner` says it.

    The mesh is watched when it can be (the simulated one can); the banner stays until :meth:`ran`.
    """

    def __init__(self, panel: widgets.DOMWidget, mesh: object, controls: Iterable[widgets.Widget]):
        self.panel = panel
        self.runs = 0
        self.reason: str | None = None
        self.banner = widgets.HTML()
        self.banner.add_class("meshnb-stale-banner")
        self._notes: list[tuple[widgets.HTML, int]] = []
        for control in controls:
            label = getattr(control, "description", "") or "a control"
            control.observe(lambda _change, label=label: self.changed(label), names="value")
        self._watched: list[object] = []
        self.watch(mesh)

    def watch(self, mesh: object) -> None:
        """Follow ``mesh``'s changes too, when it can be watched (the simulated mesh can)."""
        watch = getattr(mesh, "watch", None)
        if callable(watch) and not any(mesh is seen for seen in self._watched):
            self._watched.append(mesh)
            watch(self.changed)

    def ran(self) -> None:
        """The panel shows a new result: it is fresh; notes made before now are not."""
        self.runs += 1
        self.reason = None
        self._show()

    def changed(self, what: str) -> None:
        """``what`` changed (a control's label, or the mesh's words): a result shown is out of date."""
        if self.runs:
            self.reason = what
            self._show()

    def note(self) -> widgets.HTML:
        """A line for a cell below that shows this run's result: empty until that result is out of date."""
        note = widgets.HTML()
        self._notes.append((note, self.runs))
        self._show_note(note, self.runs)
        return note

    def _show(self) -> None:
        if self.reason is None:
            self.banner.value = ""
            self.panel.remove_class(STALE_CLASS)
        else:
            self.banner.value = (
                f'<span role="status" class="meshnb-stale-badge">⟳ changed ({html.escape(self.reason)}): '
                "press Run</span> <i>the result below is from before the change</i>"
            )
            self.panel.add_class(STALE_CLASS)
        for note, run in self._notes:
            self._show_note(note, run)

    def _show_note(self, note: widgets.HTML, run: int) -> None:
        note.value = _NOTE if self.reason is not None or run != self.runs else ""
