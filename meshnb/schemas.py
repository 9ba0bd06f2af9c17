"""The long-form DataFrames meshnb produces, declared once (column names and dtypes).

Build frames with :func:`frame`, which validates at the boundary: missing columns are an error,
extra columns are an error, dtypes are coerced to the declared ones.

>>> df = frame("samples", [])
>>> list(df.columns)[:4]
['source_cluster', 'source_pod', 'seq', 'url']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SCHEMAS", "frame", "validate"]

# dtype names are pandas dtypes; "string" and nullable ints keep missing values honest.
SCHEMAS: dict[str, dict[str, str]] = {
    "samples": {
        "source_cluster": "string",
        "source_pod": "string",
        "seq": "int64",
        "url": "string",
        "http_status": "Int64",
        "version": "string",
        "instance": "string",
        "dest_cluster": "string",
        "error": "string",
        "error_kind": "string",
        "latency_ms": "float64",
        "ts": "datetime64[ns, UTC]",
    },
    # One row per (source cluster, version) among successful responses.
    "split": {
        "source_cluster": "string",
        "version": "string",
        "dest_cluster": "string",
        "count": "int64",
        "total": "int64",
        "share": "float64",
        "ci_low": "float64",
        "ci_high": "float64",
        "expected_share": "float64",
    },
    # One row per source cluster: what it sent, what came back, the verdict for that cluster.
    "sources": {
        "source_cluster": "string",
        "source_pod": "string",
        "requests": "int64",
        "ok": "int64",
        "errors": "int64",
        "versions": "string",
        "remote_share": "float64",
        "chi2": "float64",
        "dof": "Int64",
        "p_value": "float64",
        "status": "string",
        "detail": "string",
    },
}


def frame(name: str, records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame of schema ``name`` from records (dicts with exactly the schema's keys)."""
    import pandas as pd

    columns = SCHEMAS[name]
    rows = list(records)
    for index, row in enumerate(rows):
        if set(row) != set(columns):
            missing, extra = set(columns) - set(row), set(row) - set(columns)
            raise ValueError(f"{name} record {index}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    df = pd.DataFrame(rows, columns=list(columns))
    return validate(name, df)


def validate(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Check ``df`` has exactly the columns of schema ``name`` (in order) and coerce its dtypes."""
    import pandas as pd

    columns = SCHEMAS[name]
    if list(df.columns) != list(columns):
        raise ValueError(f"{name}: expected columns {list(columns)}, got {list(df.columns)}")
    out = {}
    for column, dtype in columns.items():
        series = df[column]
        if dtype.startswith("datetime64"):
            out[column] = pd.to_datetime(series, utc=True)
        else:
            out[column] = series.astype(dtype)
    return pd.DataFrame(out, index=df.index)
