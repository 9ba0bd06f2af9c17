"""The endpoints a proxy holds, from whatever the user has: rows of the ``endpoints`` schema.

:func:`read_endpoints` detects the format and reads any of:

- Envoy admin ``/clusters?format=json`` (``{"cluster_statuses": [...]}``; ``{}`` when empty);
- Envoy admin ``/clusters`` text (``cluster::address:port::stat::value`` lines);
- ``istioctl proxy-config endpoint`` tables: ``ENDPOINT STATUS OUTLIER CHECK CLUSTER`` (live pod,
  from ``/clusters``), ``NAME STATUS LOCALITY CLUSTER`` (``--file`` config dump, from EDS), and the
  older ``ENDPOINT STATUS CLUSTER`` / ``ENDPOINT CLUSTER``;
- ``istioctl proxy-config endpoint -o json``: a list of cluster statuses (live) or of
  ClusterLoadAssignments (``--file``), camelCase or snake_case;
- an Envoy config dump with EDS (``config_dump?include_eds``: ``dynamic_endpoint_configs`` and
  ``static_endpoint_configs`` of the ``EndpointsConfigDump``), or one ClusterLoadAssignment.

Conventions, whatever the format:

- ``service`` is the FQDN of an Istio cluster name (``outbound|5000|v1|helloworld.sample.svc.cluster.local``
  or the SNI form ``outbound_.5000_.v1_.helloworld.sample.svc.cluster.local``) and ``port`` its port;
  any other name (``agent``, ``xds-grpc``, ``inbound|5000||``) keeps ``service`` NA.
- ``address`` is the IP (no brackets for IPv6), a pipe path, or ``envoy://listener/endpoint_id`` for
  an internal address; ``endpoint_port`` is NA when the address is not a socket.
- ``health`` is the EDS health status as istioctl prints it (HEALTHY, UNHEALTHY, DRAINING, DEGRADED,
  TIMEOUT, UNKNOWN). Envoy's admin output reports TIMEOUT as UNHEALTHY and, in the text form, UNKNOWN
  as HEALTHY (``health_flags::healthy``). ``outlier_check`` is OK/FAILED, NA where the source has no
  outlier state (EDS, the ``NAME STATUS LOCALITY CLUSTER`` table).
- Zero values omitted by proto3 JSON are read as zero (``priority`` 0, admin ``weight`` 0); a
  ClusterLoadAssignment endpoint without ``load_balancing_weight`` has Envoy's default weight 1.
- Empty locality parts are NA. ``dest_cluster``, ``network`` and ``via_gateway`` are NA: no input
  says them; the checks attribute them later.

Anything that cannot be read raises :class:`meshnb.errors.ParseError` with the failing line (text) or
JSON path (JSON), never another exception.

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

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMATS",
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

FORMATS = ("envoy-json", "envoy-text", "istioctl-table", "istioctl-json", "config-dump")

# google.protobuf enum envoy.config.core.v3.HealthStatus, by number (JSON may carry either form).
_HEALTH_NAMES = ("UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED")
_HEALTH_SET = frozenset(_HEALTH_NAMES)
_OUTLIER_SET = frozenset(("OK", "FAILED"))
_UINT32_MAX = 2**32 - 1

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

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, [])

    def __len__(self) -> int:
        return len(self.address)

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
        df = pd.DataFrame({c: pd.array(data[c], dtype=columns[c]) for c in columns})
        return validate("endpoints", df)


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


def _split_host_port(text: str) -> tuple[str, int | None]:
    """``address, port`` of ``1.2.3.4:80``, ``[fd00::1]:80``, ``fd00::1:80`` (istioctl); else no port."""
    if text.startswith("["):
        close = text.find("]:")
        if close > 0:
            port_text = text[close + 2 :]
            if port_text.isascii() and port_text.isdigit() and int(port_text) <= _UINT32_MAX:
                return text[1:close], int(port_text)
        return text, None
    host, sep, port_text = text.rpartition(":")
    if sep and host and port_text.isascii() and port_text.isdigit() and int(port_text) <= _UINT32_MAX:
        return host, int(port_text)
    return text, None


# --------------------------------------------------------------------------------------------------
# JSON forms


def _json_error(message: str, path: str) -> ParseError:
    err = ParseError(f"{message} at {path}")
    err.line = path
    return err


def _load_json(text: str | bytes | dict[str, Any] | list[Any]) -> Any:
    if isinstance(text, dict | list):
        return text
    text = _to_text(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        line = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
        raise ParseError(f"invalid JSON: {exc.msg} (column {exc.colno})", line, exc.lineno) from exc
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
        if value.isascii() and value.isdigit() and int(value) <= _UINT32_MAX:
            return int(value)
    elif isinstance(value, float) and value.is_integer() and 0 <= value <= _UINT32_MAX:
        return int(value)
    raise _json_error(f"expected an unsigned 32-bit integer, got {value!r:.60}", path)


def _str(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _json_error(f"expected a string, got {type(value).__name__}", path)


def _dict(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise _json_error(f"expected an object, got {type(value).__name__}", path)


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise _json_error(f"expected a list, got {type(value).__name__}", path)


def _address(value: Any, path: str) -> tuple[str, int | None]:
    """``(address text, port)`` of an envoy.config.core.v3.Address."""
    addr = _dict(value, path)
    sock = _get(addr, "socket_address", "socketAddress")
    if sock is not None:
        sock = _dict(sock, path + ".socket_address")
        host = _str(sock.get("address"), path + ".socket_address.address") or ""
        port = _uint(_get(sock, "port_value", "portValue"), path + ".socket_address.port_value")
        return host, port
    pipe = addr.get("pipe")
    if pipe is not None:
        return _str(_dict(pipe, path + ".pipe").get("path"), path + ".pipe.path") or "", None
    internal = _get(addr, "envoy_internal_address", "envoyInternalAddress")
    if internal is not None:
        internal = _dict(internal, path + ".envoy_internal_address")
        listener = _str(_get(internal, "server_listener_name", "serverListenerName"), path) or ""
        endpoint_id = _str(_get(internal, "endpoint_id", "endpointId"), path) or ""
        return f"envoy://{listener}/{endpoint_id}", None
    raise _json_error("address has no socket_address, pipe or envoy_internal_address", path)


def _health_name(value: Any, path: str) -> str:
    if value is None:
        return "UNKNOWN"
    if isinstance(value, str) and value in _HEALTH_SET:
        return value
    if type(value) is int and 0 <= value < len(_HEALTH_NAMES):
        return _HEALTH_NAMES[value]
    raise _json_error(f"unknown health status {value!r:.60}", path)


def _cluster_statuses(statuses: list[Any], cols: _Columns, path: str) -> None:
    """Rows from admin ClusterStatus objects (``/clusters?format=json``, istioctl live ``-o json``)."""
    add = cols.add
    for i, cluster in enumerate(statuses):
        cpath = f"{path}[{i}]"
        if not isinstance(cluster, dict):
            raise _json_error("expected a cluster status object", cpath)
        name = cluster.get("name")
        if not isinstance(name, str):
            raise _json_error("cluster status has no name", cpath + ".name")
        parsed = parse_cluster_name(name)
        hosts = _get(cluster, "host_statuses", "hostStatuses")
        if hosts is None:
            continue
        if not isinstance(hosts, list):
            raise _json_error("expected a list", cpath + ".host_statuses")
        for j, host in enumerate(hosts):
            hpath = f"{cpath}.host_statuses[{j}]"
            if not isinstance(host, dict):
                raise _json_error("expected a host status object", hpath)
            address, port = _address(host.get("address"), hpath + ".address")
            health = _dict(_get(host, "health_status", "healthStatus"), hpath + ".health_status")
            eds = _health_name(_get(health, "eds_health_status", "edsHealthStatus"), hpath + ".health_status")
            failed = _get(health, "failed_outlier_check", "failedOutlierCheck")
            if failed is not None and not isinstance(failed, bool):
                raise _json_error("expected a boolean", hpath + ".health_status.failed_outlier_check")
            loc = _dict(host.get("locality"), hpath + ".locality")
            add(
                name,
                parsed,
                address,
                port,
                eds,
                "FAILED" if failed else "OK",
                _uint(host.get("weight"), hpath + ".weight"),
                _uint(host.get("priority"), hpath + ".priority"),
                _str(loc.get("region"), hpath + ".locality.region"),
                _str(loc.get("zone"), hpath + ".locality.zone"),
                _str(_get(loc, "sub_zone", "subZone"), hpath + ".locality.sub_zone"),
            )


def _load_assignment(cla: Any, cols: _Columns, path: str) -> None:
    """Rows from one ClusterLoadAssignment (EDS, config dump, istioctl ``--file -o json``)."""
    cla = _dict(cla, path)
    name = _get(cla, "cluster_name", "clusterName")
    if not isinstance(name, str):
        raise _json_error("cluster load assignment has no cluster_name", path + ".cluster_name")
    parsed = parse_cluster_name(name)
    add = cols.add
    for i, llb_value in enumerate(_list(cla.get("endpoints"), path + ".endpoints")):
        lpath = f"{path}.endpoints[{i}]"
        llb = _dict(llb_value, lpath)
        loc = _dict(llb.get("locality"), lpath + ".locality")
        region = _str(loc.get("region"), lpath + ".locality.region")
        zone = _str(loc.get("zone"), lpath + ".locality.zone")
        subzone = _str(_get(loc, "sub_zone", "subZone"), lpath + ".locality.sub_zone")
        priority = _uint(llb.get("priority"), lpath + ".priority")
        for j, lb_value in enumerate(
            _list(_get(llb, "lb_endpoints", "lbEndpoints"), lpath + ".lb_endpoints")
        ):
            epath = f"{lpath}.lb_endpoints[{j}]"
            lb = _dict(lb_value, epath)
            endpoint = _dict(lb.get("endpoint"), epath + ".endpoint")
            address, port = _address(endpoint.get("address"), epath + ".endpoint.address")
            health = _health_name(_get(lb, "health_status", "healthStatus"), epath + ".health_status")
            weight = _uint(_get(lb, "load_balancing_weight", "loadBalancingWeight"), epath, default=1)
            add(name, parsed, address, port, health, None, weight, priority, region, zone, subzone)


def _endpoints_section(section: dict[str, Any], cols: _Columns, path: str) -> None:
    for key, camel in (
        ("static_endpoint_configs", "staticEndpointConfigs"),
        ("dynamic_endpoint_configs", "dynamicEndpointConfigs"),
    ):
        for i, item in enumerate(_list(_get(section, key, camel), f"{path}.{key}")):
            ipath = f"{path}.{key}[{i}]"
            config = _get(_dict(item, ipath), "endpoint_config", "endpointConfig")
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
        raise _json_error(f"expected an object or a list, got {type(doc).__name__}", "$")
    if not doc or "cluster_statuses" in doc or "clusterStatuses" in doc:
        return "envoy-json"
    if "configs" in doc or _is_endpoints_section(doc) or "cluster_name" in doc or "clusterName" in doc:
        return "config-dump"
    raise _json_error(
        "not Envoy /clusters JSON, an istioctl endpoint list or a config dump with EDS "
        f"(keys: {sorted(map(str, doc))[:6]})",
        "$",
    )


def _read_json_doc(doc: Any, kind: str, cols: _Columns) -> None:
    if kind == "envoy-json":
        if not isinstance(doc, dict):
            raise _json_error("expected Envoy /clusters JSON (an object)", "$")
        statuses = _list(_get(doc, "cluster_statuses", "clusterStatuses"), "$.cluster_statuses")
        _cluster_statuses(statuses, cols, "$.cluster_statuses")
    elif kind == "istioctl-json":
        if not isinstance(doc, list):
            raise _json_error("expected istioctl's endpoint list (a JSON list)", "$")
        for i, item in enumerate(doc):
            if not isinstance(item, dict):
                raise _json_error("expected an object", f"$[{i}]")
            if "clusterName" in item or "cluster_name" in item:
                _load_assignment(item, cols, f"$[{i}]")
            elif "name" in item:
                _cluster_statuses([item], cols, "$")
            else:
                raise _json_error("neither a cluster status (name) nor a load assignment", f"$[{i}]")
    else:
        if not isinstance(doc, dict):
            raise _json_error("expected an Envoy config dump (an object)", "$")
        if "configs" in doc:
            configs = _list(doc["configs"], "$.configs")
            found = False
            for i, config_value in enumerate(configs):
                config = _dict(config_value, f"$.configs[{i}]")
                if _is_endpoints_section(config):
                    found = True
                    _endpoints_section(config, cols, f"$.configs[{i}]")
            if not found:
                raise _json_error(
                    "config dump has no EndpointsConfigDump: fetch config_dump?include_eds", "$"
                )
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
            address, port = _split_host_port(host_text)
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
            if not (value.isascii() and value.isdigit() and int(value) <= _UINT32_MAX):
                raise ParseError(f"{stat} is not an unsigned integer", line, lineno)
            row[5 if stat == "weight" else 6] = int(value)
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
    ("ENDPOINT", "STATUS", "CLUSTER"): ("endpoint", "status", "cluster"),
    ("ENDPOINT", "CLUSTER"): ("endpoint", "cluster"),
}


def _table_fields(line: str) -> tuple[str, ...] | None:
    return _TABLE_HEADERS.get(tuple(line.split()))


def _row_fields(words: list[str]) -> tuple[str, ...] | None:
    """The layout of a table row seen without its header, as the guide's ``| grep helloworld`` prints.

    >>> _row_fields("10.0.0.11:5000 HEALTHY OK outbound|5000||helloworld.sample.svc.cluster.local".split())
    ('endpoint', 'status', 'outlier', 'cluster')
    >>> _row_fields(["ENDPOINT", "STATUS"]) is None
    True
    """
    if not _is_endpoint(words[0]) or not _is_cluster_name(words[-1]):
        return None
    n = len(words)
    if n == 4 and words[1] in _HEALTH_SET:
        if words[2] in _OUTLIER_SET:
            return ("endpoint", "status", "outlier", "cluster")
        return ("endpoint", "status", "locality", "cluster")
    if n == 3 and words[1] in _HEALTH_SET:
        return ("endpoint", "status", "cluster")
    if n == 2:
        return ("endpoint", "cluster")
    return None


def _is_endpoint(word: str) -> bool:
    """Whether a table's first word is an endpoint: ``ip:port``, ``[v6]:port``, a pipe or internal one."""
    return word.startswith(("envoy://", "unix://", "endpoint/")) or _split_host_port(word)[1] is not None


def _is_cluster_name(word: str) -> bool:
    """Whether a table's last word is an Envoy cluster name as Istio makes them (``outbound|5000||...``)."""
    return "|" in word or _SNI_NAME.match(word) is not None


def _istioctl_table(text: str, cols: _Columns) -> None:
    """Rows from ``istioctl proxy-config endpoint`` tables (headers may repeat, e.g. several pods)."""
    fields: tuple[str, ...] | None = None
    add = cols.add
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
        n = len(words)
        status = outlier = None
        region = zone = subzone = None
        if row_fields[2:3] == ("outlier",):
            if n != 4:
                raise ParseError("expected ENDPOINT STATUS OUTLIER-CHECK CLUSTER", line, lineno)
            status, outlier = words[1], words[2]
        elif row_fields[2:3] == ("locality",):
            if n not in (3, 4):
                raise ParseError("expected NAME STATUS [LOCALITY] CLUSTER", line, lineno)
            status = words[1]
            if n == 4:
                loc = words[2].split("/", 2)
                region = loc[0]
                zone = loc[1] if len(loc) > 1 else None
                subzone = loc[2] if len(loc) > 2 else None
        elif len(row_fields) == 3:
            if n != 3:
                raise ParseError("expected ENDPOINT STATUS CLUSTER", line, lineno)
            status = words[1]
        elif n != 2:
            raise ParseError("expected ENDPOINT CLUSTER", line, lineno)
        if status is not None and status not in _HEALTH_SET:
            raise ParseError(f"unknown endpoint status {status!r}", line, lineno)
        if outlier is not None and outlier not in _OUTLIER_SET:
            raise ParseError(f"unknown outlier check {outlier!r}", line, lineno)
        endpoint = words[0]
        if endpoint.startswith("endpoint/"):  # --include-config-type (istioctl pc all)
            endpoint = endpoint[9:]
        if endpoint.startswith("unix://"):  # a pipe, as the live table prints it
            address, port = endpoint[7:], None
        elif endpoint.startswith("envoy://"):
            address, port = endpoint, None
        else:
            address, port = _split_host_port(endpoint)
        cluster = words[-1]
        add(
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


# --------------------------------------------------------------------------------------------------
# Public API


def detect_format(text: str | bytes) -> str:
    """Which of :data:`FORMATS` ``text`` is, from its first non-blank characters.

    Rules: ``{`` or ``[`` first -> JSON (an object with ``cluster_statuses`` or no key: envoy-json;
    with ``configs``, an ``EndpointsConfigDump`` or a ``cluster_name``: config-dump; a list:
    istioctl-json); a first line that is an istioctl header -> istioctl-table; a first line with
    ``::`` -> envoy-text. Anything else is a :class:`ParseError`.

    >>> detect_format("NAME   STATUS   LOCALITY   CLUSTER\\n")
    'istioctl-table'
    >>> detect_format('{"cluster_statuses": []}'), detect_format("[]")
    ('envoy-json', 'istioctl-json')
    >>> detect_format("outbound|80||a.b.svc.cluster.local::added_via_api::true")
    'envoy-text'
    """
    return _detect(text)[0]


def _detect(text: str | bytes | dict[str, Any] | list[Any]) -> tuple[str, Any]:
    """``(format, document)``: the parsed JSON for JSON forms, the text for text forms."""
    if isinstance(text, dict | list):
        return _json_kind(text), text
    text = _to_text(text)
    start = _NON_SPACE.search(text)
    if start is None:
        return "envoy-text", text  # Envoy with no cluster prints nothing
    begin = start.start()
    if text[begin] in "{[":
        doc = _load_json(text)
        return _json_kind(doc), doc
    end = text.find("\n", begin)
    first = text[begin : end if end >= 0 else len(text)].rstrip("\r")
    if _table_fields(first) is not None or _row_fields(first.split()) is not None:
        return "istioctl-table", text
    if "::" in first:
        return "envoy-text", text
    lineno = text.count("\n", 0, begin) + 1
    raise ParseError(
        "not Envoy /clusters output (JSON or text), istioctl proxy-config endpoint output or a config dump",
        first,
        lineno,
    )


def _read(
    reader: Callable[[_Columns], object], source_cluster: str | None, source_pod: str | None
) -> pd.DataFrame:
    cols = _Columns()
    reader(cols)
    return cols.to_frame(source_cluster, source_pod)


def read_endpoints(
    text: str | bytes, *, source_cluster: str | None = None, source_pod: str | None = None
) -> pd.DataFrame:
    """Endpoints (``endpoints`` schema) from any supported format, detected by :func:`detect_format`.

    >>> js = '''{"cluster_statuses": [{"name": "outbound|5000||helloworld.sample.svc.cluster.local",
    ...   "host_statuses": [{"address": {"socket_address": {"address": "10.1.0.4", "port_value": 5000}},
    ...     "health_status": {"eds_health_status": "HEALTHY"}, "weight": 1,
    ...     "locality": {"region": "us-west", "zone": "b"}}]}]}'''
    >>> row = read_endpoints(js, source_cluster="cluster2").iloc[0]
    >>> row["source_cluster"], row["address"], row["endpoint_port"], row["priority"], row["region"]
    ('cluster2', '10.1.0.4', np.int64(5000), np.int64(0), 'us-west')
    """
    kind, doc = _detect(text)
    logger.debug("read_endpoints: %s", kind)
    if kind == "envoy-text":
        return _read(lambda cols: _envoy_text(doc, cols), source_cluster, source_pod)
    if kind == "istioctl-table":
        return _read(lambda cols: _istioctl_table(doc, cols), source_cluster, source_pod)
    return _read(lambda cols: _read_json_doc(doc, kind, cols), source_cluster, source_pod)


def read_envoy_clusters_json(
    text: str | bytes | dict[str, Any], *, source_cluster: str | None = None, source_pod: str | None = None
) -> pd.DataFrame:
    """Endpoints from Envoy admin ``/clusters?format=json`` (text, bytes or the parsed object).

    >>> len(read_envoy_clusters_json("{}"))      # an Envoy with no cluster omits the list
    0
    """
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
