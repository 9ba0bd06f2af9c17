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
    # One row per endpoint a proxy holds for a service (Envoy /clusters, istioctl proxy-config endpoint).
    "endpoints": {
        "source_cluster": "string",
        "source_pod": "string",
        "envoy_cluster": "string",
        "service": "string",
        "port": "Int64",
        "address": "string",
        "endpoint_port": "Int64",
        "health": "string",
        "outlier_check": "string",
        "weight": "Int64",
        "priority": "Int64",
        "region": "string",
        "zone": "string",
        "subzone": "string",
        "dest_cluster": "string",
        "network": "string",
        "via_gateway": "boolean",
    },
    # One row per certificate in a cacerts secret or pasted PEM (never a private key).
    "certs": {
        "cluster": "string",
        "secret": "string",
        "key": "string",
        "subject": "string",
        "issuer": "string",
        "serial": "string",
        "sha256": "string",
        "not_before": "datetime64[ns, UTC]",
        "not_after": "datetime64[ns, UTC]",
        "is_ca": "boolean",
    },
    # One row per remote secret (never a token).
    "remote_secrets": {
        "cluster": "string",
        "secret": "string",
        "data_key": "string",
        "annotation_cluster": "string",
        "server": "string",
        "context": "string",
        "auth": "string",
        "token_expiry": "datetime64[ns, UTC]",
        "problems": "string",
    },
    # One row per istiod log line about remote clusters.
    "istiod_events": {
        "cluster": "string",
        "pod": "string",
        "ts": "datetime64[ns, UTC]",
        "level": "string",
        "event": "string",
        "secret": "string",
        "remote_cluster": "string",
        "error": "string",
        "line": "string",
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
            out[column] = pd.to_datetime(series, utc=True).astype(dtype)
        else:
            out[column] = series.astype(dtype)
    return pd.DataFrame(out, index=df.index)
