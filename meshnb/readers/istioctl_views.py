"""istioctl's multicluster views: ``istioctl remote-clusters`` and ``istioctl proxy-status``.

Both print Go ``tabwriter`` tables (padding 5, cells left-aligned), so a column starts where its
header starts and a cell may be empty or hold spaces (``NOT SENT``, ``5 (CDS,LDS,EDS,RDS,ECDS)``).
Cells are read by the header's positions; a cell that does not start at its column is refused.

- :func:`read_remote_clusters` (``remote_clusters``): ``NAME SECRET STATUS ISTIOD``, and from 1.31
  ``NAME SECRET STATUS ISTIOD REVISION`` (istioctl/pkg/proxyconfig/clusters.go). The config cluster
  has an empty SECRET, and an istiod without a revision label an empty REVISION: both NA.
- :func:`read_proxy_status` (``proxy_status``): the table of every layout, found by its header:
  ``NAME [CLUSTER] CDS LDS EDS RDS [ECDS] ISTIOD|PILOT VERSION`` (to 1.27), ``NAME CLUSTER ISTIOD
  VERSION SUBSCRIBED TYPES`` (1.27 on), and ``--verbose``'s ``NAME CLUSTER <type>... ISTIOD VERSION``
  (1.27 on, a column per xDS type); and ``-o json`` (1.30 on): one DiscoveryResponse per istiod, back
  to back. Statuses are istioctl's words, SYNCED, STALE, NOT SENT, ERROR, IGNORED (``NOT_SENT`` of
  1.20-1.21 and JSON's ``NOT_SENT`` are NOT SENT; JSON's UNKNOWN, or no status, is IGNORED as istioctl
  prints it); a suffix in parentheses (``(Never Acknowledged)``, an age such as ``(5m2s)``) is dropped.
  Types other than the five get ``other`` (``WDS=SYNCED;WADS=IGNORED``). ``subscribed`` lists the types
  whose status is not IGNORED, in istioctl's order, where the input says (the SUBSCRIBED TYPES layout
  and JSON), with their number in ``subscribed_count``; ``subscribed`` is NA when there are none.
  ``version`` is kept as printed (``1.1*`` is a proxy version where the Istio version was unknown).

Anything else raises :class:`meshnb.errors.ParseError` with the line (or JSON path) and what was
expected.

>>> text = '''NAME          SECRET               STATUS     ISTIOD                       REVISION
... cluster-1     cluster-1-secret     SYNCED     istiod-6d8f97c8d9-abc123     '''
>>> read_remote_clusters(text)[["cluster", "secret", "status", "istiod", "revision"]].values.tolist()
[['cluster-1', 'cluster-1-secret', 'SYNCED', 'istiod-6d8f97c8d9-abc123', <NA>]]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from meshnb.errors import ParseError
from meshnb.readers.istiod_debug import SHORT_TYPES, as_str, short_type
from meshnb.readers.json_values import as_dict, as_list, json_documents, json_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_proxy_status", "read_remote_clusters", "table_kind"]

_CORE = ("CDS", "LDS", "EDS", "RDS", "ECDS")
#: istioctl's order of the types it knows first (setupStatusPrint's coreOrder).
_CORE_ORDER = {"CDS": 0, "LDS": 1, "EDS": 2, "RDS": 3}
_STATUSES = frozenset(("SYNCED", "STALE", "NOT SENT", "ERROR", "IGNORED"))
_STATUS_ALIASES = {"NOT_SENT": "NOT SENT", "UNKNOWN": "IGNORED"}
_CORE_URLS = {short: url for url, short in reversed(SHORT_TYPES.items()) if short in _CORE}
_CLIENT_CONFIG = "type.googleapis.com/envoy.service.status.v3.ClientConfig"
_LEGACY_CONFIGS = {
    "listenerConfig": "LDS",
    "listener_config": "LDS",
    "clusterConfig": "CDS",
    "cluster_config": "CDS",
    "routeConfig": "RDS",
    "route_config": "RDS",
    "endpointConfig": "EDS",
    "endpoint_config": "EDS",
}

# --------------------------------------------------------------------------------------------------
# tabwriter tables


def _header_cells(line: str) -> list[tuple[str, int]]:
    """``(name, start)`` of each header cell: runs of text split at two spaces or more."""
    cells: list[tuple[str, int]] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and not (line[i] == " " and (i + 1 >= n or line[i + 1] == " ")):
            i += 1
        cells.append((line[start:i], start))
    return cells


def _table_rows(
    text: str | bytes, is_header: Callable[[list[str]], bool], expected: str
) -> Iterator[tuple[list[str], dict[str, str], str, int]]:
    """``(header names, {name: cell}, line, lineno)`` per row of each table in ``text``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"not UTF-8 text: {exc}", None, None) from exc
    columns: list[tuple[str, int]] | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if "\t" in line:
            raise ParseError(
                "expected columns aligned with spaces (as istioctl prints), got a tab", raw, lineno
            )
        if not line.strip():
            continue
        if _is_header_line(line, is_header):
            columns = _header_cells(line)
            continue
        if columns is None:
            raise ParseError(f"expected the header {expected}", raw, lineno)
        cells: dict[str, str] = {}
        for index, (name, start) in enumerate(columns):
            end = columns[index + 1][1] if index + 1 < len(columns) else len(line)
            if start > 0 and start <= len(line) and line[start - 1] != " ":
                raise ParseError(f"expected column {name} to start at column {start + 1}", raw, lineno)
            cell = line[start:end]
            if cell.strip() and cell[0] == " ":
                raise ParseError(f"expected column {name} to start at column {start + 1}", raw, lineno)
            cells[name] = cell.strip()
        yield [name for name, _ in columns], cells, raw, lineno


def _is_header_line(line: str, is_header: Callable[[list[str]], bool]) -> bool:
    if not line.lstrip(" ").startswith("NAME "):
        return False
    return is_header([name for name, _ in _header_cells(line)])


def table_kind(line: str) -> str | None:
    """Which of these tables ``line`` is the header of: ``remote-clusters``, ``proxy-status`` or None.

    >>> table_kind("NAME     CLUSTER     ISTIOD     VERSION     SUBSCRIBED TYPES")
    'proxy-status'
    >>> table_kind("ENDPOINT   STATUS   CLUSTER") is None
    True
    """
    if _is_header_line(line, _is_remote_clusters_header):
        return "remote-clusters"
    if _is_header_line(line, _is_proxy_status_header):
        return "proxy-status"
    return None


# --------------------------------------------------------------------------------------------------
# istioctl remote-clusters


def _is_remote_clusters_header(names: list[str]) -> bool:
    return names in (
        ["NAME", "SECRET", "STATUS", "ISTIOD"],
        ["NAME", "SECRET", "STATUS", "ISTIOD", "REVISION"],
    )


def read_remote_clusters(text: str | bytes) -> pd.DataFrame:
    """``istioctl remote-clusters`` as a ``remote_clusters`` DataFrame: a row per cluster and istiod.

    >>> text = '''NAME         SECRET                   STATUS     ISTIOD
    ... cluster1                              synced     istiod-7d4b9-x2x7q
    ... cluster2     istio-system/remote2     synced     istiod-7d4b9-x2x7q'''
    >>> read_remote_clusters(text)[["cluster", "secret", "revision"]].values.tolist()
    [['cluster1', <NA>, <NA>], ['cluster2', 'istio-system/remote2', <NA>]]
    """
    from meshnb.schemas import frame

    rows = []
    expected = "NAME SECRET STATUS ISTIOD [REVISION]"
    for _names, cells, line, lineno in _table_rows(text, _is_remote_clusters_header, expected):
        if not cells["NAME"]:
            raise ParseError("expected a cluster NAME", line, lineno)
        rows.append(
            {
                "istiod": cells["ISTIOD"] or None,
                "cluster": cells["NAME"],
                "secret": cells["SECRET"] or None,
                "status": cells["STATUS"] or None,
                "revision": cells.get("REVISION") or None,
            }
        )
    return frame("remote_clusters", rows)


# --------------------------------------------------------------------------------------------------
# istioctl proxy-status


def _is_proxy_status_header(names: list[str]) -> bool:
    if len(names) < 4 or names[0] != "NAME" or names[-1] not in ("VERSION", "SUBSCRIBED TYPES"):
        return False
    if names[-1] == "SUBSCRIBED TYPES":
        return names in (["NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED TYPES"],)
    if names[-2] not in ("ISTIOD", "PILOT"):
        return False
    types = names[2:-2] if names[1] == "CLUSTER" else names[1:-2]
    return bool(types) and len(set(types)) == len(types) and all(" " not in t for t in types)


def _status(text: str | None, what: str, line: str, lineno: int | None) -> str | None:
    """istioctl's status word of a cell or JSON value (NA when empty)."""
    if not text:
        return None
    word = text.split(" (", 1)[0] if text.endswith(")") else text
    word = _STATUS_ALIASES.get(word, word)
    if word not in _STATUSES:
        where = f" at {line}" if lineno is None else ""
        raise ParseError(
            f"expected {what} to be SYNCED, STALE, NOT SENT, ERROR or IGNORED, got {text[:60]!r}{where}",
            line,
            lineno,
        )
    return word


def _row(istiod: str | None, proxy: str, cluster: str | None, version: str | None) -> dict[str, Any]:
    return {
        "istiod": istiod,
        "proxy": proxy,
        "cluster": cluster,
        "version": version,
        **{t.lower(): None for t in _CORE},
        "other": None,
        "subscribed_count": None,
        "subscribed": None,
    }


def _subscribed(cell: str, line: str, lineno: int) -> tuple[int, str | None]:
    """``(count, "CDS,LDS")`` of a SUBSCRIBED TYPES cell: ``0`` or ``N (T1,T2,...)``."""
    count_text, _, rest = cell.partition(" ")
    if not (count_text.isascii() and count_text.isdigit()) or len(count_text) > 6:
        raise ParseError(
            "expected SUBSCRIBED TYPES to be a count, then the types in parentheses", line, lineno
        )
    count = int(count_text)
    if count == 0 and not rest:
        return 0, None
    if not (rest.startswith("(") and rest.endswith(")")):
        raise ParseError("expected SUBSCRIBED TYPES to be 'N (TYPE,...)'", line, lineno)
    types = rest[1:-1].split(",")
    if len(types) != count or not all(t and " " not in t for t in types):
        raise ParseError(f"expected {count} types in SUBSCRIBED TYPES", line, lineno)
    return count, ",".join(types)


def _read_proxy_status_table(text: str | bytes) -> list[dict[str, Any]]:
    rows = []
    expected = "NAME CLUSTER CDS LDS EDS RDS ECDS ISTIOD VERSION (or ... SUBSCRIBED TYPES)"
    for names, cells, line, lineno in _table_rows(text, _is_proxy_status_header, expected):
        if not cells["NAME"]:
            raise ParseError("expected a proxy NAME", line, lineno)
        istiod = cells.get("ISTIOD", cells.get("PILOT")) or None
        row = _row(istiod, cells["NAME"], cells.get("CLUSTER") or None, cells["VERSION"] or None)
        if "SUBSCRIBED TYPES" in cells:
            row["subscribed_count"], row["subscribed"] = _subscribed(cells["SUBSCRIBED TYPES"], line, lineno)
        else:
            other = []
            for name in names:
                if name in ("NAME", "CLUSTER", "ISTIOD", "PILOT", "VERSION"):
                    continue
                status = _status(cells[name], name, line, lineno)
                if name in _CORE:
                    row[name.lower()] = status
                elif status is not None:
                    other.append(f"{name}={status}")
            row["other"] = ";".join(other) or None
        rows.append(row)
    return rows


def _istiod_id(response: dict[str, Any], path: str) -> str | None:
    """The istiod of a DiscoveryResponse: ``controlPlane.identifier`` is JSON with its ``ID``."""
    plane = as_dict(response.get("controlPlane", response.get("control_plane")), path + ".controlPlane")
    identifier = as_str(plane.get("identifier"), path + ".controlPlane.identifier")
    if identifier is None:
        return None
    try:
        info = json.loads(identifier)
    except (ValueError, RecursionError):
        return identifier
    return (
        as_str(info.get("ID"), path + ".controlPlane.identifier.ID") if isinstance(info, dict) else identifier
    )


def _type_order(url: str) -> tuple[int, str]:
    return (_CORE_ORDER.get(short_type(url), len(_CORE_ORDER)), url)


def _read_proxy_status_json(text: str | bytes) -> list[dict[str, Any]]:
    rows = []
    for document, path in json_documents(text):
        response = as_dict(document, path)
        istiod = _istiod_id(response, path)
        for i, resource in enumerate(as_list(response.get("resources"), path + ".resources")):
            where = f"{path}.resources[{i}]"
            config = as_dict(resource, where)
            kind = as_str(config.get("@type"), where + ".@type")
            if kind not in (None, _CLIENT_CONFIG):
                raise json_error(f"expected a {_CLIENT_CONFIG}, got {kind:.80}", where + ".@type")
            node = as_dict(config.get("node"), where + ".node")
            metadata = as_dict(node.get("metadata"), where + ".node.metadata")
            proxy = as_str(node.get("id"), where + ".node.id")
            if proxy is None:
                raise json_error("expected the proxy's node id", where + ".node.id")
            row = _row(
                istiod,
                proxy,
                as_str(metadata.get("CLUSTER_ID"), where + ".node.metadata.CLUSTER_ID"),
                as_str(metadata.get("ISTIO_VERSION"), where + ".node.metadata.ISTIO_VERSION"),
            )
            statuses = _json_statuses(config, where)
            other = []
            subscribed = []
            for url in sorted(statuses, key=_type_order):
                short, status = short_type(url), statuses[url]
                if short in _CORE:
                    row[short.lower()] = status
                else:
                    other.append(f"{short}={status}")
                if status != "IGNORED":
                    subscribed.append(short)
            row["other"] = ";".join(other) or None
            row["subscribed_count"] = len(subscribed)
            row["subscribed"] = ",".join(subscribed) or None
            rows.append(row)
    return rows


def _json_statuses(config: dict[str, Any], where: str) -> dict[str, str]:
    """Type URL to status word of a ClientConfig (genericXdsConfigs, else the legacy xdsConfig)."""
    statuses: dict[str, str] = {}
    generic = config.get("genericXdsConfigs", config.get("generic_xds_configs"))
    if generic is not None:
        for j, raw in enumerate(as_list(generic, where + ".genericXdsConfigs")):
            item_path = f"{where}.genericXdsConfigs[{j}]"
            item = as_dict(raw, item_path)
            url = as_str(item.get("typeUrl", item.get("type_url")), item_path + ".typeUrl")
            if url is None:
                raise json_error("expected a typeUrl", item_path + ".typeUrl")
            value = as_str(item.get("configStatus", item.get("config_status")), item_path + ".configStatus")
            statuses[url] = _status(value, "configStatus", item_path, None) or "IGNORED"
        return statuses
    legacy = config.get("xdsConfig", config.get("xds_config"))
    for j, raw in enumerate(as_list(legacy, where + ".xdsConfig")):
        item_path = f"{where}.xdsConfig[{j}]"
        item = as_dict(raw, item_path)
        shorts = [short for key, short in _LEGACY_CONFIGS.items() if key in item]
        if shorts:
            value = as_str(item.get("status"), item_path + ".status")
            url = _CORE_URLS[shorts[0]]
            statuses[url] = _status(value, "status", item_path, None) or "IGNORED"
    return statuses


def read_proxy_status(text: str | bytes) -> pd.DataFrame:
    """``istioctl proxy-status`` (any table layout, or ``-o json``) as a ``proxy_status`` DataFrame.

    >>> text = '''\\
    ... NAME     CLUSTER     CDS          LDS        EDS        RDS        ECDS         ISTIOD       VERSION
    ... a.ns     c1          NOT SENT     SYNCED     SYNCED     SYNCED     NOT SENT     istiod-1     1.22.0
    ... b.ns     c2          STALE        SYNCED     SYNCED     SYNCED     NOT SENT     istiod-1     1.22.0'''
    >>> read_proxy_status(text)[["proxy", "cluster", "cds", "ecds", "version"]].values.tolist()
    [['a.ns', 'c1', 'NOT SENT', 'NOT SENT', '1.22.0'], ['b.ns', 'c2', 'STALE', 'NOT SENT', '1.22.0']]
    """
    from meshnb.schemas import frame

    head = text.lstrip()[:1]
    is_json = head in ("{", b"{")
    return frame("proxy_status", _read_proxy_status_json(text) if is_json else _read_proxy_status_table(text))
