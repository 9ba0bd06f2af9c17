"""Putting results into ``ipywidgets.Output`` areas, with or without a running kernel.

``Output.append_display_data`` works in a kernel and in plain Python (tests), unlike the ``with
output:`` context, so panels use it; figures go as plotly's JupyterLab mime type only, which keeps
saved notebooks small (no embedded plotly.js).

>>> import ipywidgets, plotly.graph_objects as go
>>> out = ipywidgets.Output()
>>> show(out, FigureBundle(go.Figure()))
>>> "application/vnd.plotly.v1+json" in out.outputs[0]["data"]
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

__all__ = ["FigureBundle", "show"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"


class FigureBundle:
    """A plotly figure that displays as plotly's mime type (rendered by JupyterLab's plotly extension)."""

    def __init__(self, figure: go.Figure):
        self.figure = figure

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        import plotly.io as pio

        bundle = pio.renderers["plotly_mimetype"].to_mimebundle(self.figure.to_dict())
        title = self.figure.layout.title.text or "plotly figure"
        return {**bundle, "text/plain": f"<Figure: {title}>"}


def show(output: ipywidgets.Output, *objs: Any) -> None:
    """Replace what ``output`` shows with ``objs``, one after the other.

    Tables show every column and every value whole (pandas would cut a value at 50 characters and hide
    middle columns).
    """
    import pandas as pd

    output.outputs = ()
    for obj in objs:
        with pd.option_context("display.max_colwidth", None, "display.max_columns", None):
            output.append_display_data(obj)
