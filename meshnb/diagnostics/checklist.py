"""The check list: one row per check, as ``linkerd multicluster check`` prints its checks.

Each row gives the check's name and title, its status as a mark, its headline and, when it did not
pass, a one-line hint and the section of Istio's guide to read. ``meshnb check`` (with no check name)
prints the rows as text (:func:`text`) or JSON (:func:`to_dict`), and the triage panel shows the same
rows as HTML (:func:`row_html`).

The marks: ``√`` pass, ``‼`` warn, ``×`` fail or error, ``-`` skipped. A skipped check was not run
(the list changes nothing, so the connectivity probe is only planned): it is neither good news nor a
warning, and like a pass it leaves the exit code at 0.

>>> import meshnb
>>> from meshnb.diagnostics.triage import triage
>>> found = rows(triage(meshnb.simulate("trust-mismatch"), requests=20))
>>> [(row.mark, row.check) for row in found if row.status != "pass"]
[('×', 'load-balancing'), ('-', 'connectivity'), ('×', 'trust'), ('-', 'ambient')]
>>> print(text(found, short=True, width=100).splitlines()[-1])
Status check results are ×
"""

from __future__ import annotations

import html
import itertools
import re
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from meshnb.diagnostics.finding import Finding, status_html, step_html, worst
from meshnb.diagnostics.registry import CHECKS, Registry
from meshnb.diagnostics.report import Report

__all__ = [
    "MARKS",
    "PAUSE",
    "Round",
    "Row",
    "ok",
    "one_line",
    "parse_duration",
    "rounds",
    "row_html",
    "rows",
    "text",
    "to_dict",
]

#: The mark of each status.
MARKS = {"pass": "√", "warn": "‼", "fail": "×", "error": "×", "skipped": "-"}
#: The statuses ``--output short`` shows: the problems.
PROBLEMS = ("warn", "fail", "error")
#: Seconds between two rounds of :func:`rounds` (less when less time is left).
PAUSE = 5.0
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*([smh]?)")
_COMMAND = re.compile(r"`([^`]+)`")
#: Where a step's opening clause ends: a colon, a bracket, a semicolon or a full stop, then a space.
_CLAUSE_END = re.compile(r"(?::|;|\.)\s|\s\(")


@dataclass(frozen=True)
class Row:
    """One check's line: what it found, in a sentence, and where to look when it did not pass."""

    check: str
    title: str
    status: str
    headline: str
    hint: str = ""
    section: str = ""  # the guide's section heading
    guide: str = ""  # its address

    @property
    def mark(self) -> str:
        """``√``, ``‼``, ``×`` or ``-`` (see :data:`MARKS`)."""
        return MARKS[self.status]

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict of the row's fields and its mark."""
        return {
            "check": self.check,
            "title": self.title,
            "status": self.status,
            "mark": self.mark,
            "headline": self.headline,
            "hint": self.hint,
            "section": self.section,
            "guide": self.guide,
        }


def one_line(step: str) -> str:
    """A next step in one line: its opening clause and its first command (the whole step has the rest).

    >>> one_line("Create it with istioctl: `istioctl create-remote-secret --name=c2 | kubectl apply -f -` "
    ...          "(guide: 'Step-by-step diagnosis'). Then read istiod's log.")
    'Create it with istioctl: `istioctl create-remote-secret --name=c2 | kubectl apply -f -`'
    >>> one_line("Read istiod's logs (its remote clusters). Then fix them.")
    "Read istiod's logs"
    """
    parts = _COMMAND.split(step)  # text, command, text, ...: a clause ends outside the commands only
    head, commands = [], parts[1::2]
    for i, part in enumerate(parts):
        if i % 2:
            head.append(f"`{part}`")
            continue
        end = _CLAUSE_END.search(part)
        if end:
            head.append(part[: end.start()])
            break
        head.append(part)
    clause = "".join(head).strip().rstrip(":,;")
    if commands and f"`{commands[0]}`" not in clause:
        clause += f": `{commands[0]}`"
    return clause


def _hint(finding: Finding, said: tuple[str, ...]) -> str:
    """The first next step in one line unless it is said elsewhere; with none, the summary if it says more."""
    if finding.status == "pass":
        return ""
    if not finding.next_steps:
        return finding.summary if finding.summary != finding.headline else ""
    first = finding.next_steps[0]
    return "" if any(text and text in first for text in said) else one_line(first)


def rows(
    found: Report | Mapping[str, Finding], checks: Registry = CHECKS, *, said: Iterable[str] = ()
) -> list[Row]:
    """A row per Finding of ``found`` (triage's Report, or Findings by check name), in its order.

    A hint is a check's first next step (with none, the summary), left out when it holds one of
    ``said``: what the page shows already, such as the diagnosis' next steps.

    >>> [row.to_dict() for row in rows({"trust": Finding("trust", "pass", "c1 and c2 trust each other")})]
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'check': 'trust', 'title': 'Trust configuration', 'status': 'pass', 'mark': '√',
      'headline': 'c1 and c2 trust each other', 'hint': '', 'section': 'Trust Configuration',
      'guide': 'https://istio.io/latest/docs/ops/diagnostic-tools/multicluster/#trust-configuration'}]
    """
    findings = found.findings if isinstance(found, Report) else found
    known = tuple(said)
    made = []
    for name, finding in findings.items():
        spec = checks.get(name)
        title = spec.title if spec and spec.title else name
        made.append(
            Row(
                check=name,
                title=title,
                status=finding.status,
                headline=finding.headline,
                hint=_hint(finding, known),
                section=spec.guide if spec and spec.guide else title,
                guide=spec.guide_url if spec else "",
            )
        )
    return made


def ok(found: Iterable[Row]) -> bool:
    """True when no check failed or erred (the exit code 0 of :attr:`Finding.exit_code`).

    >>> ok([Row("trust", "Trust", "pass", "fine"), Row("locality", "Locality", "warn", "look")])
    True
    """
    return worst([row.status for row in found]) not in ("fail", "error")


def _wrap(line: str, width: int, indent: int) -> str:
    """``line`` wrapped to ``width``, continued ``indent`` spaces in; a command (in backticks) kept whole."""
    whole = re.sub(r"`[^`]+`", lambda command: command.group().replace(" ", "\0"), line)
    wrapped = textwrap.fill(
        whole,
        max(width, indent + 40),
        subsequent_indent=" " * indent,
        break_on_hyphens=False,
        break_long_words=False,
    )
    return wrapped.replace("\0", " ")


def _row_lines(row: Row, width: int) -> list[str]:
    """The row's line; under a check that did not pass its hint, under a problem the guide (never cut)."""
    lines = [_wrap(f"{row.mark} {row.check}: {row.headline}", width, 4)]
    if row.hint:
        lines.append(_wrap(f"    {row.hint}", width, 4))
    if row.guide and row.status in PROBLEMS:
        lines.append(f"    see {row.guide} for hints")
    return lines


def text(found: Iterable[Row], *, short: bool = False, width: int = 100) -> str:
    """The rows as text, laid out as ``linkerd check`` prints its checks.

    A heading per section of the guide, a line per check, its hint under each that did not pass and the
    guide's address under each problem (‼ or ×), then the overall result: ``√`` when no check failed or
    erred.

    ``short`` shows only the warnings, failures and errors (the final line always).

    >>> print(text([Row("trust", "Trust", "fail", "different roots", "Plug in one root.", "Trust",
    ...                 "https://istio.io/#trust")]))
    Trust
    -----
    × trust: different roots
        Plug in one root.
        see https://istio.io/#trust for hints
    <BLANKLINE>
    Status check results are ×
    """
    every = list(found)
    shown = [row for row in every if row.status in PROBLEMS] if short else every
    lines = []
    for section, group in itertools.groupby(shown, key=lambda row: row.section):
        lines += [section, "-" * len(section)]
        for row in group:
            lines += _row_lines(row, width)
        lines.append("")
    lines.append(f"Status check results are {'√' if ok(every) else '×'}")
    return "\n".join(lines)


def to_dict(found: Iterable[Row]) -> dict[str, Any]:
    """The rows as JSON-ready data: the overall status and a dict per check (no evidence tables).

    >>> to_dict([Row("trust", "Trust", "pass", "fine")])["status"]
    'pass'
    """
    every = list(found)
    return {"status": worst([row.status for row in every]), "checks": [row.to_dict() for row in every]}


def row_html(row: Row) -> str:
    """A row as HTML: the status badge (in words too), the check and its headline.

    Under a check that did not pass, its hint (each command with a Copy button); under a problem, a link
    to the guide's section.

    >>> row_html(Row("trust", "Trust", "pass", "c1 & c2 agree")).count("c1 &amp; c2 agree")
    1
    """
    parts = [
        f'<div class="meshnb-check-row" title="{html.escape(row.title)}">{status_html(row.status)} '
        f"<b>{html.escape(row.check)}</b>: {html.escape(row.headline)}"
    ]
    under = [step_html(row.hint, copy=True)] if row.hint else []
    if row.guide and row.status in PROBLEMS:
        link = f'<a href="{html.escape(row.guide)}" target="_blank" rel="noopener">'
        under.append(f"{link}guide: {html.escape(row.section)}</a>")
    if under:
        parts.append(f'<div class="meshnb-check-hint" style="margin-left:2em">{" ".join(under)}</div>')
    return "".join(parts) + "</div>"


def parse_duration(value: str) -> float:
    """Seconds in ``value``: ``90s``, ``5m``, ``1h`` or a number of seconds.

    >>> parse_duration("5m"), parse_duration("90s"), parse_duration("1h"), parse_duration("2.5")
    (300.0, 90.0, 3600.0, 2.5)
    >>> parse_duration("soon")
    Traceback (most recent call last):
    ValueError: --wait takes a time such as 90s, 5m, 1h or a number of seconds, not 'soon'
    """
    match = _DURATION.fullmatch(value.strip().lower())
    if not match:
        raise ValueError(f"--wait takes a time such as 90s, 5m, 1h or a number of seconds, not {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Round:
    """One run of the list: its number (from 1), the seconds since the first began, what triage found.

    ``last``: no check failed or erred, or the time is up.
    """

    number: int
    seconds: float
    report: Report
    last: bool


def rounds(
    run: Callable[[], Report],
    seconds: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Round]:
    """Run ``run`` again and again until a round has no failure or error, or ``seconds`` have passed.

    Rounds are :data:`PAUSE` seconds apart (less when less time is left); the last one starts at the
    latest when the time is up. ``seconds=0`` is one round.

    >>> from meshnb.diagnostics.diagnosis import Diagnosis
    >>> failing = Report({"trust": Finding("trust", "fail", "different roots")}, Diagnosis())
    >>> now = [0.0]
    >>> def wait(pause):
    ...     now[0] += pause
    >>> [(r.number, r.seconds, r.last) for r in rounds(lambda: failing, 12, clock=lambda: now[0], sleep=wait)]
    [(1, 0.0, False), (2, 5.0, False), (3, 10.0, False), (4, 12.0, True)]
    """
    start = clock()
    deadline = start + seconds
    for number in itertools.count(1):
        report = run()
        now = clock()
        last = report.exit_code == 0 or now >= deadline
        yield Round(number, now - start, report, last)
        if last:
            return
        sleep(min(PAUSE, deadline - now))
