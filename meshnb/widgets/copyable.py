"""HTML whose commands have working Copy buttons: :class:`CopyableHTML`.

An ``ipywidgets.HTML`` shows a button but runs no script, so a next step's Copy button
(:func:`~meshnb.diagnostics.finding.step_html` with ``copy=True``) would do nothing there. A
CopyableHTML shows its ``value`` the same way and copies a button's command to the clipboard when it
is clicked; where the browser refuses (no clipboard API, an untrusted page), it selects the command so
that Ctrl+C copies it. ``value`` is HTML made by meshnb, every text in it escaped.

>>> steps_html(["Restart it: `kubectl --context=c1 -n istio-system rollout restart deploy/istiod`."])
'<ol class="meshnb-steps"><li>Restart it: <span class="meshnb-command"><code>kubectl ...'
>>> commands_html(["kubectl --context=c1 get pods"])  # doctest: +ELLIPSIS
'<div class="meshnb-commands"><div><span class="meshnb-command"><code>kubectl --context=c1 get pods</code>...'
"""

from __future__ import annotations

import html
from typing import Any

import anywidget
import traitlets

from meshnb.diagnostics.finding import step_html

__all__ = ["CopyableHTML", "commands_html", "steps_html"]


def steps_html(steps: list[str]) -> str:
    """Next steps as a numbered list, each command with a Copy button."""
    items = "".join(f"<li>{step_html(step, copy=True)}</li>" for step in steps)
    return f'<ol class="meshnb-steps">{items}</ol>'


def commands_html(commands: list[str]) -> str:
    """Shell commands one per line, each with a Copy button (a command holding a backtick: as text)."""
    lines = (
        step_html(f"`{c}`", copy=True) if "`" not in c else f"<code>{html.escape(c)}</code>" for c in commands
    )
    return '<div class="meshnb-commands">' + "".join(f"<div>{line}</div>" for line in lines) + "</div>"


class CopyableHTML(anywidget.AnyWidget):
    """Shows the HTML ``value``; its ``button.meshnb-copy`` buttons copy their ``data-copy``."""

    _esm = """
export default {
  render({ model, el }) {
    const draw = () => { el.innerHTML = model.get("value"); };
    draw();
    model.on("change:value", draw);
    el.addEventListener("click", (event) => {
      const button = event.target.closest("button.meshnb-copy");
      if (!button) return;
      const said = (word) => {
        button.textContent = word;
        setTimeout(() => { button.textContent = "Copy"; }, 2000);
      };
      const select = () => {
        window.getSelection().selectAllChildren(button.previousElementSibling);
        said("Selected: press Ctrl+C");
      };
      if (!navigator.clipboard) return select();
      navigator.clipboard.writeText(button.dataset.copy).then(() => said("Copied"), select);
    });
    return () => model.off("change:value", draw);
  },
};
"""
    _css = """
.meshnb-command code {
  background: var(--jp-layout-color2, #f6f8fa); color: var(--jp-content-font-color1, inherit);
  padding: 0.1rem 0.3rem; border-radius: 4px; overflow-wrap: anywhere; white-space: pre-wrap;
}
.meshnb-copy {
  margin-left: 0.3rem; font-size: 0.75rem; cursor: pointer;
  color: var(--jp-ui-font-color1, inherit); background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #d0d7de); border-radius: 4px;
}
.meshnb-commands > div { margin: 0.2rem 0; }
"""
    value = traitlets.Unicode("").tag(sync=True)

    def __init__(self, value: str = "", **kwargs: object) -> None:
        super().__init__(value=value, **kwargs)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, and its HTML for a page that renders no widgets (a saved notebook on GitHub)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):  # (data, metadata)
            return {**bundle[0], "text/html": self.value}, bundle[1]
        return {**(bundle or {}), "text/html": self.value}
