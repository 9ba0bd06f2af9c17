"""The endpoints a proxy holds, from whatever the user has: rows of the ``endpoints`` schema.

:func:`read_endpoints` detects the format and reads any of:

- Envoy admin ``/clusters?format=json`` (``{"cluster_statuses": [...]}``; ``{}`` when empty);
- Envoy admin ``/clusters`` text (``cluster::address:port::stat::value`` lines);
- ``istioctl proxy-config endpoint`` tables, every layout istioctl has printed: ``ENDPOINT STATUS
  OUTLIER CHECK CLUSTER`` (live pod, from ``/clusters``, 1.3 on), ``ENDPOINT STATUS CLUSTER`` (1.1 and
  1.2), ``ENDPOINT CLUSTER`` (before 1.1), and the EDS form of ``--file``/``ztunnel``-era istioctl,
  ``ENDPOINT STATUS LOCALITY CLUSTER`` (1.15 to 1.18) and ``NAME STATUS LOCALITY CLUSTER`` (1.19 on);
  with or without the header line (the guide's ``| grep``), indented or not, several tables in a row;
- ``istioctl proxy-config endpoint -o json`` or ``-o yaml`` (the same document through JSONToYAML):
  a list of cluster statuses (live) or of ClusterLoadAssignments (``--file``), camelCase or snake_case;
- a whole ``istioctl proxy-config all`` output (1.19 on; ``--with-headers`` or not): only its endpoint
  section is read, ``df.attrs["sections_skipped"]`` names the others (``BOOTSTRAP INFO``, ``CLUSTER
  INFO``, ``LISTENER INFO``, ``ROUTE INFO``, ``SECRET INFO``, as istioctl's banners name them); output
  without an endpoint section (istioctl before 1.19) is refused;
- an Envoy config dump with EDS (``config_dump?include_eds``: ``dynamic_endpoint_configs`` and
  ``static_endpoint_configs`` of the ``EndpointsConfigDump``), or one ClusterLoadAssignment; JSON or
  YAML (``istioctl proxy-config all -o yaml``).

Conventions, whatever the format:

- ``service`` is the FQDN of an Istio cluster name (``outbound|5000|v1|helloworld.sample.svc.cluster.local``
  or the SNI form ``outbound_.5000_.v1_.helloworld.sample.svc.cluster.local``) and ``port`` its port;
  any other name (``agent``, ``xds-grpc``, ``inbound|5000||``) keeps ``service`` NA.
- ``address`` is the IP (no brackets for IPv6), a pipe path, or ``envoy://listener/endpoint_id`` for
  an internal address, kept whole in every form (its endpoint id may end in ``:port``);
  ``endpoint_port`` is NA when the address is not a socket. A port above 65535 is refused.
- A dual-stack endpoint is one row with its first address; the others (the EDS table's
  ``10.0.0.8:80,fd00::8:80``, EDS ``additional_addresses``) are listed in
  ``df.attrs["additional_addresses"]``: ``{"row", "envoy_cluster", "address", "additional"}`` each,
  ``additional`` as istioctl prints them (``fd00::8:80``).
- ``health`` is the EDS health status as istioctl prints it (HEALTHY, UNHEALTHY, DRAINING, DEGRADED,
  TIMEOUT, UNKNOWN). Envoy's admin output reports TIMEOUT as UNHEALTHY and, in the text form, UNKNOWN
  as HEALTHY (``health_flags::healthy``). ``outlier_check`` is OK/FAILED, NA where the source has no
  outlier state (EDS, the ``NAME STATUS LOCALITY CLUSTER`` table).
- ``priority`` omitted by proto3 JSON is 0. An admin host status without ``weight`` has weight NA
  (Envoy always prints it, at least 1: a missing one is unknown, not 0), as have the tables, which
  print no weight; a ClusterLoadAssignment endpoint without ``load_balancing_weight`` has Envoy's
  default weight 1.
- Empty locality parts are NA. ``dest_cluster``, ``network`` and ``via_gateway`` are NA: no input
  says them; the checks attribute them later.

Anything that cannot be read raises :class:`meshnb.errors.ParseError` with the failing line (text),
JSON path (JSON, ``err.line`` is the path) or YAML line, and what was expected; never another
exception.

>>> text = '''ENDPOINT              STATUS      OUTLIER CHECK     CLUSTER
... 10.0.0.7:5000         HEALTHY     OK                outbound|5000||helloworld.sample.svc.cluster.local
... 10.0.0.8:5000         UNHEALTHY   FAILED            outbound|5000||helloworld.sample.svc.cluster.local'''
>>> df = read_endpoints(text, source_cluster="cluster1", source_pod="sleep-1")
>>> df[["service", "port", "address", "endpoint_port", "health", "outlier_check"]].values.tolist()
[['helloworld.sample.svc.cluster.local', 5000, '10.0.0.7', 5000, 'HEALTHY', 'OK'], \
['helloworld.sample.svc.cluster.local', 5000, '10.0.0.8', 5000, 'UNHEALTHY', 'FAILED']]
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meshnb.errors import ParseError
from meshnb.readers.json_values import as_dict, as_list, gc_paused, json_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMATS",
    "detect_document",
    "detect_format",
    "parse_cluster_name",
    "read_config_dump",
    "read_endpoints",
    "read_envoy_clusters_json",
    "read_envoy_clusters_text",
    "read_istioctl_json",
    "read_istioctl_table",
]

logger = logging.getLogger("meshnb")

FORMATS = ("envoy-json", "envoy-text", "istioctl-table", "istioctl-json", "config-dump", "istioctl-all")

# google.protobuf enum envoy.config.core.v3.HealthStatus, by number (JSON may carry either form).
_HEALTH_NAMES = ("UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED")
_HEALTH_SET = frozenset(_HEALTH_NAMES)
_OUTLIER_SET = frozenset(("OK", "FAILED"))
_UINT32_MAX = 2**32 - 1
_PORT_MAX = 65535

_SNI_NAME = re.compile(r"^(?:inbound|outbound|inbound-vip|outbound-vip)_\.(\d+)_\.[^_]*_\.(.*)$")
# Envoy /clusters text: sections of a cluster that are not hosts.
_CLUSTER_SECTIONS = frozenset(
    (
        "default_priority",
        "high_priority",
        "outlier",
        "observability_name",
        "added_via_api",
        "eds_service_name",
    )
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NON_SPACE = re.compile(r"\S")

# --------------------------------------------------------------------------------------------------
# Column accumulation: plain lists, one DataFrame at the end.


class _Columns:
    """Per-column lists of the endpoints schema (without the two source columns)."""

    __slots__ = (
        "address",
        "attrs",
        "endpoint_port",
        "envoy_cluster",
        "health",
        "outlier_check",
        "port",
        "priority",
        "region",
        "service",
        "subzone",
        "weight",
        "zone",
    )

    envoy_cluster: list[str]
    service: list[str | None]
    port: list[int | None]
    address: list[str]
    endpoint_port: list[int | None]
    health: list[str | None]
    outlier_check: list[str | None]
    weight: list[int | None]
    priority: list[int | None]
    region: list[str | None]
    zone: list[str | None]
    subzone: list[str | None]

    attrs: dict[str, Any]

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, [])
        self.attrs = {}

    def __len__(self) -> int:
        return len(self.address)

    def note_additional(self, cluster: str, address: str, others: list[str]) -> None:
        """List the other addresses (dual-stack) of the row about to be added, in ``attrs``."""
        if others:
            extra: list[dict[str, Any]] = self.attrs.setdefault("additional_addresses", [])
            extra.append(
                {"row": len(self), "envoy_cluster": cluster, "address": address, "additional": others}
            )

    def add(
        self,
        envoy_cluster: str,
        name: tuple[str | None, int | None],
        address: str,
        endpoint_port: int | None,
        health: str | None,
        outlier_check: str | None,
        weight: int | None,
        priority: int | None,
        region: str | None,
        zone: str | None,
        subzone: str | None,
    ) -> None:
        self.envoy_cluster.append(envoy_cluster)
        self.service.append(name[0])
        self.port.append(name[1])
        self.address.append(address)
        self.endpoint_port.append(endpoint_port)
        self.health.append(health)
        self.outlier_check.append(outlier_check)
        self.weight.append(weight)
        self.priority.append(priority)
        self.region.append(region or None)
        self.zone.append(zone or None)
        self.subzone.append(subzone or None)

    def extend(self, envoy_cluster: str, name: tuple[str | None, int | None], rows: list[Any]) -> None:
        """Add the rows of one Envoy cluster, each the fields of :meth:`add` after ``name``."""
        k = len(rows)
        self.envoy_cluster += [envoy_cluster] * k
        self.service += [name[0]] * k
        self.port += [name[1]] * k
        for column, values in zip(_ROW_FIELDS, zip(*rows, strict=True), strict=True):
            getattr(self, column).extend(values)

    def to_frame(self, source_cluster: str | None, source_pod: str | None) -> pd.DataFrame:
        import pandas as pd

        from meshnb.schemas import SCHEMAS, validate

        n = len(self)
        na: list[Any] = [None] * n
        data: dict[str, Any] = {
            "source_cluster": [source_cluster] * n,
            "source_pod": [source_pod] * n,
            "envoy_cluster": self.envoy_cluster,
            "service": self.service,
            "port": self.port,
            "address": self.address,
            "endpoint_port": self.endpoint_port,
            "health": self.health,
            "outlier_check": self.outlier_check,
            "weight": self.weight,
            "priority": self.priority,
            "region": self.region,
            "zone": self.zone,
            "subzone": self.subzone,
            "dest_cluster": na,
            "network": na,
            "via_gateway": na,
        }
        columns = SCHEMAS["endpoints"]
        df = pd.DataFrame({c: _array(data[c], columns[c]) for c in columns})
        df = validate("endpoints", df)
        df.attrs.update(self.attrs)
        return df


def _array(values: list[Any], dtype: str) -> Any:
    """``pd.array(values, dtype)``, in half the time for strings when pandas keeps them in Arrow.

    A column of str and None goes straight to Arrow; ``pd.array`` would check each value again.

    >>> _array(["a", None], "string").tolist(), _array([1, None], "Int64").tolist()
    (['a', <NA>], [1, <NA>])
    """
    import pandas as pd

    if dtype == "string" and pd.StringDtype().storage == "pyarrow":
        import pyarrow as pa

        return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string()))
    return pd.array(values, dtype=dtype)


#: The fields of a row after its Envoy cluster and name, in the order ``_Columns.add`` takes them.
_ROW_FIELDS = (
    "address",
    "endpoint_port",
    "health",
    "outlier_check",
    "weight",
    "priority",
    "region",
    "zone",
    "subzone",
)

_name_cache: dict[str, tuple[str | None, int | None]] = {}


def parse_cluster_name(name: str) -> tuple[str | None, int | None]:
    """``(service FQDN, port)`` of an Istio cluster name; ``(None, None)`` for any other name.

    >>> parse_cluster_name("outbound|5000||helloworld.sample.svc.cluster.local")
    ('helloworld.sample.svc.cluster.local', 5000)
    >>> parse_cluster_name("outbound_.5000_.v2_.helloworld.sample.svc.cluster.local")
    ('helloworld.sample.svc.cluster.local', 5000)
    >>> parse_cluster_name("inbound|5000||"), parse_cluster_name("xds-grpc")
    ((None, 5000), (None, None))
    """
    cached = _name_cache.get(name)
    if cached is not None:
        return cached
    service: str | None = None
    port: int | None = None
    parts = name.split("|")
    if len(parts) == 4 and parts[0] in ("inbound", "outbound", "inbound-vip", "outbound-vip"):
        port_text, host = parts[1], parts[3]
    else:
        match = _SNI_NAME.match(name)
        port_text, host = (match.group(1), match.group(2)) if match else ("", "")
    if port_text.isascii() and port_text.isdigit() and int(port_text) <= 65535:
        port = int(port_text)
        service = host or None
    result = (service, port)
    if len(_name_cache) > 100_000:
        _name_cache.clear()
    _name_cache[name] = result
    return result


def _digits(text: str) -> int | None:
    """The number ``text`` spells in ASCII digits (at most 10 of them), else None."""
    if text.isascii() and text.isdigit() and len(text) <= 10:
        return int(text)
    return None


def _split_host_port(text: str) -> tuple[str, int | None]:
    """``address, port`` of ``1.2.3.4:80``, ``[fd00::1]:80``, ``fd00::1:80`` (istioctl); else no port.

    The port is not range-checked here (see :func:`_port_in_range`).

    >>> _split_host_port("[fd00::1]:80"), _split_host_port("fd00::8:80"), _split_host_port("./XDS")
    (('fd00::1', 80), ('fd00::8', 80), ('./XDS', None))
    """
    if text.startswith("["):
        close = text.find("]:")
        if close > 0:
            port = _digits(text[close + 2 :])
            if port is not None:
                return text[1:close], port
        return text, None
    host, sep, port_text = text.rpartition(":")
    port = _digits(port_text) if sep and host else None
    if port is not None:
        return host, port
    return text, None


def _port_in_range(port: int | None, line: str, lineno: int) -> int | None:
    if port is not None and port > _PORT_MAX:
        raise ParseError(
            f"port {port} is above 65535: expected ADDRESS:PORT with a TCP/UDP port", line, lineno
        )
    return port


def _endpoint_text(word: str, line: str, lineno: int) -> tuple[str, int | None, list[str]]:
    """``(address, port, additional addresses)`` of the ENDPOINT (or NAME) column of an istioctl table.

    ``endpoint/`` (``proxy-config all``) is dropped; ``unix://`` (a pipe, live table) gives the path;
    ``envoy://listener/id`` (an internal address) is kept whole; ``a:80,b:80`` (dual-stack, the EDS
    table joins an endpoint's addresses with ``,``) gives the first and lists the others.

    >>> _endpoint_text("endpoint/10.0.0.8:80,fd00::8:80", "", 1)
    ('10.0.0.8', 80, ['fd00::8:80'])
    >>> _endpoint_text("envoy://connect_originate/192.168.195.248:800", "", 1)
    ('envoy://connect_originate/192.168.195.248:800', None, [])
    """
    if word.startswith("endpoint/"):
        word = word[9:]
    if word.startswith("envoy://"):
        return word, None, []
    first, *others = word.split(",")
    if first.startswith("unix://"):
        return first[7:], None, others
    if first.startswith("envoy://"):
        return first, None, others
    address, port = _split_host_port(first)
    if not address:
        raise ParseError("an endpoint without an address: expected ADDRESS:PORT", line, lineno)
    for other in others:
        _port_in_range(_split_host_port(other)[1], line, lineno)
    return address, _port_in_range(port, line, lineno), others


# --------------------------------------------------------------------------------------------------
# JSON forms


#: What str.splitlines() ends a line at (the text readers number lines with it).
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _line_at(text: str, pos: int) -> tuple[str, int]:
    """The line (as ``str.splitlines`` numbers them, from 1) holding character ``pos`` of ``text``.

    A position past the last line (the input ended early) names the last line.

    >>> _line_at("ab\\ncd\\x1eef", 7), _line_at("[\\n", 2)
    (('ef', 3), ('[', 1))
    """
    lines = text.splitlines()
    if not lines:
        return "", 1
    lineno = len(text[: pos + 1].splitlines())
    if pos < len(text) and _LINE_BREAK.match(text, pos):
        lineno += 1  # the position is a line break itself: the line after it
    lineno = min(max(lineno, 1), len(lines))
    return lines[lineno - 1], lineno


#: The first line of a YAML document as ``istioctl ... -o yaml`` writes one: ``- clusterName: ...``,
#: ``configs:``, ``'@type': ...`` (a key, maybe quoted, in a list item or not, then ``:``).
_YAML_KEY = re.compile(r"^(?:- )?['\"]?[A-Za-z_@][A-Za-z0-9_@.-]*['\"]?:(?: |$)")


def _yaml_loader() -> type:
    import yaml

    class _NoAliasLoader(yaml.SafeLoader):
        """PyYAML's safe loader without anchors/aliases (istioctl never writes them; they can blow up)."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, "YAML aliases are not accepted here", event.start_mark
                )
            return super().compose_node(parent, index)

    return _NoAliasLoader


def _load_yaml(text: str) -> Any:
    """The document of ``istioctl ... -o yaml`` (the same proto as ``-o json``, through JSONToYAML)."""
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, lineno = _line_at(text, mark.index if mark is not None else 0)
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ParseError(f"invalid YAML: {problem}", line, lineno) from None
    except (RecursionError, ValueError, OverflowError) as exc:  # nesting too deep, odd scalars
        raise ParseError(f"invalid YAML: {type(exc).__name__}", text[:200], 1) from None


#: A host's counters in Envoy's ``/clusters?format=json``: two thirds of its bytes, never read here.
#: Each is a flat list of ``{"name", "value", "type"}`` objects, so it ends at its first ``]``.
_HOST_STATS = re.compile(r'"stats": \[[^\]]*\]')
#: The same words after an escaped quote: part of a key or a string, so nothing is cut.
_ESCAPED_STATS = re.compile(r'\\"stats": \[')


def _loads_without_stats(text: str) -> Any:
    """``json.loads(text)``, faster on Envoy's ``/clusters``: its host counters are cut before parsing.

    If the text without them does not parse, the text itself is parsed, so that an error names its
    own position (and a ``stats`` list that is not Envoy's flat one is kept). Damage inside a host's
    counters goes unnoticed: nothing read comes from them. On 50,000 hosts (58.6 MB) parsing takes
    0.30 s instead of 0.54 s (the collector paused), and 135 MB less memory.

    >>> _loads_without_stats('{"stats": [{"name": "cx_total", "value": "4"}], "name": "c"}')
    {'stats': [], 'name': 'c'}
    >>> _loads_without_stats('{"stats": [{"name": "a]"}]}')  # not Envoy's: read whole
    {'stats': [{'name': 'a]'}]}
    >>> _loads_without_stats(r'{"x\\"stats": [1], "stats": [2]}')  # a key that ends in "stats: not cut
    {'x"stats': [1], 'stats': [2]}
    """
    cut = text if _ESCAPED_STATS.search(text) else _HOST_STATS.sub('"stats": []', text)
    if cut is not text:
        try:
            return json.loads(cut)
        except json.JSONDecodeError:
            pass
    return json.loads(text)


def _load_json(text: str | bytes | dict[str, Any] | list[Any]) -> Any:
    if isinstance(text, dict | list):
        return text
    text = _to_text(text)
    start = _NON_SPACE.search(text)
    if start is not None and text[start.start()] not in "{[":
        first = text[start.start() :].split("\n", 1)[0].rstrip()
        if _YAML_KEY.match(first):
            return _load_yaml(text)
    try:
        return _loads_without_stats(text)
    except json.JSONDecodeError as exc:
        line, lineno = _line_at(text, exc.pos)
        raise ParseError(f"invalid JSON: {exc.msg} (column {exc.colno})", line, lineno) from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, numbers too long
        raise ParseError(f"invalid JSON: {exc}", text[:200], 1) from exc


def _get(obj: dict[str, Any], snake: str, camel: str) -> Any:
    value = obj.get(snake)
    return obj.get(camel) if value is None else value


def _uint(value: Any, path: str, default: int | None = 0) -> int | None:
    if value is None:
        return default
    if type(value) is int:
        if 0 <= value <= _UINT32_MAX:
            return value
    elif isinstance(value, str):
        number = _digits(value)
        if number is not None and number <= _UINT32_MAX:
            return number
    elif isinstance(value, float) and value.is_integer() and 0 <= value <= _UINT32_MAX:
        return int(value)
    raise json_error(f"expected an unsigned 32-bit integer, got {value!r:.60}", path)


def _str(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise json_error(f"expected a string, got {type(value).__name__}", path)


def _address(value: Any, path: str) -> tuple[str, int | None]:
    """``(address text, port)`` of an envoy.config.core.v3.Address."""
    addr = as_dict(value, path)
    sock = _get(addr, "socket_address", "socketAddress")
    if sock is not None:
        sock = as_dict(sock, path + ".socket_address")
        host = _str(sock.get("address"), path + ".socket_address.address") or ""
        port_path = path + ".socket_address.port_value"
        port = _uint(_get(sock, "port_value", "portValue"), port_path)
        if port is not None and port > _PORT_MAX:
            raise json_error(f"expected a port (0 to 65535), got {port}", port_path)
        return host, port
    pipe = addr.get("pipe")
    if pipe is not None:
        return _str(as_dict(pipe, path + ".pipe").get("path"), path + ".pipe.path") or "", None
    internal = _get(addr, "envoy_internal_address", "envoyInternalAddress")
    if internal is not None:
        internal = as_dict(internal, path + ".envoy_internal_address")
        listener = _str(_get(internal, "server_listener_name", "serverListenerName"), path) or ""
        endpoint_id = _str(_get(internal, "endpoint_id", "endpointId"), path) or ""
        return f"envoy://{listener}/{endpoint_id}", None
    raise json_error("address has no socket_address, pipe or envoy_internal_address", path)


def _health_name(value: Any, path: str) -> str:
    if value is None:
        return "UNKNOWN"
    if isinstance(value, str) and value in _HEALTH_SET:
        return value
    if type(value) is int and 0 <= value < len(_HEALTH_NAMES):
        return _HEALTH_NAMES[value]
    raise json_error(f"unknown health status {value!r:.60}", path)


def _plain_host(host: Any) -> tuple[Any, ...] | None:
    """A host status of the common shape as its row fields (those of ``_Columns.add``); else None.

    The common shape: snake_case keys, a socket address, a known health name, each value of its type.
    Anything else is None, and the full reading below reads it or names what is wrong.

    >>> _plain_host({"address": {"socket_address": {"address": "10.0.0.7", "port_value": 5000}},
    ...     "health_status": {"eds_health_status": "HEALTHY"}, "weight": 1, "locality": {"zone": ""}})
    ('10.0.0.7', 5000, 'HEALTHY', 'OK', 1, 0, None, None, None)
    >>> _plain_host({"address": {"pipe": {"path": "/sock"}}, "health_status": {}}) is None
    True
    """
    try:
        sock, health = host["address"]["socket_address"], host["health_status"]
        ip, port, eds = sock["address"], sock["port_value"], health["eds_health_status"]
        if type(ip) is not str or type(port) is not int or eds not in _HEALTH_SET:
            return None
    except (KeyError, TypeError):  # a key missing, a value not an object, an unhashable health
        return None
    failed, weight, priority = health.get("failed_outlier_check"), host.get("weight"), host.get("priority")
    loc = host.get("locality")
    if (
        not 0 <= port <= _PORT_MAX
        or (failed is not None and type(failed) is not bool)
        or (weight is not None and (type(weight) is not int or not 0 <= weight <= _UINT32_MAX))
        or (priority is not None and (type(priority) is not int or not 0 <= priority <= _UINT32_MAX))
    ):
        return None
    region = zone = subzone = None
    if loc:
        if type(loc) is not dict or "subZone" in loc:
            return None
        region, zone, subzone = loc.get("region"), loc.get("zone"), loc.get("sub_zone")
        if (
            (region is not None and type(region) is not str)
            or (zone is not None and type(zone) is not str)
            or (subzone is not None and type(subzone) is not str)
        ):
            return None
    elif loc is not None and type(loc) is not dict:
        return None
    outlier = "FAILED" if failed else "OK"
    return (ip, port, eds, outlier, weight, priority or 0, region or None, zone or None, subzone or None)


def _cluster_statuses(statuses: list[Any], cols: _Columns, path: str) -> None:
    """Rows from admin ClusterStatus objects (``/clusters?format=json``, istioctl live ``-o json``)."""
    add = cols.add
    for i, cluster in enumerate(statuses):
        cpath = f"{path}[{i}]"
        if not isinstance(cluster, dict):
            raise json_error("expected a cluster status object", cpath)
        name = cluster.get("name")
        if not isinstance(name, str):
            raise json_error("cluster status has no name", cpath + ".name")
        parsed = parse_cluster_name(name)
        hosts = _get(cluster, "host_statuses", "hostStatuses")
        if hosts is None:
            continue
        if not isinstance(hosts, list):
            raise json_error("expected a list", cpath + ".host_statuses")
        rows = [_plain_host(host) for host in hosts]
        if rows and None not in rows:  # all of the common shape: read without building paths for errors
            cols.extend(name, parsed, rows)
            continue
        for j, host in enumerate(hosts):
            row = rows[j]
            if row is not None:
                add(name, parsed, *row)
                continue
            hpath = f"{cpath}.host_statuses[{j}]"
            if not isinstance(host, dict):
                raise json_error("expected a host status object", hpath)
            address, port = _address(host.get("address"), hpath + ".address")
            health = as_dict(_get(host, "health_status", "healthStatus"), hpath + ".health_status")
            eds = _health_name(_get(health, "eds_health_status", "edsHealthStatus"), hpath + ".health_status")
            failed = _get(health, "failed_outlier_check", "failedOutlierCheck")
            if failed is not None and not isinstance(failed, bool):
                raise json_error("expected a boolean", hpath + ".health_status.failed_outlier_check")
            loc = as_dict(host.get("locality"), hpath + ".locality")
            add(
                name,
                parsed,
                address,
                port,
                eds,
                "FAILED" if failed else "OK",
                _uint(host.get("weight"), hpath + ".weight", default=None),
                _uint(host.get("priority"), hpath + ".priority"),
                _str(loc.get("region"), hpath + ".locality.region"),
                _str(loc.get("zone"), hpath + ".locality.zone"),
                _str(_get(loc, "sub_zone", "subZone"), hpath + ".locality.sub_zone"),
            )


def _load_assignment(cla: Any, cols: _Columns, path: str) -> None:
    """Rows from one ClusterLoadAssignment (EDS, config dump, istioctl ``--file -o json``)."""
    cla = as_dict(cla, path)
    name = _get(cla, "cluster_name", "clusterName")
    if not isinstance(name, str):
        raise json_error("cluster load assignment has no cluster_name", path + ".cluster_name")
    parsed = parse_cluster_name(name)
    add = cols.add
    for i, llb_value in enumerate(as_list(cla.get("endpoints"), path + ".endpoints")):
        lpath = f"{path}.endpoints[{i}]"
        llb = as_dict(llb_value, lpath)
        loc = as_dict(llb.get("locality"), lpath + ".locality")
        region = _str(loc.get("region"), lpath + ".locality.region")
        zone = _str(loc.get("zone"), lpath + ".locality.zone")
        subzone = _str(_get(loc, "sub_zone", "subZone"), lpath + ".locality.sub_zone")
        priority = _uint(llb.get("priority"), lpath + ".priority")
        for j, lb_value in enumerate(
            as_list(_get(llb, "lb_endpoints", "lbEndpoints"), lpath + ".lb_endpoints")
        ):
            epath = f"{lpath}.lb_endpoints[{j}]"
            lb = as_dict(lb_value, epath)
            endpoint = as_dict(lb.get("endpoint"), epath + ".endpoint")
            address, port = _address(endpoint.get("address"), epath + ".endpoint.address")
            health = _health_name(_get(lb, "health_status", "healthStatus"), epath + ".health_status")
            weight = _uint(_get(lb, "load_balancing_weight", "loadBalancingWeight"), epath, default=1)
            more = _get(endpoint, "additional_addresses", "additionalAddresses")
            if more is not None:
                _additional(more, name, address, cols, epath + ".endpoint.additional_addresses")
            add(name, parsed, address, port, health, None, weight, priority, region, zone, subzone)


def _additional(value: Any, cluster: str, address: str, cols: _Columns, path: str) -> None:
    """Note an endpoint's additional addresses (dual-stack) as istioctl prints them, ``addr:port``."""
    others = []
    for k, item in enumerate(as_list(value, path)):
        host, port = _address(as_dict(item, f"{path}[{k}]").get("address"), f"{path}[{k}].address")
        others.append(host if port is None else f"{host}:{port}")
    cols.note_additional(cluster, address, others)


def _endpoints_section(section: dict[str, Any], cols: _Columns, path: str) -> None:
    for key, camel in (
        ("static_endpoint_configs", "staticEndpointConfigs"),
        ("dynamic_endpoint_configs", "dynamicEndpointConfigs"),
    ):
        for i, item in enumerate(as_list(_get(section, key, camel), f"{path}.{key}")):
            ipath = f"{path}.{key}[{i}]"
            config = _get(as_dict(item, ipath), "endpoint_config", "endpointConfig")
            if config is not None:
                _load_assignment(config, cols, ipath + ".endpoint_config")


def _is_endpoints_section(obj: dict[str, Any]) -> bool:
    kind = obj.get("@type")
    return (isinstance(kind, str) and kind.endswith("EndpointsConfigDump")) or any(
        k in obj
        for k in (
            "dynamic_endpoint_configs",
            "static_endpoint_configs",
            "dynamicEndpointConfigs",
            "staticEndpointConfigs",
        )
    )


def _json_kind(doc: Any) -> str:
    """Which JSON form ``doc`` is (one of :data:`FORMATS`)."""
    if isinstance(doc, list):
        return "istioctl-json"
    if not isinstance(doc, dict):
        raise json_error(f"expected an object or a list, got {type(doc).__name__}", "$")
    if not doc or "cluster_statuses" in doc or "clusterStatuses" in doc:
        return "envoy-json"
    if "configs" in doc or _is_endpoints_section(doc) or "cluster_name" in doc or "clusterName" in doc:
        return "config-dump"
    raise json_error(
        "not Envoy /clusters JSON, an istioctl endpoint list or a config dump with EDS "
        f"(keys: {sorted(map(str, doc))[:6]})",
        "$",
    )


def _read_json_doc(doc: Any, kind: str, cols: _Columns) -> None:
    if kind == "envoy-json":
        if not isinstance(doc, dict):
            raise json_error("expected Envoy /clusters JSON (an object)", "$")
        statuses = as_list(_get(doc, "cluster_statuses", "clusterStatuses"), "$.cluster_statuses")
        _cluster_statuses(statuses, cols, "$.cluster_statuses")
    elif kind == "istioctl-json":
        if not isinstance(doc, list):
            raise json_error("expected istioctl's endpoint list (a JSON list)", "$")
        for i, item in enumerate(doc):
            if not isinstance(item, dict):
                raise json_error("expected an object", f"$[{i}]")
            if "clusterName" in item or "cluster_name" in item:
                _load_assignment(item, cols, f"$[{i}]")
            elif "name" in item:
                _cluster_statuses([item], cols, "$")
            else:
                raise json_error("neither a cluster status (name) nor a load assignment", f"$[{i}]")
    else:
        if not isinstance(doc, dict):
            raise json_error("expected an Envoy config dump (an object)", "$")
        if "configs" in doc:
            configs = as_list(doc["configs"], "$.configs")
            found = False
            for i, config_value in enumerate(configs):
                config = as_dict(config_value, f"$.configs[{i}]")
                if _is_endpoints_section(config):
                    found = True
                    _endpoints_section(config, cols, f"$.configs[{i}]")
            if not found:
                raise json_error("config dump has no EndpointsConfigDump: fetch config_dump?include_eds", "$")
        elif _is_endpoints_section(doc):
            _endpoints_section(doc, cols, "$")
        else:
            _load_assignment(doc, cols, "$")


def _read_json(text: str | bytes | dict[str, Any] | list[Any], expect: str | None, cols: _Columns) -> str:
    doc = _load_json(text)
    kind = _json_kind(doc) if expect is None else expect
    _read_json_doc(doc, kind, cols)
    return kind


# --------------------------------------------------------------------------------------------------
# Text forms


def _to_text(text: str | bytes) -> str:
    if isinstance(text, bytes | bytearray | memoryview):
        try:
            return bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    if not isinstance(text, str):
        raise ParseError(f"expected text or bytes, got {type(text).__name__}")
    return text[1:] if text.startswith("\ufeff") else text


def _envoy_text(text: str, cols: _Columns) -> None:
    """Rows from Envoy's ``/clusters`` text (one host per distinct ``cluster::address``)."""
    # (cluster, host) -> [cluster, address, port, health, outlier, weight, priority, region, zone, sub]
    hosts: dict[tuple[str, str], list[Any]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cluster, sep, rest = line.partition("::")
        if not sep or not cluster:
            raise ParseError("not an Envoy /clusters line (cluster::host::stat::value)", line, lineno)
        head = rest.partition("::")[0]
        if head in _CLUSTER_SECTIONS or _IDENT.match(head):
            continue  # cluster-level setting (circuit breakers, outlier, names)
        parts = rest.rsplit("::", 2)
        if len(parts) != 3 or not parts[0]:
            raise ParseError("not an Envoy /clusters host line (cluster::host::stat::value)", line, lineno)
        host_text, stat, value = parts
        key = (cluster, host_text)
        row = hosts.get(key)
        if row is None:
            if host_text.startswith("envoy://"):  # an internal address: listener/endpoint_id, kept whole
                address, port = host_text, None
            else:
                address, port = _split_host_port(host_text)
                port = _port_in_range(port, line, lineno)
            row = hosts[key] = [cluster, address, port, None, None, None, None, None, None, None]
        if stat == "health_flags":
            flags = value.split("/")
            row[4] = "FAILED" if "failed_outlier_check" in flags else "OK"
            if "eds_status_draining" in flags:
                row[3] = "DRAINING"
            elif "failed_eds_health" in flags:
                row[3] = "UNHEALTHY"
            elif "degraded_eds_health" in flags:
                row[3] = "DEGRADED"
            else:
                row[3] = "HEALTHY"
        elif stat in ("weight", "priority"):
            number = _digits(value)
            if number is None or number > _UINT32_MAX:
                raise ParseError(f"{stat} is not an unsigned 32-bit integer: expected digits", line, lineno)
            row[5 if stat == "weight" else 6] = number
        elif stat == "region":
            row[7] = value
        elif stat == "zone":
            row[8] = value
        elif stat == "sub_zone":
            row[9] = value
    add = cols.add
    for cluster, address, port, health, outlier, weight, priority, region, zone, sub in hosts.values():
        add(
            cluster,
            parse_cluster_name(cluster),
            address,
            port,
            health,
            outlier,
            weight,
            priority,
            region,
            zone,
            sub,
        )


_TABLE_HEADERS: dict[tuple[str, ...], tuple[str, ...]] = {
    # header words -> the fields of a row (split on whitespace; a blank LOCALITY leaves 3 words)
    ("ENDPOINT", "STATUS", "OUTLIER", "CHECK", "CLUSTER"): ("endpoint", "status", "outlier", "cluster"),
    ("NAME", "STATUS", "LOCALITY", "CLUSTER"): ("endpoint", "status", "locality", "cluster"),
    ("ENDPOINT", "STATUS", "LOCALITY", "CLUSTER"): ("endpoint", "status", "locality", "cluster"),
    ("ENDPOINT", "STATUS", "CLUSTER"): ("endpoint", "status", "cluster"),
    ("ENDPOINT", "CLUSTER"): ("endpoint", "cluster"),
}

# ``istioctl proxy-config all``: the sections before the endpoints, by istioctl's --with-headers name.
_ALL_BANNER = re.compile(r"^-{6} (.{1,60}) -{6}$")
_ALL_ENDPOINTS = "ENDPOINTS INFO"
_ALL_BOOTSTRAP = ("Istio Version:", "Istio Proxy Version:", "Envoy Version:")


def _all_section(line: str) -> str | None:
    """The ``proxy-config all`` section a line starts (istioctl's --with-headers name), if it starts one.

    >>> _all_section("NAME   SERVICE FQDN   PORT   SUBSET   DIRECTION   TYPE   DESTINATION RULE")
    'CLUSTER INFO'
    >>> _all_section("Istio Version:       1.21.0"), _all_section("10.0.0.1:80  HEALTHY  c") is None
    ('BOOTSTRAP INFO', True)
    """
    banner = _ALL_BANNER.match(line)
    if banner:
        return banner.group(1).strip()
    if line.startswith(_ALL_BOOTSTRAP):
        return "BOOTSTRAP INFO"
    words = tuple(line.split())
    if words[:2] == ("SERVICE", "FQDN") or words[1:3] == ("SERVICE", "FQDN"):
        return "CLUSTER INFO"
    if words[:1] in (("LISTENER",), ("ADDRESS",), ("ADDRESSES",)) or words[1:2] in (
        ("ADDRESSES",),
        ("ADDRESS",),
    ):
        return "LISTENER INFO"
    if words[:2] in (("NAME", "VHOST"), ("NAME", "VIRTUAL"), ("NAME", "DOMAINS")):
        return "ROUTE INFO"
    if words[:2] == ("RESOURCE", "NAME") or line.startswith("No active or warming secrets"):
        return "SECRET INFO"
    return None


def _table_fields(line: str) -> tuple[str, ...] | None:
    return _TABLE_HEADERS.get(tuple(line.split()))


def _row_fields(words: list[str]) -> tuple[str, ...] | None:
    """The layout of a table row seen without its header, as the guide's ``| grep helloworld`` prints.

    >>> _row_fields("10.0.0.11:5000 HEALTHY OK outbound|5000||helloworld.sample.svc.cluster.local".split())
    ('endpoint', 'status', 'outlier', 'cluster')
    >>> _row_fields(["ENDPOINT", "STATUS"]) is None
    True
    """
    if not _is_endpoint(words[0]):
        return None
    n = len(words)
    if n == 4 and words[1] in _HEALTH_SET:
        if words[2] in _OUTLIER_SET:
            return ("endpoint", "status", "outlier", "cluster")
        return ("endpoint", "status", "locality", "cluster")
    if n == 3 and words[1] in _HEALTH_SET:
        return ("endpoint", "status", "cluster")
    if n == 2 and _is_cluster_name(words[1]):  # no status to tell a row: Istio's cluster name must
        return ("endpoint", "cluster")
    return None


def _is_endpoint(word: str) -> bool:
    """Whether a table's first word is an endpoint: ``ip:port``, ``[v6]:port``, a pipe or internal one.

    >>> _is_endpoint("10.0.0.8:80,fd00::8:80"), _is_endpoint("endpoint/envoy://main/1"), _is_endpoint("NAME")
    (True, True, False)
    """
    if word.startswith("endpoint/"):
        word = word[9:]
    if word.startswith(("envoy://", "unix://")):
        return True
    return _split_host_port(word.split(",", 1)[0])[1] is not None


def _is_cluster_name(word: str) -> bool:
    """Whether a table's last word is an Envoy cluster name as Istio makes them (``outbound|5000||...``)."""
    return "|" in word or _SNI_NAME.match(word) is not None


def _table_row(words: list[str], fields: tuple[str, ...], line: str, lineno: int, cols: _Columns) -> None:
    """One row of an istioctl endpoint table laid out as ``fields``."""
    n = len(words)
    status = outlier = None
    region = zone = subzone = None
    if fields[2:3] == ("outlier",):
        if n != 4:
            raise ParseError("expected ENDPOINT STATUS OUTLIER-CHECK CLUSTER", line, lineno)
        status, outlier = words[1], words[2]
    elif fields[2:3] == ("locality",):
        if n not in (3, 4):
            raise ParseError("expected NAME STATUS [LOCALITY] CLUSTER", line, lineno)
        status = words[1]
        if n == 4:
            loc = words[2].split("/", 2)
            region = loc[0]
            zone = loc[1] if len(loc) > 1 else None
            subzone = loc[2] if len(loc) > 2 else None
    elif len(fields) == 3:
        if n != 3:
            raise ParseError("expected ENDPOINT STATUS CLUSTER", line, lineno)
        status = words[1]
    elif n != 2:
        raise ParseError("expected ENDPOINT CLUSTER", line, lineno)
    if status is not None and status not in _HEALTH_SET:
        raise ParseError(
            f"unknown endpoint status {status!r}: expected one of {', '.join(_HEALTH_NAMES)}", line, lineno
        )
    if outlier is not None and outlier not in _OUTLIER_SET:
        raise ParseError(f"unknown outlier check {outlier!r}: expected OK or FAILED", line, lineno)
    address, port, others = _endpoint_text(words[0], line, lineno)
    cluster = words[-1]
    cols.note_additional(cluster, address, others)
    cols.add(
        cluster,
        parse_cluster_name(cluster),
        address,
        port,
        status,
        outlier,
        None,
        None,
        region,
        zone,
        subzone,
    )


def _istioctl_table(text: str, cols: _Columns) -> None:
    """Rows from ``istioctl proxy-config endpoint`` tables (headers may repeat, e.g. several pods)."""
    fields: tuple[str, ...] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        header = _TABLE_HEADERS.get(tuple(words))
        if header is not None:
            fields = header
            continue
        row_fields = fields or _row_fields(words)
        if row_fields is None:
            raise ParseError(
                "neither an istioctl table header (ENDPOINT ... CLUSTER) nor a row of one", line, lineno
            )
        _table_row(words, row_fields, line, lineno, cols)


def _proxy_config_all(text: str, cols: _Columns) -> None:
    """The endpoint rows of a whole ``istioctl proxy-config all`` output; the other sections skipped.

    Sections are separated by blank lines (``--with-headers`` adds ``------ NAME ------`` banners).
    ``cols.attrs["sections_skipped"]`` names the sections not read, as istioctl's banners name them.
    """
    skipped: list[str] = []
    fields: tuple[str, ...] | None = None
    at_start, found, banner = True, False, None
    first: tuple[str, int] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            at_start, fields = True, None
            continue
        stripped = line.strip()
        if first is None:
            first = (line, lineno)
        section = _ALL_BANNER.match(stripped)
        if section:
            banner = section.group(1).strip()
            if banner != _ALL_ENDPOINTS:
                skipped.append(banner)
            at_start, fields = True, None
            continue
        if at_start:
            at_start = False
            header = _TABLE_HEADERS.get(tuple(words))
            if header is not None:
                fields, found = header, True
                banner = None
                continue
            name = _all_section(stripped) or stripped[:60]
            if banner is None:
                skipped.append(name)
            banner = None
            continue
        if fields is not None:
            _table_row(words, fields, line, lineno, cols)
    cols.attrs["sections_skipped"] = skipped
    if skipped:
        logger.info("read_endpoints: proxy-config all, sections skipped: %s", ", ".join(skipped))
    if not found:
        line, lineno = first or ("", 1)
        raise ParseError(
            "istioctl proxy-config all output without an endpoint section (istioctl before 1.19 prints "
            "none): expected a NAME STATUS LOCALITY CLUSTER table; run istioctl proxy-config endpoint",
            line,
            lineno,
        )


# --------------------------------------------------------------------------------------------------
# Public API


def detect_format(text: str | bytes) -> str:
    """Which of :data:`FORMATS` ``text`` is, from its first non-blank characters.

    Rules: ``{`` or ``[`` first -> JSON (an object with ``cluster_statuses`` or no key: envoy-json;
    with ``configs``, an ``EndpointsConfigDump`` or a ``cluster_name``: config-dump; a list:
    istioctl-json); a first line that is a ``proxy-config all`` banner, its bootstrap lines or its
    cluster table header -> istioctl-all; an istioctl endpoint header or row -> istioctl-table; a
    first line with ``::`` -> envoy-text; a first line ``key:`` or ``- key:`` -> YAML, named as the
    JSON document it holds. Anything else is a :class:`ParseError`.

    >>> detect_format("NAME   STATUS   LOCALITY   CLUSTER\\n")
    'istioctl-table'
    >>> detect_format('{"cluster_statuses": []}'), detect_format("[]")
    ('envoy-json', 'istioctl-json')
    >>> detect_format("outbound|80||a.b.svc.cluster.local::added_via_api::true")
    'envoy-text'
    >>> detect_format("- clusterName: agent\\n  endpoints: []"), detect_format("------ BOOTSTRAP INFO ------")
    ('istioctl-json', 'istioctl-all')
    """
    return detect_document(text)[0]


def detect_document(text: str | bytes | dict[str, Any] | list[Any]) -> tuple[str, Any]:
    """``(format, document)``: :func:`detect_format`'s answer and what it read to decide it.

    The document is the parsed JSON (or YAML) for those forms, the text for text forms;
    :func:`read_endpoints` takes either back.

    >>> detect_document('{"cluster_statuses": []}')
    ('envoy-json', {'cluster_statuses': []})
    """
    if isinstance(text, dict | list):
        return _json_kind(text), text
    text = _to_text(text)
    start = _NON_SPACE.search(text)
    if start is None:
        return "envoy-text", text  # Envoy with no cluster prints nothing
    begin = start.start()
    end = _LINE_BREAK.search(text, begin)
    first = text[begin : end.start() if end else len(text)].rstrip()
    if text[begin] == "{" or (
        text[begin] == "[" and (len(first) > 4096 or _row_fields(first.split()) is None)
    ):
        doc = _load_json(text)  # (a table row may start with "[", an IPv6 endpoint in brackets)
        return _json_kind(doc), doc
    if _ALL_BANNER.match(first) or _all_section(first) in ("BOOTSTRAP INFO", "CLUSTER INFO"):
        return "istioctl-all", text
    if _table_fields(first) is not None or _row_fields(first.split()) is not None:
        return "istioctl-table", text
    if "::" in first:
        return "envoy-text", text
    if _YAML_KEY.match(first):
        doc = _load_yaml(text)
        return _json_kind(doc), doc
    line, lineno = _line_at(text, begin)
    raise ParseError(
        "not Envoy /clusters output (JSON or text), istioctl proxy-config endpoint or all output (table, "
        "-o json or -o yaml) or a config dump",
        line,
        lineno,
    )


def _read(
    reader: Callable[[_Columns], object], source_cluster: str | None, source_pod: str | None
) -> pd.DataFrame:
    cols = _Columns()
    reader(cols)
    return cols.to_frame(source_cluster, source_pod)


def read_endpoints(
    text: str | bytes | dict[str, Any] | list[Any],
    *,
    source_cluster: str | None = None,
    source_pod: str | None = None,
) -> pd.DataFrame:
    """Endpoints (``endpoints`` schema) from any supported format, detected by :func:`detect_format`.

    ``text`` may also be a document already parsed (what :func:`detect_document` returns).

    >>> js = '''{"cluster_statuses": [{"name": "outbound|5000||helloworld.sample.svc.cluster.local",
    ...   "host_statuses": [{"address": {"socket_address": {"address": "10.1.0.4", "port_value": 5000}},
    ...     "health_status": {"eds_health_status": "HEALTHY"}, "weight": 1,
    ...     "locality": {"region": "us-west", "zone": "b"}}]}]}'''
    >>> row = read_endpoints(js, source_cluster="cluster2").iloc[0]
    >>> row["source_cluster"], row["address"], row["endpoint_port"], row["priority"], row["region"]
    ('cluster2', '10.1.0.4', np.int64(5000), np.int64(0), 'us-west')
    """
    with gc_paused():  # the parsed tree dies in _read_document, before the collector resumes
        return _read_document(text, source_cluster, source_pod)


def _read_document(
    text: str | bytes | dict[str, Any] | list[Any], source_cluster: str | None, source_pod: str | None
) -> pd.DataFrame:
    kind, doc = detect_document(text)
    logger.debug("read_endpoints: %s", kind)
    if kind == "envoy-text":
        return _read(lambda cols: _envoy_text(doc, cols), source_cluster, source_pod)
    if kind == "istioctl-table":
        return _read(lambda cols: _istioctl_table(doc, cols), source_cluster, source_pod)
    if kind == "istioctl-all":
        return _read(lambda cols: _proxy_config_all(doc, cols), source_cluster, source_pod)
    return _read(lambda cols: _read_json_doc(doc, kind, cols), source_cluster, source_pod)


def read_envoy_clusters_json(
    text: str | bytes | dict[str, Any], *, source_cluster: str | None = None, source_pod: str | None = None
) -> pd.DataFrame:
    """Endpoints from Envoy admin ``/clusters?format=json`` (text, bytes or the parsed object).

    >>> len(read_envoy_clusters_json("{}"))      # an Envoy with no cluster omits the list
    0
    """
    with gc_paused():
        return _read(lambda cols: _read_json(text, "envoy-json", cols), source_cluster, source_pod)


def read_envoy_clusters_text(
    text: str | bytes, *, source_cluster: str | None = None, source_pod: str | None = None
) -> pd.DataFrame:
    """Endpoints from Envoy admin ``/clusters`` text.

    >>> lines = ["c1::10.0.0.1:80::health_flags::/failed_outlier_check", "c1::10.0.0.1:80::weight::3"]
    >>> df = read_envoy_clusters_text("\\n".join(lines))
    >>> df[["address", "health", "outlier_check", "weight"]].values.tolist()
    [['10.0.0.1', 'HEALTHY', 'FAILED', 3]]
    """
    return _read(lambda cols: _envoy_text(_to_text(text), cols), source_cluster, source_pod)


def read_istioctl_table(
    text: str | bytes, *, source_cluster: str | None = None, source_pod: str | None = None
) -> pd.DataFrame:
    """Endpoints from the table ``istioctl proxy-config endpoint`` prints.

    >>> t = "NAME           STATUS     LOCALITY     CLUSTER\\n10.0.0.9:80    HEALTHY    us-east/a    agent"
    >>> read_istioctl_table(t)[["address", "region", "zone", "subzone", "service"]].values.tolist()
    [['10.0.0.9', 'us-east', 'a', <NA>, <NA>]]
    """
    return _read(lambda cols: _istioctl_table(_to_text(text), cols), source_cluster, source_pod)


def read_istioctl_json(
    text: str | bytes | list[Any], *, source_cluster: str | None = None, source_pod: str | None = None
) -> pd.DataFrame:
    """Endpoints from ``istioctl proxy-config endpoint -o json`` (cluster statuses or load assignments).

    >>> df = read_istioctl_json('[{"clusterName": "agent", "endpoints": [{"lbEndpoints": [{"endpoint": '
    ...     '{"address": {"pipe": {"path": "./etc/istio/proxy/XDS"}}}}]}]}]')
    >>> df[["address", "health", "weight"]].values.tolist()
    [['./etc/istio/proxy/XDS', 'UNKNOWN', 1]]
    """
    return _read(lambda cols: _read_json(text, "istioctl-json", cols), source_cluster, source_pod)


def read_config_dump(
    text: str | bytes | dict[str, Any], *, source_cluster: str | None = None, source_pod: str | None = None
) -> pd.DataFrame:
    """Endpoints from an Envoy config dump with EDS (``config_dump?include_eds``).

    >>> read_config_dump('{"configs": [{"@type": "x.EndpointsConfigDump"}]}').shape
    (0, 17)
    """
    return _read(lambda cols: _read_json(text, "config-dump", cols), source_cluster, source_pod)
