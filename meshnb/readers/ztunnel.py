"""The endpoints a ztunnel holds (ambient mode): rows of the ``endpoints`` schema.

:func:`read_ztunnel` detects the format and reads any of:

- ztunnel's config dump (admin ``localhost:15000/config_dump``, ``istioctl ztunnel-config all -o
  json``), in each form ztunnel has printed: ``workloads``, ``services`` and ``policies`` as lists
  (ztunnel 1.23 on); as maps, workloads keyed ``network/ip`` and services by VIP (``/10.96.65.117``,
  1.22); or the stores' own maps ``by_uid``, ``by_addr``, ``by_vip`` (before 1.22). A workload or
  service found under several keys (several IPs, several VIPs) is read once, by its ``uid``, or its
  namespace and hostname;
- ``istioctl ztunnel-config workload`` tables, every header istioctl has printed (``NAMESPACE POD NAME
  ADDRESS NODE WAYPOINT PROTOCOL`` from 1.24; ``POD NAME ... IP``, ``NAMESPACE NAME [NETWORK] IP``,
  ``NAME NAMESPACE IP`` of 1.18, with or without ``WAYPOINT``/``L7 SUPPORT`` and ``PROTOCOL``), read by the
  columns the header sets (a cell may be empty);
- ``istioctl ztunnel-config service`` tables (``NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT
  ENDPOINTS``, 1.23 on; the older ``NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT`` and ``NAMESPACE NAME
  IP WAYPOINT`` of 1.22, which count no endpoints, give no rows);
- a whole ``istioctl ztunnel-config all`` (``--with-headers`` or not): only its workload and service
  sections are read, ``df.attrs["sections_skipped"]`` names the others (``POLICY INFO``, ``SECRET
  INFO``, ``CONNECTIONS INFO``).

Rows of a config dump, one per (service, service port, endpoint): ``service`` is the service's
hostname and ``port`` its port (NA for a service without ports); ``address`` the workload's first IP
(none: NA; the others in ``df.attrs["additional_addresses"]``, ``{"row", "address", "additional"}``
each); ``endpoint_port`` the endpoint's target port for that service port, else the service's own
(0 there: NA), as ztunnel picks it; ``health`` HEALTHY or UNHEALTHY from the workload's ``status``
(absent: Healthy, ztunnel's default); ``weight`` its ``capacity`` (absent, before ztunnel 1.26: 1, its
default); ``region``, ``zone``, ``subzone`` its ``locality``; ``dest_cluster`` its ``clusterId``;
``network`` its ``network``; ``via_gateway`` whether it has a ``networkGateway``. A split-horizon
workload (istiod's one workload for all of a global service's endpoints on a remote network) has no IP
and a ``networkGateway``: its row has address NA, ``via_gateway`` True, the remote ``network`` and
``clusterId`` (the gateway's cluster) and its capacity (the number of remote endpoints) as weight.
An endpoint whose workload the dump lacks (ztunnel does not use it) keeps what the endpoint says: the
``address`` of dumps before ztunnel 1.24 and its network, the ``status`` of 1.24 on. ``envoy_cluster``
and ``outlier_check`` are NA (no Envoy), ``priority`` NA.

The tables say less. A workload table gives a row per workload with ``service`` NA and only
``address`` (a host name in ADDRESS is no IP: NA) and, in the ``NETWORK`` layout, ``network``. A
service table gives, per service, a row per endpoint it counts: ``service`` is
``<name>.<namespace>.svc.cluster.local`` (the table prints no hostname: Kubernetes' default domain is
assumed), the first ``healthy`` of ``healthy/all`` HEALTHY and the others UNHEALTHY (istioctl counts as
healthy only endpoints whose workload is known and Healthy; more than 100,000 is refused); all else is
NA. No table says a port, capacity, locality or cluster: those are NA.

``service`` keeps only the rows of that service (a hostname); ``source_cluster`` and ``source_pod`` fill
their columns, as in :func:`~meshnb.readers.endpoints.read_endpoints`. Anything that cannot be read
raises :class:`meshnb.errors.ParseError` naming the JSON path (``err.line``) or the line, and what was
expected; never another exception.

>>> dump = '''{"workloads": [{"uid": "c1//Pod/sample/hw-1", "workloadIps": ["10.0.0.7"],
...   "status": "Healthy", "clusterId": "cluster1", "capacity": 1},
...  {"uid": "network2/SplitHorizonWorkload/istio-system/eastwest/sample/hw.sample.svc.cluster.local",
...   "workloadIps": [], "network": "network2", "clusterId": "cluster2", "capacity": 3,
...   "networkGateway": {"destination": "network2/172.18.0.9", "hboneMtlsPort": 15008}}],
...  "services": [{"hostname": "hw.sample.svc.cluster.local", "ports": {"5000": 5000}, "endpoints": {
...   "c1//Pod/sample/hw-1": {"workloadUid": "c1//Pod/sample/hw-1", "port": {"5000": 5000}},
...   "x": {"port": {"5000": 5000}, "workloadUid":
...     "network2/SplitHorizonWorkload/istio-system/eastwest/sample/hw.sample.svc.cluster.local"}}}]}'''
>>> df = read_ztunnel(dump, source_cluster="cluster1", source_pod="ztunnel-abc")
>>> df[["port", "address", "endpoint_port", "weight", "dest_cluster", "via_gateway"]].values.tolist()
[[5000, '10.0.0.7', 5000, 1, 'cluster1', False], [5000, <NA>, 5000, 3, 'cluster2', True]]
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from meshnb.errors import ParseError
from meshnb.readers.json_values import as_dict, as_list, gc_paused, json_documents, json_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["detect_ztunnel", "read_ztunnel"]

logger = logging.getLogger("meshnb")

_PORT_MAX = 65535
_UINT32_MAX = 2**32 - 1
_HEALTH = {"Healthy": "HEALTHY", "Unhealthy": "UNHEALTHY"}  # ztunnel's HealthStatus, serde names
#: ztunnel's default capacity (``default_capacity`` in ztunnel's src/state/workload.rs).
DEFAULT_CAPACITY = 1

# keys of a config dump's top level that hold workloads and services, newest form first
_WORKLOAD_KEYS = ("workloads", "by_uid", "by_addr")
_SERVICE_KEYS = ("services", "by_vip")
_DUMP_MARKERS = tuple(f'"{key}"' for key in _WORKLOAD_KEYS + _SERVICE_KEYS)

# istioctl's table headers (cells as istioctl's tabwriter prints them; a cell may hold a space)
_WORKLOAD_HEADERS = (
    ("NAMESPACE", "POD NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL"),  # 1.24 on (istio#52293)
    ("NAMESPACE", "POD NAME", "IP", "NODE", "WAYPOINT", "PROTOCOL"),  # 1.23 (istio#50654)
    ("NAMESPACE", "POD NAME", "IP", "NODE"),
    ("NAMESPACE", "NAME", "NETWORK", "IP", "NODE", "WAYPOINT", "PROTOCOL"),  # 1.21 (istio#47879)
    ("NAMESPACE", "NAME", "IP", "NODE", "WAYPOINT", "PROTOCOL"),  # 1.20 (istio#46925), 1.22 (istio#50445)
    ("NAMESPACE", "NAME", "IP", "NODE"),
    ("NAME", "NAMESPACE", "IP", "NODE", "WAYPOINT", "PROTOCOL"),  # 1.18, 1.19 (istio#43801)
    ("NAME", "NAMESPACE", "IP", "NODE", "L7 SUPPORT", "PROTOCOL"),  # the first (istio#43409), before 1.18
    ("NAME", "NAMESPACE", "IP", "NODE"),
)
_SERVICE_HEADERS = (
    ("NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT", "ENDPOINTS"),  # 1.23 on (istio#51830)
    ("NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT"),  # istio#50654, before 1.23.0
    ("NAMESPACE", "NAME", "IP", "WAYPOINT"),  # 1.22 (istio#50445)
)
# the first cells of the other sections of `ztunnel-config all`, and the banners istioctl names them by
_OTHER_SECTIONS = {
    ("NAMESPACE", "POLICY NAME"): "POLICY INFO",
    ("CERTIFICATE NAME",): "SECRET INFO",
    ("WORKLOAD", "DIRECTION"): "CONNECTIONS INFO",
}
_READ_SECTIONS = ("WORKLOAD INFO", "SERVICE INFO")
_BANNER = re.compile(r"^-{3,} (.+?) -{3,}$")
_COUNTS = re.compile(r"^(\d{1,9})/(\d{1,9})$")
_MAX_COUNT = 100_000  # endpoints of one service in a table: a row each, so a bound on what a paste makes


def _header_pattern(cells: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"^[ ]*" + r"[ ]+".join(f"({re.escape(c)})" for c in cells) + r"[ ]*$")


_HEADERS = [(_header_pattern(h), "workload", h) for h in _WORKLOAD_HEADERS] + [
    (_header_pattern(h), "service", h) for h in _SERVICE_HEADERS
]


def _header(line: str) -> tuple[str, tuple[str, ...], list[int]] | None:
    """``(table kind, cells, where each starts)`` of an istioctl ztunnel-config header line, or None.

    >>> _header("NAMESPACE POD NAME   ADDRESS NODE WAYPOINT PROTOCOL")[2]
    [0, 10, 21, 29, 34, 43]
    """
    for pattern, kind, cells in _HEADERS:
        match = pattern.match(line)
        if match:
            return kind, cells, [match.start(i + 1) for i in range(len(cells))]
    return None


def _other_section(line: str) -> str | None:
    words = line.strip()
    for first, name in _OTHER_SECTIONS.items():
        if re.match(r"[ ]+".join(re.escape(c) for c in first) + r"(?:[ ]|$)", words):
            return name
    return None


# --------------------------------------------------------------------------------------------------
# Rows


class _Rows:
    """Per-column lists of the endpoints schema's columns that vary (the others are NA or constant)."""

    def __init__(self) -> None:
        self.service: list[str | None] = []
        self.port: list[int | None] = []
        self.address: list[str | None] = []
        self.endpoint_port: list[int | None] = []
        self.health: list[str | None] = []
        self.weight: list[int | None] = []
        self.region: list[str | None] = []
        self.zone: list[str | None] = []
        self.subzone: list[str | None] = []
        self.dest_cluster: list[str | None] = []
        self.network: list[str | None] = []
        self.via_gateway: list[bool | None] = []
        self.attrs: dict[str, Any] = {}

    def add(self, **values: Any) -> None:
        others = values.pop("additional", None)
        if others:
            extra: list[dict[str, Any]] = self.attrs.setdefault("additional_addresses", [])
            extra.append({"row": len(self.address), "address": values["address"], "additional": others})
        for name in _VARYING:
            getattr(self, name).append(values.get(name))

    def to_frame(
        self, source_cluster: str | None, source_pod: str | None, service: str | None
    ) -> pd.DataFrame:
        import pandas as pd

        from meshnb.schemas import SCHEMAS, validate

        n = len(self.address)
        data: dict[str, list[Any]] = {name: getattr(self, name) for name in _VARYING}
        data |= {"source_cluster": [source_cluster] * n, "source_pod": [source_pod] * n}
        columns = SCHEMAS["endpoints"]
        df = pd.DataFrame({c: pd.array(data.get(c, [None] * n), dtype=dtype) for c, dtype in columns.items()})
        if service is not None:
            df = df[df["service"] == service].reset_index(drop=True)
            self.attrs.pop("additional_addresses", None)  # its row numbers were of the unfiltered rows
        df = validate("endpoints", df)
        df.attrs.update(self.attrs)
        return df


_VARYING = (
    "service",
    "port",
    "address",
    "endpoint_port",
    "health",
    "weight",
    "region",
    "zone",
    "subzone",
    "dest_cluster",
    "network",
    "via_gateway",
)

# --------------------------------------------------------------------------------------------------
# The config dump


def _key_path(path: str, key: str) -> str:
    return f"{path}[{json.dumps(key)}]"


def _items(value: Any, path: str) -> Iterator[tuple[Any, str]]:
    """The elements of a list, or the values of a map, each with its JSON path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield item, _key_path(path, key)
    else:
        for index, item in enumerate(as_list(value, path)):
            yield item, f"{path}[{index}]"


def _text(value: Any, path: str) -> str | None:
    """A string field (absent or empty: None)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise json_error(f"expected a string, got {type(value).__name__}", path)
    return value or None


def _required(obj: dict[str, Any], field: str, path: str, what: str) -> str:
    value = _text(obj.get(field), f"{path}.{field}")
    if value is None:
        raise json_error(f"{what} without its {field!r}: expected a non-empty string", path)
    return value


def _integer(value: Any, path: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise json_error(f"expected an integer from 0 to {maximum}, got {value!r}", path)
    return value


def _port_map(value: Any, path: str) -> dict[int, int]:
    """A ``{"service port": target port}`` map (JSON keys are strings)."""
    ports: dict[int, int] = {}
    for key, target in as_dict(value, path).items():
        where = _key_path(path, key)
        if not (key.isascii() and key.isdigit() and int(key) <= _PORT_MAX):
            raise json_error(f"expected a port number from 0 to {_PORT_MAX} as the key, got {key!r}", where)
        ports[int(key)] = _integer(target, where, _PORT_MAX)
    return ports


def _ip(value: Any, path: str) -> str:
    text = _text(value, path)
    try:
        return str(ipaddress.ip_address(text or ""))
    except ValueError:
        raise json_error(f"expected an IP address, got {value!r}", path) from None


def _network_address(value: Any, path: str) -> tuple[str | None, str]:
    """``(network, ip)`` of ztunnel's ``network/ip`` (the network may be empty)."""
    text = _text(value, path) or ""
    network, slash, ip = text.rpartition("/")
    if not slash:
        raise json_error(f"expected network/IP, got {value!r}", path)
    return network or None, _ip(ip, path)


def _health(value: Any, path: str) -> str:
    status = "Healthy" if value is None else value
    if not isinstance(status, str) or status not in _HEALTH:
        raise json_error(f"expected a status Healthy or Unhealthy, got {value!r}", path)
    return _HEALTH[status]


def _workload(w: Any, path: str) -> dict[str, Any]:
    """The columns a workload gives its endpoints' rows."""
    w = as_dict(w, path)
    ips = [_ip(ip, f"{path}.workloadIps[{i}]") for i, ip in enumerate(as_list(w.get("workloadIps"), path))]
    locality = as_dict(w.get("locality"), f"{path}.locality")
    capacity = w.get("capacity")
    weight = DEFAULT_CAPACITY if capacity is None else _integer(capacity, f"{path}.capacity", _UINT32_MAX)
    parts = ("region", "zone", "subzone")
    gateway = w.get("networkGateway")
    if gateway is not None:
        as_dict(gateway, f"{path}.networkGateway")
    return {
        "address": ips[0] if ips else None,
        "additional": ips[1:],
        "health": _health(w.get("status"), f"{path}.status"),
        "weight": weight,
        **{part: _text(locality.get(part), f"{path}.locality.{part}") for part in parts},
        "dest_cluster": _text(w.get("clusterId"), f"{path}.clusterId"),
        "network": _text(w.get("network"), f"{path}.network"),
        "via_gateway": gateway is not None,
    }


def _first_of(doc: dict[str, Any], keys: tuple[str, ...]) -> tuple[Any, str]:
    for key in keys:
        if doc.get(key) is not None:
            return doc[key], f"$.{key}"
    return None, f"$.{keys[0]}"


def _dump(doc: Any, rows: _Rows, service: str | None) -> None:
    """The rows of a ztunnel config dump (a parsed JSON object)."""
    doc = as_dict(doc, "$")
    workloads: dict[str, dict[str, Any]] = {}
    value, path = _first_of(doc, _WORKLOAD_KEYS)
    for w, where in _items(value, path):
        uid = _required(as_dict(w, where), "uid", where, "a workload")
        if uid not in workloads:  # the map forms list a workload under each of its IPs
            workloads[uid] = _workload(w, where)
    value, path = _first_of(doc, _SERVICE_KEYS)
    seen: set[tuple[str | None, str]] = set()
    for item, where in _items(value, path):
        s = as_dict(item, where)
        hostname = _required(s, "hostname", where, "a service")
        key = (_text(s.get("namespace"), f"{where}.namespace"), hostname)
        ports = _port_map(s.get("ports"), f"{where}.ports")
        endpoints = list(_items(as_dict(s.get("endpoints"), f"{where}.endpoints"), f"{where}.endpoints"))
        if key in seen or (service is not None and hostname != service):
            continue  # the map forms list a service under each of its VIPs
        seen.add(key)
        for item_ep, ep_where in endpoints:
            ep = as_dict(item_ep, ep_where)
            uid = _required(ep, "workloadUid", ep_where, "an endpoint")
            targets = _port_map(ep.get("port"), f"{ep_where}.port")
            wl = workloads.get(uid) or _lone_endpoint(ep, ep_where)
            if not ports:  # a service without ports: its endpoints still show
                rows.add(service=hostname, **wl)
            for port in sorted(ports):  # the endpoint's own target port first, as ztunnel picks it
                target = targets[port] if port in targets else ports[port] or None
                rows.add(service=hostname, port=port, endpoint_port=target, **wl)


def _lone_endpoint(ep: dict[str, Any], path: str) -> dict[str, Any]:
    """The columns of an endpoint whose workload the dump lacks: what the endpoint says of itself."""
    network = address = health = None
    if ep.get("address") is not None:  # before ztunnel 1.24
        network, address = _network_address(ep["address"], f"{path}.address")
    if ep.get("status") is not None:  # ztunnel 1.24 on
        health = _health(ep["status"], f"{path}.status")
    return {"address": address, "network": network, "health": health}


# --------------------------------------------------------------------------------------------------
# istioctl's tables


def _cells(line: str, starts: list[int], lineno: int) -> list[str]:
    """The cells of a table row cut where the header's cells start (istioctl's tabwriter aligns them)."""
    for start in starts[1:]:
        if 0 < start < len(line) and line[start - 1] != " " and line[start] != " ":
            raise ParseError("a row whose cells do not line up with the table's header", line, lineno)
    bounds = [*starts[1:], len(line)]
    return [line[a:b].strip() for a, b in zip(starts, bounds, strict=True)]


def _workload_row(cells: dict[str, str], rows: _Rows) -> None:
    first, *others = cells.get("ADDRESS", cells.get("IP", "")).split(",")
    try:
        address: str | None = str(ipaddress.ip_address(first))
    except ValueError:
        address, others = None, []  # a host name, or no address: the workload has no IP
    rows.add(address=address, additional=others, network=cells.get("NETWORK") or None)


def _service_row(cells: dict[str, str], line: str, lineno: int, rows: _Rows) -> None:
    if "ENDPOINTS" not in cells:
        return  # istioctl before 1.23 counts no endpoints
    counts = _COUNTS.match(cells["ENDPOINTS"])
    if counts is None or int(counts.group(1)) > int(counts.group(2)):
        raise ParseError("expected ENDPOINTS as HEALTHY/ALL, e.g. 2/3", line, lineno)
    if int(counts.group(2)) > _MAX_COUNT:
        raise ParseError(f"more than {_MAX_COUNT} endpoints counted for one service", line, lineno)
    name, namespace = cells["SERVICE NAME"], cells["NAMESPACE"]
    if not name or not namespace:
        raise ParseError("a service row without its NAMESPACE or SERVICE NAME", line, lineno)
    healthy, total = int(counts.group(1)), int(counts.group(2))
    fqdn = f"{name}.{namespace}.svc.cluster.local"
    for i in range(total):
        rows.add(service=fqdn, health="HEALTHY" if i < healthy else "UNHEALTHY")


def _tables(text: str, rows: _Rows) -> None:
    """The rows of ztunnel-config workload and service tables, alone or in a whole ``ztunnel-config all``.

    Sections are separated by blank lines; ``--with-headers`` adds ``------ NAME ------`` banners.
    """
    skipped: list[str] = []
    table: tuple[str, tuple[str, ...], list[int]] | None = None
    skipping = read = False
    banner: str | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line:
            table, skipping = None, skipping and banner is not None
            continue
        section = _BANNER.match(line.strip())
        if section:
            banner, table = section.group(1), None
            skipping = banner not in _READ_SECTIONS
            if skipping:
                skipped.append(banner)
            continue
        if skipping:
            continue
        if table is None:
            table = _header(line)
            if table is None:
                name = _other_section(line)
                if name is None:
                    raise ParseError(
                        "expected an istioctl ztunnel-config table header (NAMESPACE POD NAME ADDRESS "
                        "NODE WAYPOINT PROTOCOL, NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS, "
                        "or an older layout)",
                        line,
                        lineno,
                    )
                if banner is None:
                    skipped.append(name)
                skipping = True
            read = read or table is not None
            continue
        kind, names, starts = table
        cells = dict(zip(names, _cells(line, starts, lineno), strict=True))
        if kind == "workload":
            _workload_row(cells, rows)
        else:
            _service_row(cells, line, lineno, rows)
    if not read:
        lineno, line = next(((n, t) for n, t in enumerate(text.splitlines(), 1) if t.strip()), (1, ""))
        raise ParseError("istioctl ztunnel-config output without a workload or service table", line, lineno)
    if skipped:
        rows.attrs["sections_skipped"] = skipped
        logger.info("read_ztunnel: ztunnel-config all, sections skipped: %s", ", ".join(skipped))


# --------------------------------------------------------------------------------------------------
# Detection and the public function


@functools.lru_cache(maxsize=1)  # detection and reading share it: a large dump is parsed once
def _json(text: str) -> Any:
    documents = json_documents(text)
    doc, _path = next(documents, (None, "$"))
    if next(documents, None) is not None:
        raise json_error("expected one ztunnel config dump, found several JSON documents", "$[1]")
    return doc


def _is_dump(doc: Any) -> bool:
    return isinstance(doc, dict) and any(
        isinstance(doc.get(key), dict | list) for key in _WORKLOAD_KEYS + _SERVICE_KEYS
    )


def detect_ztunnel(text: str) -> str | None:
    """``"dump"`` (a ztunnel config dump), ``"tables"`` (istioctl ztunnel-config text) or None.

    A JSON text is parsed only when it names a key of a dump (``"workloads"``, ``"services"``...).

    >>> detect_ztunnel('{"workloads": [], "services": []}'), detect_ztunnel("NAMESPACE POD NAME IP NODE")
    ('dump', 'tables')
    >>> detect_ztunnel('{"cluster_statuses": []}') is None
    True
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        if not any(marker in text for marker in _DUMP_MARKERS):
            return None
        try:
            return "dump" if _is_dump(_json(text)) else None
        except ParseError:
            return None
    first = stripped.split("\n", 1)[0].rstrip()
    banner = _BANNER.match(first)
    if (banner and banner.group(1) in _READ_SECTIONS) or _header(first) is not None:
        return "tables"
    return None


def read_ztunnel(
    text: str | bytes,
    *,
    source_cluster: str | None = None,
    source_pod: str | None = None,
    service: str | None = None,
) -> pd.DataFrame:
    """Endpoints (``endpoints`` schema) a ztunnel holds, from its config dump or istioctl's tables.

    ``service`` keeps only that service's rows (its hostname, e.g. ``helloworld.sample.svc.cluster.local``).

    >>> t = '''NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS
    ... sample    helloworld   10.96.0.9   None     1/2'''
    >>> read_ztunnel(t)[["service", "health"]].values.tolist()
    [['helloworld.sample.svc.cluster.local', 'HEALTHY'], ['helloworld.sample.svc.cluster.local', 'UNHEALTHY']]
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"not UTF-8 text: {exc}") from exc
    rows = _Rows()
    with gc_paused():
        if text.lstrip().startswith("{"):
            doc = _json(text)
            if not _is_dump(doc):
                raise json_error(
                    "not a ztunnel config dump: expected workloads and services (or by_uid, by_vip)", "$"
                )
            _dump(doc, rows, service)
        else:
            _tables(text, rows)
    logger.debug("read_ztunnel: %d rows", len(rows.address))
    return rows.to_frame(source_cluster, source_pod, service)
