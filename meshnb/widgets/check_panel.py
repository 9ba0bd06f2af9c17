"""What every panel shares: controls, a Run button, progress per cluster, a status line and tabs.

A panel names its check's declaration (``check``, from the registry): a control is made for each of
the check's options (``panel.namespace`` ...), Run calls the check with their values, and the tabs
show its tables. A subclass may add tabs (plots) or its own controls; running, disabling Run while
busy, progress, errors shown in the panel and ``.result`` are handled here.

>>> import meshnb
>>> from meshnb.diagnostics.registry import CHECKS
>>> Panel = panel_class(CHECKS["endpoints"])
>>> panel = Panel(meshnb.simulate(), service="helloworld")
>>> panel.port.value, panel.run().status
(5000, 'pass')
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from meshnb.backends.base import Mesh
from meshnb.diagnostics.by_hand import commands
from meshnb.diagnostics.check import Check, Option
from meshnb.diagnostics.fanout import Progress
from meshnb.diagnostics.finding import Finding
from meshnb.widgets.copyable import CopyableHTML, commands_html
from meshnb.widgets.display import show
from meshnb.widgets.freshness import Freshness

__all__ = [
    "BY_HAND",
    "STYLE",
    "CheckPanel",
    "advance",
    "checkbox",
    "cluster_bars",
    "control",
    "error_html",
    "mark_clusters",
    "panel_class",
    "rebind",
]

log = logging.getLogger("meshnb")

STYLE = {"description_width": "initial"}
#: The tab with the commands that gather a check's evidence by hand.
BY_HAND = "By hand"
_COMMANDS = "<p>The same evidence by hand (each line can be pasted into a shell):</p>"


def advance(bar: widgets.IntProgress, done: int, total: int) -> None:
    """Show ``done`` of ``total`` on a cluster's progress bar (green when complete)."""
    bar.max = max(total, 1)
    bar.value = done
    bar.bar_style = "success" if done >= total else "info"


def cluster_bars(mesh: Mesh) -> dict[str, widgets.IntProgress]:
    """A progress bar per cluster of ``mesh``, each labelled with the cluster's name."""
    return {
        name: widgets.IntProgress(value=0, min=0, max=1, description=name, style=STYLE)
        for name in mesh.clusters
    }


def rebind(panel: Any, mesh: Mesh) -> None:
    """Point ``panel`` at ``mesh``: its ``mesh``, its progress ``bars``; a result shown is out of date."""
    panel.mesh = mesh
    panel.progress = cluster_bars(mesh)
    panel.bars.children = list(panel.progress.values())
    panel.freshness.watch(mesh)
    panel.freshness.changed("the mesh")


def mark_clusters(bars: dict[str, widgets.IntProgress], statuses: dict[str, str]) -> None:
    """Each failed or unreachable cluster's bar drawn full and red, its status in its tooltip.

    A cluster that failed before reporting progress would otherwise be an empty grey bar.

    >>> bars = {"c1": widgets.IntProgress(value=0, max=1)}
    >>> mark_clusters(bars, {"c1": "error"})
    >>> bars["c1"].value, bars["c1"].bar_style, bars["c1"].tooltip
    (1, 'danger', 'c1: error')
    """
    for cluster, bar in bars.items():
        status = statuses.get(cluster)
        if status in ("error", "fail"):
            bar.value, bar.bar_style = bar.max, "danger"
        bar.tooltip = f"{cluster}: {status}" if status else None


def error_html(exc: BaseException) -> str:
    """A run that raised, for a status line: said in words, escaped."""
    return (
        '<span role="alert" style="color:#cf222e"><b>✖ ERROR</b></span> '
        f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}"
    )


def checkbox(description: str, value: bool = False) -> widgets.Checkbox:
    """A checkbox as wide as its label (ipywidgets' fixed width cut a long label with "…").

    >>> checkbox("Allow changes (run the connectivity probe)").layout.width
    'auto'
    """
    return widgets.Checkbox(
        value=value, description=description, style=STYLE, indent=False, layout={"width": "auto"}
    )


def control(option: Option, value: Any) -> widgets.Widget:
    """The control of a check's option: a checkbox, a number or a text."""
    if isinstance(option.default, bool):
        return checkbox(option.description, bool(value))
    if isinstance(option.default, int):
        return widgets.BoundedIntText(
            value=value,
            min=option.minimum if option.minimum is not None else -(2**31),
            max=option.maximum if option.maximum is not None else 2**31 - 1,
            description=option.description,
            style=STYLE,
        )
    return widgets.Text(value=value, description=option.description, style=STYLE)


class CheckPanel(widgets.VBox):
    """Base of the panels: ``check`` is the check's declaration; ``title``, ``css`` and ``tabs`` dress it.

    ``tabs`` holds ``(title, view)`` pairs, ``view`` a function ``Finding -> displayable`` (a
    DataFrame, a figure ...); a Summary tab with the Finding itself comes first. Keyword arguments
    set the controls' first values (``namespace="sample"``). A subclass with other controls passes
    them as ``controls`` and implements :meth:`call`.
    """

    check: Check | None = None
    title = "check"
    intro = ""
    css = "meshnb-check"
    tooltip = "Run the check"
    tabs: tuple[tuple[str, Callable[[Finding], Any]], ...] = ()

    def __init__(
        self,
        mesh: Mesh,
        controls: list[widgets.Widget] | None = None,
        tooltip: str | None = None,
        **values: Any,
    ):
        if controls is None:
            controls = self._controls(values)
        elif values:
            raise TypeError(f"unexpected options {sorted(values)}")
        tooltip = tooltip or self.tooltip
        self.mesh = mesh
        self.result: Finding | None = None
        self.error: BaseException | None = None
        self.run_button = widgets.Button(
            description="Run", button_style="primary", icon="play", tooltip=tooltip
        )
        self.run_button.on_click(lambda _button: self.run())
        self.status = widgets.HTML(value="<i>Not run yet.</i>", description="Status", style=STYLE)
        self.status.add_class("meshnb-status-line")
        self.progress = cluster_bars(mesh)
        self.bars = widgets.VBox(list(self.progress.values()))
        by_hand = (BY_HAND,) if self.check is not None and self.check.by_hand is not None else ()
        titles = ("Summary", *(title for title, _view in self.tabs), *by_hand)
        self.outputs = {name: widgets.Output() for name in titles}
        self.summary_view = CopyableHTML()  # the Summary tab: the finding, its commands with Copy buttons
        self.by_hand_view = CopyableHTML()
        self.tab = widgets.Tab(children=[self.outputs[name] for name in titles], titles=titles)
        header = f"<b>{html.escape(self.title)}</b>" + (f": {html.escape(self.intro)}" if self.intro else "")
        self.freshness = Freshness(self, mesh, controls)
        super().__init__(
            [
                widgets.HTML(header),
                widgets.HBox([*controls, self.run_button], layout={"flex_flow": "row wrap"}),
                self.bars,
                self.freshness.banner,
                self.status,
                self.tab,
            ]
        )
        self.add_class("meshnb-panel")
        self.add_class(self.css)
        self._show_commands()

    def set_mesh(self, mesh: Mesh) -> None:
        """Work on ``mesh`` from now on (a :class:`~meshnb.widgets.mesh_picker.MeshPicker` calls it)."""
        rebind(self, mesh)
        self._show_commands()

    def commands(self) -> list[str]:
        """The kubectl and istioctl commands that gather this check's evidence by hand, names filled in."""
        if self.check is None:
            return []
        values = {o.name: getattr(self, o.name).value for o in self.check.options if hasattr(self, o.name)}
        return commands(self.check, self.mesh, values, self.result)

    def _show_commands(self) -> None:
        if BY_HAND in self.outputs:
            self.by_hand_view.value = _COMMANDS + commands_html(self.commands())
            show(self.outputs[BY_HAND], self.by_hand_view)

    def note(self) -> widgets.HTML:
        """For a cell below that shows :attr:`result`: a line that says when it is out of date."""
        return self.freshness.note()

    def _controls(self, values: dict[str, Any]) -> list[widgets.Widget]:
        if self.check is None:
            raise TypeError(f"{type(self).__name__} declares no check: pass its controls")
        unknown = set(values) - {option.name for option in self.check.options}
        if unknown:
            raise TypeError(f"{self.check.name} has no option(s) {sorted(unknown)}")
        made = []
        for option in self.check.options:
            widget = control(option, values.get(option.name, option.default))
            setattr(self, option.name, widget)
            made.append(widget)
        return made

    def values(self) -> dict[str, Any]:
        """The check's options as the controls say (texts stripped)."""
        if self.check is None:
            return {}
        out = {}
        for option in self.check.options:
            value = getattr(self, option.name).value
            out[option.name] = value.strip() if isinstance(value, str) else value
        return out

    def call(self, progress: Progress) -> Finding:
        """Run the panel's check with its controls' values."""
        if self.check is None:
            raise NotImplementedError(f"{type(self).__name__} declares no check")
        finding: Finding = self.check.function(self.mesh, **self.values(), progress=progress)
        return finding

    def _on_progress(self, cluster: str, done: int, total: int) -> None:
        advance(self.progress[cluster], done, total)

    def run(self) -> Finding | None:
        """Run the check; show and return the Finding (None, with the error shown, if it raised)."""
        self.run_button.disabled = True
        self.run_button.description = "Running…"
        for bar in self.progress.values():
            bar.value, bar.bar_style = 0, ""
        self.status.value = "<i>Running…</i>"
        try:
            finding = self.call(self._on_progress)
        except Exception as exc:  # shown in the panel, never lost in a callback
            log.exception("%s panel run failed", self.title)
            self.error = exc
            self.status.value = error_html(exc)
            for output in self.outputs.values():
                output.outputs = ()
            self.freshness.ran()  # the error is the answer to the controls as they are
            return None
        finally:
            self.run_button.disabled = False
            self.run_button.description = "Run"
        self.error = None
        self.result = finding
        self._render(finding)
        self._show_commands()  # with the pods this run used
        self.freshness.ran()
        return finding

    def _render(self, finding: Finding) -> None:
        mark_clusters(self.progress, finding.cluster_statuses())
        self.status.value = f"{finding.status_html()} {html.escape(finding.headline)}"
        self.summary_view.value = finding._repr_html_(copy=True)
        show(self.outputs["Summary"], self.summary_view)
        for title, view in self.tabs:
            show(self.outputs[title], view(finding))


def panel_class(check: Check) -> type[CheckPanel]:
    """The panel class of a check that has no custom one: its options as controls, its tables as tabs."""
    tables = tuple(name for name, _columns in check.tables)
    return type(
        check.panel_name,
        (CheckPanel,),
        {
            "__doc__": check.help,
            "check": check,
            "title": check.title or check.name,
            "intro": check.help,
            "css": f"meshnb-{check.name}",
            "tabs": tuple(
                (name.replace("_", " ").capitalize(), lambda finding, n=name: finding.evidence.get(n))
                for name in tables
            ),
        },
    )
