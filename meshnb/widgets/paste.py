"""The paste box: paste what a tool printed, press Read, and see what meshnb makes of it.

Any input :func:`meshnb.readers.detect.read_any` knows is read (its kind detected, or the one chosen),
and shown as the rows meshnb made of it, with the reader's notes; a refusal shows the reader's message,
naming the line. Text that holds a private key is cleared from the box once read: it is never decoded,
and must not stay in the notebook's widget state.

>>> box = PasteBox()
>>> box.text.value = "Hello version: v1, instance: helloworld-v1-1\\nno healthy upstream\\n"
>>> reading = box.read()
>>> reading.kind, len(reading.frame)
('curl', 2)
>>> box.status.value
'<b>curl responses (the guide&#x27;s loop)</b>: 2 rows'
"""

from __future__ import annotations

import html
import logging

import ipywidgets as widgets

from meshnb.errors import MeshnbError
from meshnb.readers.detect import KINDS, Reading, read_any
from meshnb.widgets.check_panel import STYLE, error_html
from meshnb.widgets.display import show

__all__ = ["PasteBox"]

log = logging.getLogger("meshnb")

_KEY_MARKERS = ("PRIVATE KEY-----", "ca-key.pem", "tls.key")


def _holds_key(text: str, reading: Reading | None) -> bool:
    """Whether the pasted text holds (or may hold) a private key."""
    if reading is not None and (
        reading.notes.get("keys_not_read") or reading.notes.get("private_keys_skipped")
    ):
        return True
    return any(marker in text for marker in _KEY_MARKERS)


class PasteBox(widgets.VBox):
    """A text box for a pasted output, a kind (detected by default), Read, and the reading shown.

    ``kind`` preselects a kind (a name in :data:`meshnb.readers.detect.KINDS`); ``example`` fills the
    box at first. After :meth:`read`, ``.reading`` holds the :class:`Reading` (None if refused, with
    ``.error`` the reason).
    """

    def __init__(self, kind: str | None = None, example: str = "", title: str = "Read a pasted output"):
        names = [k.name for k in KINDS]
        if kind is not None and kind not in names:
            raise ValueError(f"unknown kind {kind!r}: {', '.join(names)}")
        self.reading: Reading | None = None
        self.error: MeshnbError | None = None
        self.text = widgets.Textarea(
            value=example,
            placeholder="Paste here: istioctl proxy-config endpoint, Envoy /clusters, a cacerts secret or "
            "PEM, istiod's log, the guide's curl loop …",
            layout={"width": "100%", "height": "12em"},
        )
        self.kind = widgets.Dropdown(
            options=[("detect the kind", None), *((k.title, k.name) for k in KINDS)],
            value=kind,
            description="Read as",
            style=STYLE,
            layout={"width": "auto"},
        )
        self.read_button = widgets.Button(description="Read", button_style="primary", icon="search")
        self.read_button.on_click(lambda _button: self.read())
        self.status = widgets.HTML(value="<i>Paste an output and press Read.</i>")
        self.status.add_class("meshnb-status-line")
        self.output = widgets.Output()
        super().__init__(
            [
                widgets.HTML(f"<b>{html.escape(title)}</b>"),
                self.text,
                widgets.HBox([self.kind, self.read_button]),
                self.status,
                self.output,
            ]
        )
        self.add_class("meshnb-panel")
        self.add_class("meshnb-paste")

    def read(self) -> Reading | None:
        """Read the box's text; show and return the reading (None, with the reason shown, if refused)."""
        text = self.text.value
        self.output.outputs = ()
        try:
            reading = read_any(text, self.kind.value)
        except MeshnbError as exc:  # a ParseError names the line; shown, never raised in a callback
            self.reading, self.error = None, exc
            self.status.value = error_html(exc)
            self._forget_key(text, None)
            return None
        self.reading, self.error = reading, None
        rows = len(reading.frame)
        self.status.value = (
            f"<b>{html.escape(reading.title)}</b>: {rows} row{'' if rows == 1 else 's'}"
            + "".join(
                f"<br>{html.escape(f'{key}: {value}')}" for key, value in reading.notes.items() if value
            )
        )
        frame = reading.frame
        if len(frame):  # the columns this input has a value for, each value whole
            frame = frame.loc[:, frame.notna().any()]
        show(self.output, frame)
        self._forget_key(text, reading)
        return reading

    def _forget_key(self, text: str, reading: Reading | None) -> None:
        if _holds_key(text, reading):
            self.text.value = ""
            self.status.value += (
                "<br><b>The pasted text held a private key</b>: meshnb did not read it, and cleared the box "
                "so that it is not saved with the notebook."
            )
            log.info("paste box: text with a private key cleared")
