"""A triage Report as one self-contained HTML file: diagnosis, every check, its tables and plots.

plotly.js is embedded once, so the file opens with no network. Every text is escaped; the report holds
only what the checks kept, never a token or key.

>>> import meshnb
>>> page = report_html(meshnb.triage(meshnb.simulate("trust-mismatch")))
>>> "the clusters do not share a root of trust" in page, '<script src="http' in page
(True, False)
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

from meshnb import plots
from meshnb.files import atomic_file

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from meshnb.diagnostics.report import Report

__all__ = ["diagnosis_html", "report_html", "write_html"]

MAX_ROWS = 200  # per table; the snapshot keeps them all

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }
td, th { border: 1px solid #d0d7de; padding: .2rem .5rem; text-align: left; vertical-align: top; }
.meta td:first-child { font-weight: 600; } .more { color: #57606a; font-size: .85rem; }
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


def diagnosis_html(report: Report) -> str:
    """The diagnosis as HTML: the summary, then each cause with its evidence and next step."""
    parts = [f"<style>{_STYLE_CAUSE}</style>", f"<p><strong>{_e(report.diagnosis.summary)}</strong></p>"]
    for cause in report.diagnosis.causes:
        parts.append(f'<div class="cause{" by-design" if cause.by_design else ""}">')
        parts.append(f"<h3>{_e(cause.title)}</h3><ul>")
        parts += [f"<li>{_e(line)}</li>" for line in cause.evidence]
        parts.append(f"</ul><p>Next: {_e(cause.next_step)}</p></div>")
    parts.append(
        "<p>" + " ".join(f"{f.status_html()} {_e(name)}" for name, f in report.findings.items()) + "</p>"
    )
    return "\n".join(parts)


def report_html(report: Report, title: str = "meshnb triage report") -> str:
    """The whole report as one HTML document (a string)."""
    meta = report.metadata
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        '<table class="meta">',
        *(
            f"<tr><td>{_e(key)}</td><td>{_e(meta.get(key))}</td></tr>"
            for key in (
                "started",
                "finished",
                "clusters",
                "versions",
                "backend",
                "scenario",
                "meshnb_version",
            )
            if key in meta
        ),
        "</table>",
        f"<h2>Diagnosis: {_e(report.status.upper())}</h2>",
        diagnosis_html(report),
    ]
    figures = _figures(report)
    first_figure = True
    for name, finding in report.findings.items():
        parts.append(f"<h2>{_e(name)}</h2>{finding.status_html()}<p>{_e(finding.summary)}</p>")
        if finding.next_steps:
            parts.append("<ol>" + "".join(f"<li>{_e(step)}</li>" for step in finding.next_steps) + "</ol>")
        for check, figure in figures:
            if check == name:
                parts.append(figure.to_html(full_html=False, include_plotlyjs=first_figure))
                first_figure = False
        for table, frame in finding.evidence.items():
            parts.append(f"<h3>{_e(table)}</h3>")
            parts.append(frame.head(MAX_ROWS).to_html(index=False, na_rep="", escape=True, border=0))
            if len(frame) > MAX_ROWS:
                parts.append(f'<p class="more">{len(frame) - MAX_ROWS} more rows in the snapshot</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: Report, path: str | os.PathLike[str], title: str = "meshnb triage report") -> Path:
    """Write :func:`report_html` to ``path`` atomically (a temporary file renamed over it)."""
    target = Path(path)
    with atomic_file(target) as out:
        out.write(report_html(report, title).encode("utf-8"))
    return target
