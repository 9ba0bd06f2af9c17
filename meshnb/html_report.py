"""A triage Report as one self-contained HTML file: diagnosis, every check, its tables and plots.

By default the page is compact: the split drawn in HTML, the tables with each request's row left out
(their count said), well under 1 MB. ``full=True`` adds the interactive plots (plotly.js embedded once,
so the file opens with no network) and every table. Every text is escaped, cells read as text (times in
ISO 8601, lists joined, never a Python repr), wide tables scroll inside the page; the report holds only
what the checks kept, never a token or key.

>>> import meshnb
>>> page = report_html(meshnb.triage(meshnb.simulate("trust-mismatch")))
>>> "the clusters do not share a root of trust" in page, '<script src="http' in page, len(page) < 200_000
(True, False, True)
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

from meshnb import plots
from meshnb.diagnostics.finding import step_html
from meshnb.files import atomic_file

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from meshnb.diagnostics.finding import Finding
    from meshnb.diagnostics.report import Report

__all__ = ["cell_text", "diagnosis_html", "report_html", "write_html"]

MAX_ROWS = 200  # per table; the snapshot keeps them all

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; padding: 0 1rem; max-width: 72rem;
  color: #1f2328; overflow-wrap: anywhere; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; display: block;
  max-width: 100%; overflow-x: auto; }
td, th { border: 1px solid #d0d7de; padding: .2rem .5rem; text-align: left; vertical-align: top;
  max-width: 32rem; }
.meta td:first-child { font-weight: 600; } .more { color: #57606a; font-size: .85rem; }
.split { display: flex; height: 1.4rem; width: 100%; max-width: 40rem; border: 1px solid #d0d7de; }
.split span { display: block; height: 100%; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 1rem; }
.meshnb-command code { background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; }
.meshnb-copy { margin-left: .3rem; font-size: .75rem; cursor: pointer; }
"""
#: Copies a command's text (its button's data-copy) to the clipboard; where the browser refuses (no
#: clipboard API, or a page it does not trust), the command is selected to copy by hand.
_SCRIPT = """
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.meshnb-copy");
  if (!button) return;
  function select() {
    window.getSelection().selectAllChildren(button.previousElementSibling);
    button.textContent = "Selected: press Ctrl+C";
  }
  if (!navigator.clipboard) return select();
  navigator.clipboard.writeText(button.dataset.copy).then(function () {
    button.textContent = "Copied";
  }, select);
});
"""
_STYLE_CAUSE = """
.cause { border-left: 4px solid #cf222e; padding: .2rem 1rem; margin: 1rem 0; }
.cause.by-design { border-color: #9a6700; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _figures(report: Report) -> list[tuple[str, go.Figure]]:
    found: list[tuple[str, go.Figure]] = []
    lb = report.findings.get("load-balancing")
    if lb is not None and "split" in lb.evidence:
        found.append(("load-balancing", plots.split_figure(lb.evidence["split"], lb.evidence.get("sources"))))
        found.append(("load-balancing", plots.sequence_figure(lb.evidence["samples"])))
    endpoints = report.findings.get("endpoints")
    if endpoints is not None and "endpoints" in endpoints.evidence:
        found.append(("endpoints", plots.endpoints_figure(endpoints.evidence["endpoints"])))
    return found


def diagnosis_html(report: Report, *, summary: bool = True, copy: bool = False) -> str:
    """The diagnosis as HTML: the summary, each cause with its evidence and next step, a light per check.

    ``summary=False`` leaves out the summary and the lights: the triage panel says them once, in its
    status line and its own lights. ``copy`` gives each command a copy button (see
    :func:`meshnb.diagnostics.finding.step_html`; the page's script makes it work).
    """
    parts = [f"<style>{_STYLE_CAUSE}</style>"]
    if summary:
        parts.append(f"<p><strong>{_e(report.diagnosis.summary)}</strong></p>")
    for cause in report.diagnosis.causes:
        parts.append(f'<div class="cause{" by-design" if cause.by_design else ""}">')
        parts.append(f"<h3>{_e(cause.title)}</h3><ul>")
        parts += [f"<li>{_e(line)}</li>" for line in cause.evidence]
        parts.append(f"</ul><p>Next: {step_html(cause.next_step, copy=copy)}</p></div>")
    if summary:
        lights = " ".join(f"{f.status_html()} {_e(name)}" for name, f in report.findings.items())
        parts.append(f"<p>{lights}</p>")
    return "\n".join(parts)


def cell_text(value: object) -> str:
    """A table cell as a person reads it: empty for a missing value, ISO 8601 for a time, lists joined.

    >>> import pandas as pd
    >>> [cell_text(v) for v in (None, pd.NA, pd.Timestamp("2026-12-01 09:00:00", tz="UTC"), ["a", "b"])]
    ['', '', '2026-12-01T09:00:00+00:00', 'a, b']
    >>> cell_text({"cluster1": "1.31.0", "cluster2": None})
    'cluster1: 1.31.0'
    """
    import numpy as np
    import pandas as pd

    if isinstance(value, dict):
        return ", ".join(f"{key}: {cell_text(item)}" for key, item in value.items() if cell_text(item))
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(cell_text(item) for item in value)
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def _table_html(frame: pd.DataFrame) -> str:
    shown = frame.head(MAX_ROWS).astype(object).map(cell_text)
    return shown.to_html(index=False, escape=True, border=0)


def _split_html(finding: Finding) -> str:
    """The split of each source cluster's successful responses as bars of HTML, with a legend."""
    split, sources = finding.evidence.get("split"), finding.evidence.get("sources")
    if split is None or split.empty:
        return ""
    errors = {} if sources is None else dict(zip(sources["source_cluster"], sources["errors"], strict=True))
    parts = [
        "<h3>which version answered each source cluster</h3>",
        '<p class="legend">Share of successful responses:',
    ]
    versions = sorted(split["version"].dropna().unique())
    parts += [f'<span style="background:{plots.colour(v)}"></span>{_e(v)}' for v in versions]
    parts.append("</p>")
    for source, rows in split.sort_values("version").groupby("source_cluster", sort=True):
        failed = int(errors.get(source, 0))
        segments = "".join(
            f'<span style="width:{share * 100:.1f}%;background:{plots.colour(version)}" '
            f'title="{_e(version)} ({_e(dest)}): {share:.1%}, expected {expected:.1%}"></span>'
            for version, dest, share, expected in zip(
                rows["version"], rows["dest_cluster"], rows["share"], rows["expected_share"], strict=True
            )
        )
        said = ", ".join(
            f"{version} {share:.0%} (expected {expected:.0%})"
            for version, share, expected in zip(
                rows["version"], rows["share"], rows["expected_share"], strict=True
            )
        )
        total = int(rows["total"].iloc[0])
        parts.append(
            f"<p>{_e(source)}: {_e(said)}; {total} answered"
            + (f", {failed} failed" if failed else "")
            + f'</p><div class="split" role="img" aria-label="{_e(source)}: {_e(said)}">{segments}</div>'
        )
    return "\n".join(parts)


def _meta_html(meta: dict[str, object]) -> list[str]:
    rows = []
    for key in ("started", "finished", "clusters", "versions", "backend", "scenario", "meshnb_version"):
        text = cell_text(meta.get(key))
        if text:  # cluster versions are shown when known, the row omitted when none is
            rows.append(f"<tr><td>{_e(key)}</td><td>{_e(text)}</td></tr>")
    return ['<table class="meta">', *rows, "</table>"]


def report_html(report: Report, title: str = "meshnb triage report", *, full: bool = False) -> str:
    """The whole report as one HTML document (a string): compact, or with ``full`` everything."""
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>",
        f"<h1>{_e(title)}</h1>",
        *_meta_html(report.metadata),
        f"<h2>Diagnosis: {_e(report.status.upper())}</h2>",
        diagnosis_html(report, copy=True),
    ]
    figures = _figures(report) if full else []
    first_figure = True
    for name, finding in report.findings.items():
        parts.append(
            f"<h2>{_e(name)}</h2><p>{finding.status_html()} <strong>{_e(finding.headline)}</strong></p>"
        )
        if finding.summary != finding.headline:
            parts.append(f"<p>{_e(finding.summary)}</p>")
        if finding.next_steps:
            steps = "".join(f"<li>{step_html(step, copy=True)}</li>" for step in finding.next_steps)
            parts.append(f"<ol>{steps}</ol>")
        for check, figure in figures:
            if check == name:
                parts.append(figure.to_html(full_html=False, include_plotlyjs=first_figure))
                first_figure = False
        if not full:
            parts.append(_split_html(finding))
        for table, frame in finding.evidence.items():
            if not full and finding.is_samples(table):
                parts.append(
                    f'<p class="more">{len(frame)} requests were sent; their rows are in the snapshot '
                    "(<code>meshnb report SNAPSHOT --html OUT --full</code> lists them)</p>"
                )
                continue
            parts += [f"<h3>{_e(table)}</h3>", _table_html(frame)]
            if len(frame) > MAX_ROWS:
                parts.append(f'<p class="more">{len(frame) - MAX_ROWS} more rows in the snapshot</p>')
    parts.append("</body></html>")
    return "\n".join(part for part in parts if part)


def write_html(
    report: Report, path: str | os.PathLike[str], title: str = "meshnb triage report", *, full: bool = False
) -> Path:
    """Write :func:`report_html` to ``path`` atomically (a temporary file renamed over it)."""
    target = Path(path)
    with atomic_file(target) as out:
        out.write(report_html(report, title, full=full).encode("utf-8"))
    return target
