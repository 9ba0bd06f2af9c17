"""Any pasted output, read by the reader its format calls for: what ``meshnb read`` and the paste boxes use.

Each kind of input meshnb reads is one :class:`Kind` in :data:`KINDS`: a test of the text's
signature, the reader, and a title for people. :func:`read_any` takes the first kind whose signature
the text has (they are tried in order, the most specific first) and runs its reader, so a refusal is
that reader's :class:`~meshnb.errors.ParseError`, naming the line and what was expected.

>>> reading = read_any("Hello version: v2, instance: helloworld-v2-7d4b9\\n")
>>> reading.kind, len(reading.frame)
('curl', 1)
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshnb.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KINDS", "Kind", "Reading", "detect", "read_any"]

# the first 13 characters of "-----BEGIN " in base64, as kubectl's jsonpath prints a PEM data value
_PEM_BASE64 = "LS0tLS1CRUdJT"
_SECRET = re.compile(r'^[ \t]*(?:kind:[ \t]*Secret|"kind"[ \t]*:[ \t]*"Secret",?)[ \t]*\r?$', re.M)
# an Istio log line's start (after any kubectl or grep prefix): an RFC 3339 time and a level word
_ISTIO_LOG = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[0-9.]*Z?\s+(?:debug|info|warn|warning|error|fatal|none)\s", re.I
)
_LOOK_LINES = 50  # a signature is looked for in this many first lines


def _head(text: str) -> list[str]:
    """The first non-blank lines of ``text`` (at most ``_LOOK_LINES``), split from a prefix of it.

    Each kind's signature asks, so splitting all of a large input every time would cost seconds.

    >>> _head("a\\n\\n b\\r\\nc")
    ['a', ' b', 'c']
    """
    size = 1 << 16
    while True:
        lines = text[:size].splitlines()
        if size < len(text):
            lines.pop()  # the prefix may end inside its last line
        head = [line for line in lines if line.strip()][:_LOOK_LINES]
        if len(head) == _LOOK_LINES or size >= len(text):
            return head
        size *= 4


def _is_certs(text: str) -> bool:
    stripped = text.lstrip()
    return "-----BEGIN " in text or bool(_SECRET.search(text)) or stripped.startswith(_PEM_BASE64)


def _is_istiod_log(text: str) -> bool:
    for line in _head(text):
        if _ISTIO_LOG.search(line):
            return True
        start = line.find("{")
        if start >= 0 and '"msg"' in line and '"level"' in line:
            try:
                doc = json.loads(line[start:])
            except ValueError:
                continue
            if isinstance(doc, dict) and "msg" in doc:
                return True
    return False


# how a line of the guide's curl loop starts: helloworld's answer, Envoy's error replies, curl's errors
_CURL_STARTS = (
    "Hello version: ",
    "upstream connect error or disconnect/reset before headers",
    "no healthy upstream",
    "upstream request timeout",
    "upstream_reset_before_response_started",
    "curl: (",
)


def _is_curl(text: str) -> bool:
    from meshnb.readers.curl import CURL_MARKER

    return CURL_MARKER in text or any(line.lstrip().startswith(_CURL_STARTS) for line in _head(text))


@functools.lru_cache(maxsize=1)  # detection and reading share it: a large JSON is parsed once
def _endpoints_input(text: str) -> tuple[str, Any] | None:
    """``read_endpoints``' format and document of ``text`` (parsed JSON, or the text), or None."""
    from meshnb.readers.endpoints import detect_document

    try:
        return detect_document(text)
    except ParseError:
        return None


def _is_endpoints(text: str) -> bool:
    return _endpoints_input(text) is not None


def _read_endpoints(text: str) -> pd.DataFrame:
    from meshnb.readers.endpoints import read_endpoints

    found = _endpoints_input(text)
    return read_endpoints(text if found is None else found[1])


def _is_ztunnel(text: str) -> bool:
    from meshnb.readers.ztunnel import detect_ztunnel

    return detect_ztunnel(text) is not None


def _first_line(text: str) -> str:
    head = _head(text)
    return head[0] if head else ""


def _is_table(name: str) -> Callable[[str], bool]:
    def looks_like(text: str) -> bool:
        from meshnb.readers.istioctl_views import table_kind

        return table_kind(_first_line(text)) == name

    return looks_like


def _is_ambientz(doc: dict[str, Any]) -> bool:
    """istiod's ``/debug/ambientz``: its three lists (or nulls), and none of a ztunnel dump's keys.

    ztunnel's own dump names a workload's IPs ``workloadIps`` and a service's ``vips``; istiod's WDS
    messages, ``addresses``.
    """
    if set(doc) != {"workloads", "services", "policies"}:
        return False
    items = [i for key in ("workloads", "services") if isinstance(doc[key], list) for i in doc[key]]
    return all(isinstance(i, dict) and "workloadIps" not in i and "vips" not in i for i in items)


def _view_of(doc: Any) -> str | None:
    """Which istiod view (or ``istioctl proxy-status -o json``) a JSON document is, from its keys."""
    if isinstance(doc, dict):
        resources = doc.get("resources")
        if isinstance(resources, list) and any(
            isinstance(r, dict) and str(r.get("@type", "")).endswith("ClientConfig") for r in resources
        ):
            return "proxy-status"
        if _is_ambientz(doc):
            return "ambientz"
        first = next(iter(doc.values()), None)
        inner = next(iter(first.values()), None) if isinstance(first, dict) and first else None
        return "endpoint-shards" if isinstance(inner, dict) and "Shards" in inner else None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        keys = doc[0].keys()
        if {"Network", "Addr"} <= keys:
            return "networkz"
        if "syncStatus" in keys or "secretName" in keys:
            return "clusterz"
        if "proxy" in keys and ({"cluster_sent", "resources", "proxy_type", "istio_version"} & keys):
            return "syncz"
    return None


@functools.lru_cache(maxsize=1)  # each JSON kind asks in turn: the text is parsed once
def _json_view(text: str) -> str | None:
    from meshnb.readers.istiod_debug import per_istiod

    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        for _istiod, doc, _path in per_istiod(text, None):
            return _view_of(doc)
    except ParseError:
        return None
    return None


def _is_json_view(name: str) -> Callable[[str], bool]:
    return lambda text: _json_view(text) == name


def _reader(module: str, function: str) -> Callable[[str], pd.DataFrame]:
    """``module.function``, imported when first called (readers load pandas)."""

    def read(text: str) -> pd.DataFrame:
        import importlib

        result: pd.DataFrame = getattr(importlib.import_module(module), function)(text)
        return result

    return read


@dataclass(frozen=True)
class Kind:
    """A kind of input: ``looks_like(text)`` tests its signature, ``read(text)`` reads it."""

    name: str
    title: str
    schema: str
    looks_like: Callable[[str], bool]
    read: Callable[[str], pd.DataFrame]


#: Every kind :func:`read_any` knows, in the order their signatures are tried (istiod's log before the
#: certificates: istiod prints the certificates it generates, PEM blocks and all; ztunnel's config dump
#: before them too, it holds its certificates' PEM, and before the endpoints, which would take a
#: ztunnel table for none of theirs and its dump for an Envoy one).
KINDS: tuple[Kind, ...] = (
    Kind(
        "istiod-log",
        "istiod's log (remote-cluster events)",
        "istiod_events",
        _is_istiod_log,
        _reader("meshnb.readers.istiod_log", "read_istiod_log"),
    ),
    Kind(
        "ambientz",
        "istiod's /debug/ambientz (the workloads it sends ztunnels)",
        "endpoints",
        _is_json_view("ambientz"),
        _reader("meshnb.readers.istiod_debug", "read_ambientz"),
    ),
    Kind(
        "ztunnel",
        "ztunnel's endpoints (its config dump, istioctl ztunnel-config workload, service or all)",
        "endpoints",
        _is_ztunnel,
        _reader("meshnb.readers.ztunnel", "read_ztunnel"),
    ),
    Kind(
        "certs",
        "certificates (PEM, kubectl's base64, or a whole Secret)",
        "certs",
        _is_certs,
        _reader("meshnb.readers.certs", "read_certs"),
    ),
    Kind(
        "curl",
        "curl responses (the guide's loop)",
        "responses",
        _is_curl,
        _reader("meshnb.readers.curl", "read_curl"),
    ),
    Kind(
        "remote-clusters",
        "istioctl remote-clusters",
        "remote_clusters",
        _is_table("remote-clusters"),
        _reader("meshnb.readers.istioctl_views", "read_remote_clusters"),
    ),
    Kind(
        "proxy-status",
        "istioctl proxy-status (a table or -o json)",
        "proxy_status",
        lambda text: _is_table("proxy-status")(text) or _json_view(text) == "proxy-status",
        _reader("meshnb.readers.istioctl_views", "read_proxy_status"),
    ),
    Kind(
        "clusterz",
        "istiod's /debug/clusterz",
        "clusterz",
        _is_json_view("clusterz"),
        _reader("meshnb.readers.istiod_debug", "read_clusterz"),
    ),
    Kind(
        "networkz",
        "istiod's /debug/networkz",
        "networkz",
        _is_json_view("networkz"),
        _reader("meshnb.readers.istiod_debug", "read_networkz"),
    ),
    Kind(
        "endpoint-shards",
        "istiod's /debug/endpointShardz",
        "endpoint_shards",
        _is_json_view("endpoint-shards"),
        _reader("meshnb.readers.istiod_debug", "read_endpoint_shards"),
    ),
    Kind(
        "syncz",
        "istiod's /debug/syncz",
        "syncz",
        _is_json_view("syncz"),
        _reader("meshnb.readers.istiod_debug", "read_syncz"),
    ),
    Kind(
        "endpoints",
        "endpoints (Envoy /clusters, istioctl proxy-config endpoint, a config dump)",
        "endpoints",
        _is_endpoints,
        _read_endpoints,
    ),
)


@dataclass(frozen=True)
class Reading:
    """What meshnb made of an input: its kind, the rows, and what the reader noted (``frame.attrs``)."""

    kind: str
    title: str
    frame: pd.DataFrame
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The reading as JSON-ready data: kind, title, notes and one object per row (ISO times).

        >>> read_any("Hello version: v1, instance: h-1").to_dict()["rows"][0]["version"]
        'v1'
        """
        return {
            "kind": self.kind,
            "title": self.title,
            "notes": self.notes,
            "rows": json.loads(self.frame.to_json(orient="records", date_format="iso")),
        }


def _text(text: str | bytes) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    return text


def detect(text: str | bytes) -> Kind:
    """The kind of ``text``: the first of :data:`KINDS` whose signature it has.

    >>> detect("ENDPOINT  STATUS  OUTLIER CHECK  CLUSTER").name
    'endpoints'
    >>> detect("hello")
    Traceback (most recent call last):
    ...
    meshnb.errors.ParseError: not a kind of output meshnb reads ...
    """
    text = _text(text)
    if not text.strip():
        raise ParseError("nothing to read: the text is empty")
    for kind in KINDS:
        if kind.looks_like(text):
            return kind
    first = _head(text)[0]
    lineno = next(n for n, line in enumerate(text.splitlines(), 1) if line.strip())
    expected = "; ".join(kind.title for kind in KINDS)
    raise ParseError(f"not a kind of output meshnb reads (it reads {expected})", first, lineno)


def read_any(text: str | bytes, kind: str | None = None) -> Reading:
    """``text`` read as ``kind`` (a name in :data:`KINDS`), or as the kind :func:`detect` finds.

    >>> read_any("ENDPOINT  STATUS  OUTLIER CHECK  CLUSTER\\n").title
    'endpoints (Envoy /clusters, istioctl proxy-config endpoint, a config dump)'
    >>> read_any("x", kind="pem")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown kind 'pem': istiod-log, ambientz, ztunnel, certs, curl, remote-clusters, ...
    """
    text = _text(text)
    if kind is None:
        chosen = detect(text)
    else:
        by_name = {k.name: k for k in KINDS}
        if kind not in by_name:
            raise ValueError(f"unknown kind {kind!r}: {', '.join(by_name)}")
        chosen = by_name[kind]
    df = chosen.read(text)
    return Reading(chosen.name, chosen.title, df, dict(df.attrs))
