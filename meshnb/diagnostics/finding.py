"""A Finding: what one check concluded, with the evidence it saw and what to do next.

>>> f = Finding("load-balancing", "pass", "both versions answer from every cluster")
>>> f.ok, Finding.from_json(f.to_json()).summary
(True, 'both versions answer from every cluster')
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.schemas import schema_name, upgrade, validate

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "STATUSES",
    "Finding",
    "commands_in",
    "listed",
    "reasons",
    "status_html",
    "step_html",
    "verdict",
    "worst",
]

#: Every status, from the least to the most urgent.
STATUSES = ("skipped", "pass", "warn", "error", "fail")
_COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "error": "#8250df", "skipped": "#57606a"}
_SYMBOLS = {"pass": "✔", "warn": "⚠", "fail": "✖", "error": "⊘", "skipped": "–"}
#: A command in a next step: between backticks.
_COMMAND = re.compile(r"`([^`]+)`")


def listed(names: Sequence[str], most: int = 3) -> str:
    """Names as a sentence lists them; past ``most``, the first ones and how many others.

    >>> listed(["c1"]), listed(["c1", "c2"]), listed(["c1", "c2", "c3"])
    ('c1', 'c1 and c2', 'c1, c2 and c3')
    >>> listed(["c1", "c2", "c3", "c4", "c5"])
    'c1, c2 and 3 other clusters'
    """
    if len(names) > most:
        return f"{', '.join(names[: most - 1])} and {len(names) - most + 1} other clusters"
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def commands_in(step: str) -> list[str]:
    """The commands of a next step (each between backticks), as they are pasted into a shell.

    >>> commands_in("Restart it: `kubectl --context=c1 -n istio-system rollout restart deploy/istiod`.")
    ['kubectl --context=c1 -n istio-system rollout restart deploy/istiod']
    """
    return _COMMAND.findall(step)


def step_html(step: str, *, copy: bool = False) -> str:
    """A next step as HTML: its text escaped, each command in ``<code class="meshnb-command">``.

    With ``copy``, each command is a ``<span class="meshnb-command">`` holding its ``<code>`` and a
    ``<button class="meshnb-copy" data-copy="...">`` (a page's script copies ``data-copy``).

    >>> step_html("Run `echo '<hi>'` once.")
    'Run <code class="meshnb-command">echo &#x27;&lt;hi&gt;&#x27;</code> once.'
    """
    parts = _COMMAND.split(step)  # text, command, text, command, ..., text
    for i in range(1, len(parts), 2):
        command = html.escape(parts[i])
        parts[i] = (
            f'<span class="meshnb-command"><code>{command}</code><button class="meshnb-copy" type="button" '
            f'data-copy="{command}">Copy</button></span>'
            if copy
            else f'<code class="meshnb-command">{command}</code>'
        )
    for i in range(0, len(parts), 2):
        parts[i] = html.escape(parts[i])
    return "".join(parts)


def status_html(status: str) -> str:
    """A status as a coloured badge that also says it in words (never colour alone).

    >>> status_html("fail").endswith("✖ FAIL</span>")
    True
    """
    colour = _COLOURS[status]
    return (
        f'<span class="meshnb-status meshnb-status-{status}" role="status" '
        f'style="background:{colour};color:white;padding:2px 8px;border-radius:4px;font-weight:bold">'
        f"{_SYMBOLS[status]} {status.upper()}</span>"
    )


def worst(statuses: list[str]) -> str:
    """The most urgent of ``statuses`` (fail > error > warn > pass > skipped); 'skipped' if none."""
    return max(statuses, key=STATUSES.index, default="skipped")


def verdict(table: pd.DataFrame, key: str = "cluster") -> tuple[str, str]:
    """The worst status of a per-cluster table, and the details of the rows that have it.

    >>> import pandas as pd
    >>> verdict(pd.DataFrame({"cluster": ["a", "b"], "status": ["pass", "fail"], "detail": ["ok", "bad"]}))
    ('fail', 'b: bad')
    """
    status = worst(table["status"].tolist())
    rows = table[table["status"] == status]
    return status, "; ".join(
        f"{name}: {detail}" for name, detail in zip(rows[key], rows["detail"], strict=True)
    )


def reasons(table: pd.DataFrame, key: str = "cluster") -> dict[str, list[str]]:
    """The clusters of each ``reason`` among the rows of a verdict table's worst status, in its order.

    >>> import pandas as pd
    >>> reasons(pd.DataFrame({"cluster": ["a", "b", "c"], "status": ["fail", "pass", "fail"],
    ...                       "reason": ["x", "ok", "x"]}))
    {'x': ['a', 'c']}
    """
    rows = table[table["status"] == worst(table["status"].tolist())]
    found: dict[str, list[str]] = {}
    for name, reason in zip(rows[key], rows["reason"], strict=True):
        found.setdefault(reason, []).append(name)
    return found


@dataclass
class Finding:
    """The result of one check. ``evidence`` holds named DataFrames (see :mod:`meshnb.schemas`).

    ``summary`` says everything the check concluded, cluster by cluster; ``headline`` says it in one
    sentence, for a status line (the summary when the check gives none). A next step's commands are
    between backticks (:func:`commands_in`).

    >>> Finding("trust", "pass", "c1: ok; c2: ok", headline="c1 and c2 trust each other").headline
    'c1 and c2 trust each other'
    """

    check: str
    status: str
    summary: str
    evidence: dict[str, pd.DataFrame] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    headline: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        self.headline = self.headline or self.summary

    @property
    def ok(self) -> bool:
        """True for pass and warn (the CLI's exit code 0)."""
        return self.status in ("pass", "warn")

    def cluster_statuses(self) -> dict[str, str]:
        """Each cluster's own status, from the check's per-cluster table (``sources`` or ``clusters``).

        >>> Finding("x", "pass", "").cluster_statuses()
        {}
        """
        for name, key in (("sources", "source_cluster"), ("clusters", "cluster")):
            table = self.evidence.get(name)
            if table is not None and len(table):
                return dict(zip(table[key], table["status"], strict=True))
        return {}

    @property
    def exit_code(self) -> int:
        """0 for pass/warn/skipped, 1 for fail, 2 for error."""
        return {"fail": 1, "error": 2}.get(self.status, 0)

    def to_dict(self, evidence: bool = True, samples: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; ``evidence=False`` lists the evidence tables' names instead of their rows.

        ``samples=False`` leaves out the tables of single requests (schema ``samples``) and counts their
        rows under ``omitted``:

        >>> import pandas as pd
        >>> f = Finding("load-balancing", "pass", "ok", evidence={"samples": pd.DataFrame({"seq": [0, 1]})})
        >>> d = f.to_dict(samples=False)
        >>> d["evidence"], d["omitted"]
        ({}, {'samples': 2})
        """
        raw = {} if samples else {n: len(df) for n, df in self.evidence.items() if self.is_samples(n)}
        tables = (
            {
                name: json.loads(df.to_json(orient="split", date_format="iso", date_unit="ns", index=False))
                for name, df in self.evidence.items()
                if name not in raw
            }
            if evidence
            else list(self.evidence)
        )
        return {
            "check": self.check,
            "status": self.status,
            "summary": self.summary,
            "headline": self.headline,
            "next_steps": list(self.next_steps),
            "details": self.details,
            "evidence": tables,
            **({"omitted": raw} if raw else {}),
        }

    def is_samples(self, table: str) -> bool:
        """Whether evidence ``table`` holds a row per request (schema ``samples``).

        >>> Finding("load-balancing", "pass", "").is_samples("samples")
        True
        >>> Finding("trust", "pass", "").is_samples("certs")
        False
        """
        return schema_name(self.check, table) == "samples"

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON text; ``kwargs`` go to :func:`json.dumps` (e.g. ``indent=2``)."""
        return json.dumps(self.to_dict(), default=str, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The finding a dict from :meth:`to_dict` describes; evidence tables are coerced to their schemas."""
        import pandas as pd

        evidence = {}
        for name, table in data.get("evidence", {}).items():
            df = pd.DataFrame(table["data"], columns=table["columns"])
            schema = schema_name(data["check"], name)
            evidence[name] = validate(schema, upgrade(schema, df)) if schema else df
        return cls(
            check=data["check"],
            status=data["status"],
            summary=data["summary"],
            evidence=evidence,
            next_steps=list(data.get("next_steps", [])),
            details=dict(data.get("details", {})),
            headline=str(data.get("headline") or ""),  # an older snapshot has none: the summary
        )

    @classmethod
    def from_json(cls, text: str) -> Finding:
        """The finding JSON text from :meth:`to_json` describes."""
        return cls.from_dict(json.loads(text))

    def status_html(self) -> str:
        """The status as a coloured badge that also says it in words (see :func:`status_html`)."""
        return status_html(self.status)

    def _repr_html_(self, max_rows: int = 20, copy: bool = False) -> str:
        """The finding as HTML: headline, summary, next steps (``copy``: with Copy buttons), evidence."""
        parts = [
            f"<div class='meshnb-finding'><p>{self.status_html()} <b>{html.escape(self.check)}</b>: "
            f"{html.escape(self.headline)}</p>"
        ]
        if self.summary != self.headline:
            parts.append(f"<p class='meshnb-summary'>{html.escape(self.summary)}</p>")
        if self.next_steps:
            items = "".join(f"<li>{step_html(step, copy=copy)}</li>" for step in self.next_steps)
            parts.append(f"<p><b>Next steps</b></p><ol>{items}</ol>")
        for name, df in self.evidence.items():
            more = f" (first {max_rows} of {len(df)} rows)" if len(df) > max_rows else f" ({len(df)} rows)"
            parts.append(f"<details><summary>{html.escape(name)}{more}</summary>")
            parts.append(df.head(max_rows).to_html(index=False, na_rep="", escape=True) + "</details>")
        parts.append("</div>")
        return "".join(parts)

    def __str__(self) -> str:
        lines = [f"[{self.status.upper()}] {self.check}: {self.headline}"]
        lines += [f"  {self.summary}"] if self.summary != self.headline else []
        lines += [f"  next: {step}" for step in self.next_steps]
        return "\n".join(lines)
