"""A Finding: what one check concluded, with the evidence it saw and what to do next.

>>> f = Finding("load-balancing", "pass", "both versions answer from every cluster")
>>> f.ok, Finding.from_json(f.to_json()).summary
(True, 'both versions answer from every cluster')
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.schemas import schema_name, upgrade, validate

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["STATUSES", "Finding", "verdict", "worst"]

#: Every status, from the least to the most urgent.
STATUSES = ("skipped", "pass", "warn", "error", "fail")
_COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "error": "#8250df", "skipped": "#57606a"}
_SYMBOLS = {"pass": "✔", "warn": "⚠", "fail": "✖", "error": "⛔", "skipped": "–"}


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


@dataclass
class Finding:
    """The result of one check. ``evidence`` holds named DataFrames (see :mod:`meshnb.schemas`)."""

    check: str
    status: str
    summary: str
    evidence: dict[str, pd.DataFrame] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

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
        )

    @classmethod
    def from_json(cls, text: str) -> Finding:
        """The finding JSON text from :meth:`to_json` describes."""
        return cls.from_dict(json.loads(text))

    def status_html(self) -> str:
        """The status as a coloured badge that also says it in words (never colour alone)."""
        colour = _COLOURS[self.status]
        return (
            f'<span class="meshnb-status meshnb-status-{self.status}" role="status" '
            f'style="background:{colour};color:white;padding:2px 8px;border-radius:4px;font-weight:bold">'
            f"{_SYMBOLS[self.status]} {self.status.upper()}</span>"
        )

    def _repr_html_(self, max_rows: int = 20) -> str:
        parts = [
            f"<div class='meshnb-finding'><p>{self.status_html()} <b>{html.escape(self.check)}</b>: "
            f"{html.escape(self.summary)}</p>"
        ]
        if self.next_steps:
            items = "".join(f"<li>{html.escape(step)}</li>" for step in self.next_steps)
            parts.append(f"<p><b>Next steps</b></p><ol>{items}</ol>")
        for name, df in self.evidence.items():
            more = f" (first {max_rows} of {len(df)} rows)" if len(df) > max_rows else f" ({len(df)} rows)"
            parts.append(f"<details><summary>{html.escape(name)}{more}</summary>")
            parts.append(df.head(max_rows).to_html(index=False, na_rep="", escape=True) + "</details>")
        parts.append("</div>")
        return "".join(parts)

    def __str__(self) -> str:
        lines = [f"[{self.status.upper()}] {self.check}: {self.summary}"]
        lines += [f"  next: {step}" for step in self.next_steps]
        return "\n".join(lines)
