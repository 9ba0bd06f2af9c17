"""Whether a page still shows a widget: :class:`Viewer` counts up while one does.

A kernel cannot tell that the browser tab showing it was closed (Voila even keeps buffering for it), so
a widget that works on its own, such as the demo sending traffic, would go on for nobody. A Viewer is
invisible; each page that renders it adds one to :attr:`Viewer.beats` every ``every_ms`` milliseconds.
When the beats stop, nobody is looking.

>>> viewer = Viewer(every_ms=500)
>>> viewer.seen_within(1.0)          # no page has shown it yet
False
>>> viewer.beats += 1                # what the page does
>>> viewer.seen_within(1.0)
True
"""

from __future__ import annotations

import time

import anywidget
import traitlets

__all__ = ["Viewer"]


class Viewer(anywidget.AnyWidget):
    """An invisible widget whose pages say, every ``every_ms`` milliseconds, that they are open."""

    _esm = """
export default {
  render({ model, el }) {
    el.style.display = "none";
    const beat = () => { model.set("beats", model.get("beats") + 1); model.save_changes(); };
    beat();
    const timer = setInterval(beat, model.get("every_ms"));
    return () => clearInterval(timer);
  },
};
"""
    beats = traitlets.Int(0).tag(sync=True)
    every_ms = traitlets.Int(2000).tag(sync=True)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.last_seen: float | None = None  # monotonic time of the last beat
        self.layout.display = "none"
        self.observe(self._beat, names="beats")

    def _beat(self, _change: dict) -> None:
        self.last_seen = time.monotonic()

    def seen_within(self, seconds: float) -> bool:
        """Whether a page said it was open in the last ``seconds``."""
        return self.last_seen is not None and time.monotonic() - self.last_seen <= seconds
