"""What changed between two triage Reports (two snapshots): the answer to "what is different since?".

One row per change: ``kind`` (status, cause, endpoint, split, certificate, remote secret, istiod
error), the ``cluster`` it concerns, the ``item`` and its ``before`` and ``after`` values (None where
it did not exist).

>>> import meshnb
>>> before = meshnb.triage(meshnb.simulate("healthy"))
>>> after = meshnb.triage(meshnb.simulate("missing-remote-secret"))
>>> sorted(set(diff(before, after)["kind"]))
['cause', 'endpoint', 'remote secret', 'split', 'status']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from meshnb.diagnostics.report import Report

__all__ = ["COLUMNS", "diff"]

COLUMNS = ["kind", "cluster", "item", "before", "after"]


def _table(report: Report, check: str, table: str) -> pd.DataFrame | None:
    finding = report.findings.get(check)
    return None if finding is None else finding.evidence.get(table)


def _keyed(
    frame: pd.DataFrame | None, key: Callable[[dict], tuple[str, str]], value: Callable[[dict], Any]
) -> dict[tuple[str, str], Any]:
    """{(cluster, item): value} for the rows of ``frame``."""
    if frame is None or not len(frame):
        return {}
    return {key(row): value(row) for row in frame.to_dict("records")}


def _compare(kind: str, old: dict, new: dict) -> Iterable[dict[str, Any]]:
    for cluster, item in sorted(old.keys() | new.keys(), key=str):
        before, after = old.get((cluster, item)), new.get((cluster, item))
        if before != after:
            yield {"kind": kind, "cluster": cluster, "item": item, "before": before, "after": after}


def _endpoint(row: dict) -> tuple[str, str]:
    return row[
        "source_cluster"
    ], f"{row['address']}:{row['endpoint_port']} ({row['dest_cluster'] or 'unknown'})"


def diff(old: Report, new: Report, *, split_shift: float = 0.05) -> pd.DataFrame:
    """The changes from ``old`` to ``new``.

    A split share counts as changed when its 95% intervals before and after do not overlap and it moved
    by ``split_shift`` or more (sampling noise is not a change).
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    rows += _compare(
        "status",
        {("", name): f.status for name, f in old.findings.items()},
        {("", name): f.status for name, f in new.findings.items()},
    )
    rows += _compare(
        "cause",
        {(", ".join(c.clusters), c.key): c.title for c in old.diagnosis.causes},
        {(", ".join(c.clusters), c.key): c.title for c in new.diagnosis.causes},
    )
    rows += _compare(
        "endpoint",
        _keyed(_table(old, "endpoints", "endpoints"), _endpoint, lambda r: r["health"]),
        _keyed(_table(new, "endpoints", "endpoints"), _endpoint, lambda r: r["health"]),
    )

    def share(row: dict) -> tuple[float, float, float]:
        return round(float(row["share"]), 3), float(row["ci_low"]), float(row["ci_high"])

    def version(row: dict) -> tuple[str, str]:
        return row["source_cluster"], f"{row['version']} ({row['dest_cluster']})"

    for row in _compare(
        "split",
        _keyed(_table(old, "load-balancing", "split"), version, share),
        _keyed(_table(new, "load-balancing", "split"), version, share),
    ):
        (before, lo_b, hi_b), (after, lo_a, hi_a) = row["before"] or (0.0, 0, 0), row["after"] or (0.0, 0, 0)
        disjoint = row["before"] is None or row["after"] is None or hi_a < lo_b or hi_b < lo_a
        if disjoint and abs(after - before) >= split_shift:  # beyond both 95% intervals: not noise
            rows.append({**row, "before": before, "after": after})

    def cert(row: dict) -> tuple[str, str]:
        return row["cluster"], f"{row['key']} {row['subject']}"

    rows += _compare(
        "certificate",
        _keyed(_table(old, "trust", "certs"), cert, lambda r: r["sha256"]),
        _keyed(_table(new, "trust", "certs"), cert, lambda r: r["sha256"]),
    )

    def secret(row: dict) -> tuple[str, str]:
        return row["cluster"], f"{row['secret']} [{row['data_key']}]"

    def described(row: dict) -> str:
        return f"server {row['server']}, context {row['context']}, auth {row['auth']}"

    rows += _compare(
        "remote secret",
        _keyed(_table(old, "remote-secrets", "remote_secrets"), secret, described),
        _keyed(_table(new, "remote-secrets", "remote_secrets"), secret, described),
    )
    old_errors = _errors(old)
    rows += [
        {"kind": "istiod error", "cluster": cluster, "item": line, "before": None, "after": error}
        for (cluster, line), error in _errors(new).items()
        if (cluster, line) not in old_errors
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _errors(report: Report) -> dict[tuple[str, str], str]:
    """istiod's error lines, without their timestamps (the same error logged again is not new)."""
    events = _table(report, "remote-secrets", "istiod_events")
    if events is None or not len(events):
        return {}
    errors = events[events["level"] == "error"]
    return {
        (row["cluster"], row["line"].split("\t", 1)[-1]): row["error"] or row["event"]
        for row in errors.to_dict("records")
    }
