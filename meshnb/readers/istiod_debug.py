"""istiod's multicluster debug views (``/debug/clusterz``, ``networkz``, ``endpointShardz``, ``syncz``).

One reader per view, each returning a DataFrame of its schema in :mod:`meshnb.schemas`:

- :func:`read_clusterz` (``clusterz``): the clusters istiod reads, ``[]cluster.DebugInfo``
  (``{"id", "secretName", "syncStatus"}``); the config cluster has an empty ``secretName``, read NA.
- :func:`read_networkz` (``networkz``): the cross-network gateways, ``[]model.NetworkGateway``
  (Go field names as keys: ``Network``, ``Cluster``, ``Addr``, ``Port``, and from 1.24 ``HBONEPort``
  and ``ServiceAccount`` ``{"Namespace", "Name"}``). A port of 0 (``HBONEPort`` 0: no HBONE) is NA.
- :func:`read_endpoint_shards` (``endpoint_shards``): ``map[hostname]map[namespace]EndpointShards``,
  a row per ``IstioEndpoint`` of each shard (``"provider/cluster"``). ``Address`` (up to 1.23) or
  ``Addresses`` (1.24 on); ``HealthStatus`` 1-4 is HEALTHY, UNHEALTHY, DRAINING, TERMINATING; 0 and
  ``LbWeight`` 0 (unset) are NA.
- :func:`read_syncz` (``syncz``): ``[]SyncStatus``, a row per proxy and xDS type: the five
  ``*_sent``/``*_acked`` nonce pairs (CDS, LDS, RDS, EDS, ECDS) always, and from 1.24 every type of
  ``resources`` (keyed by type URL, with ``sentTime`` and ``lastError``). ``status`` is istioctl's
  reading of a pair (``xdsStatus`` in istioctl/pkg/writer/pilot/status.go): NOT SENT (IGNORED for a
  ztunnel), SYNCED, or STALE.

- :func:`read_ambientz` (``endpoints``): ``/debug/ambientz``, the workloads istiod sends every ztunnel
  (``{"workloads", "services", "policies"}``, each a ``workloadapi`` message in protobuf's JSON:
  camelCase, defaults left out, ``bytes`` in base64). A row per workload and port of each service it
  backs (``services`` keyed ``namespace/hostname``); a split-horizon workload (a remote network's pods
  of a global service as one, ``pilot/pkg/serviceregistry/ambient/multicluster.go``) has no address, a
  ``networkGateway`` (``via_gateway``) and its ``capacity`` (the pods behind it) as ``weight``;
  ``dest_cluster`` is its ``clusterId`` (the gateway's cluster).

Each reader takes what ``curl localhost:15014/debug/<view>`` or ``istioctl x internal-debug <view>``
prints: one JSON document, several back to back (one per istiod), or ``--all``'s object of istiod
name to the document as a string. ``istiod`` names the istiod when the input does not.

Anything else raises :class:`meshnb.errors.ParseError` naming the JSON path and what was expected.

>>> read_clusterz('[{"id":"cluster1","secretName":"","syncStatus":"synced"}]', istiod="istiod-1")[
...     ["istiod", "cluster", "secret", "status"]].values.tolist()
[['istiod-1', 'cluster1', <NA>, 'synced']]
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from meshnb.errors import ParseError
from meshnb.readers.json_values import as_dict, as_list, json_documents, json_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SHORT_TYPES",
    "read_ambientz",
    "read_clusterz",
    "read_endpoint_shards",
    "read_networkz",
    "read_syncz",
    "short_type",
]

_PORT_MAX = 65535
_UINT32_MAX = 2**32 - 1

#: Type URLs istiod's short names stand for (pkg/model/xds.go, GetShortType).
SHORT_TYPES = {
    "type.googleapis.com/envoy.config.cluster.v3.Cluster": "CDS",
    "type.googleapis.com/envoy.config.listener.v3.Listener": "LDS",
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": "RDS",
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": "EDS",
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret": "SDS",
    "type.googleapis.com/istio.networking.nds.v1.NameTable": "NDS",
    "type.googleapis.com/istio.mesh.v1alpha1.ProxyConfig": "PCDS",
    "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig": "ECDS",
    "type.googleapis.com/istio.workload.Address": "WDS",
    "type.googleapis.com/istio.workload.Workload": "WDS",
    "type.googleapis.com/istio.security.Authorization": "WADS",
}
_TYPE_URLS = {
    "CDS": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "LDS": "type.googleapis.com/envoy.config.listener.v3.Listener",
    "RDS": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "EDS": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    "ECDS": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
}
#: SyncStatus's nonce fields per type (pilot/pkg/xds/debug.go), in istiod's order.
_NONCE_FIELDS = (
    ("CDS", "cluster"),
    ("LDS", "listener"),
    ("RDS", "route"),
    ("EDS", "endpoint"),
    ("ECDS", "extensionconfig"),
)
_HEALTH = {1: "HEALTHY", 2: "UNHEALTHY", 3: "DRAINING", 4: "TERMINATING"}

#: The span a pandas timestamp (nanoseconds since 1970 in 64 bits) can hold.
_EARLIEST = dt.datetime(1677, 9, 22, tzinfo=dt.UTC)
_LATEST = dt.datetime(2262, 4, 11, tzinfo=dt.UTC)


def short_type(type_url: str) -> str:
    """istioctl's short name of an xDS type URL (the URL itself when it has none).

    >>> short_type("type.googleapis.com/envoy.config.cluster.v3.Cluster"), short_type("x")
    ('CDS', 'x')
    """
    return SHORT_TYPES.get(type_url, type_url)


# --------------------------------------------------------------------------------------------------
# istiod's answers


def per_istiod(text: str | bytes, istiod: str | None) -> Iterator[tuple[str | None, Any, str]]:
    """``(istiod, document, path)`` of each document; ``--all``'s ``{istiod: "json"}`` is unwrapped."""
    for document, path in json_documents(text):
        if isinstance(document, dict) and document and all(isinstance(v, str) for v in document.values()):
            for name, inner in document.items():
                where = f"{path}[{json.dumps(name)}]"
                try:
                    values = list(json_documents(inner))
                except ParseError as err:
                    raise json_error(f"expected istiod's answer as JSON text ({err})", where) from err
                for value, inner_path in values:
                    yield name, value, where + inner_path[1:]
        else:
            yield istiod, document, path


def as_str(value: Any, path: str) -> str | None:
    """The string, or None when absent or empty (Go's zero value is the absence of a value)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    raise json_error(f"expected a string, got {type(value).__name__}", path)


def as_uint(value: Any, path: str, maximum: int = _UINT32_MAX) -> int | None:
    """A non-negative integer up to ``maximum``; 0 and absence are None (Go's unset value)."""
    if value is None:
        return None
    if type(value) is int and 0 <= value <= maximum:
        return value or None
    what = "a port (0 to 65535)" if maximum == _PORT_MAX else f"an integer from 0 to {maximum}"
    raise json_error(f"expected {what}, got {value!r:.60}", path)


def as_time(value: Any, path: str) -> dt.datetime | None:
    """An RFC 3339 time; Go's zero time (year 1) and absence are None."""
    text = as_str(value, path)
    if text is None:
        return None
    head, dot, tail = text.partition(".")
    if dot:  # Go prints up to 9 fractional digits, Python reads up to 6
        digits = len(tail) - len(tail.lstrip("0123456789"))
        tail = tail[: min(digits, 6)] + tail[digits:]
        text = head + "." + tail if digits else head + tail
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise json_error(f"expected an RFC 3339 time, got {value!r:.60}", path) from None
    if when.tzinfo is None:
        raise json_error(f"expected an RFC 3339 time with a zone, got {value!r:.60}", path)
    when = when.astimezone(dt.UTC)
    if when.year == 1:
        return None
    if not _EARLIEST <= when <= _LATEST:
        raise json_error(f"expected a time between 1677 and 2262, got {value!r:.60}", path)
    return when


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    from meshnb.schemas import frame

    return frame(name, rows)


# --------------------------------------------------------------------------------------------------
# The readers


def _list_items(text: str | bytes, istiod: str | None) -> Iterator[tuple[str | None, dict[str, Any], str]]:
    """``(istiod, item, JSON path)`` of each object in each istiod's list (clusterz, networkz, syncz)."""
    for name, document, path in per_istiod(text, istiod):
        for i, raw in enumerate(as_list(document, path)):
            where = f"{path}[{i}]"
            yield name, as_dict(raw, where), where


def read_clusterz(text: str | bytes, *, istiod: str | None = None) -> pd.DataFrame:
    """istiod's ``/debug/clusterz`` as a ``clusterz`` DataFrame: a row per cluster istiod reads.

    >>> df = read_clusterz('[{"id":"c0","secretName":"istio-system/s0","syncStatus":"syncing"}]')
    >>> df[["cluster", "secret", "status"]].values.tolist()
    [['c0', 'istio-system/s0', 'syncing']]
    """
    rows = []
    for name, item, where in _list_items(text, istiod):
        cluster = as_str(item.get("id"), where + ".id")
        if cluster is None:
            raise json_error("expected a cluster id", where + ".id")
        rows.append(
            {
                "istiod": name,
                "cluster": cluster,
                "secret": as_str(item.get("secretName"), where + ".secretName"),
                "status": as_str(item.get("syncStatus"), where + ".syncStatus"),
            }
        )
    return _frame("clusterz", rows)


def read_networkz(text: str | bytes, *, istiod: str | None = None) -> pd.DataFrame:
    """istiod's ``/debug/networkz`` as a ``networkz`` DataFrame: a row per cross-network gateway.

    >>> df = read_networkz('[{"Network":"network2","Cluster":"cluster2","Addr":"172.18.0.9",'
    ...                    '"Port":15443,"HBONEPort":0,"ServiceAccount":{"Namespace":"","Name":""}}]')
    >>> df[["network", "cluster", "address", "port", "hbone_port", "service_account"]].values.tolist()
    [['network2', 'cluster2', '172.18.0.9', 15443, <NA>, <NA>]]
    """
    rows = []
    for name, item, where in _list_items(text, istiod):
        account = as_dict(item.get("ServiceAccount"), where + ".ServiceAccount")
        namespace = as_str(account.get("Namespace"), where + ".ServiceAccount.Namespace")
        account_name = as_str(account.get("Name"), where + ".ServiceAccount.Name")
        rows.append(
            {
                "istiod": name,
                "network": as_str(item.get("Network"), where + ".Network"),
                "cluster": as_str(item.get("Cluster"), where + ".Cluster"),
                "address": as_str(item.get("Addr"), where + ".Addr"),
                "port": as_uint(item.get("Port"), where + ".Port", _PORT_MAX),
                "hbone_port": as_uint(item.get("HBONEPort"), where + ".HBONEPort", _PORT_MAX),
                "service_account": f"{namespace or ''}/{account_name}" if account_name else None,
            }
        )
    return _frame("networkz", rows)


def read_endpoint_shards(text: str | bytes, *, istiod: str | None = None) -> pd.DataFrame:
    """istiod's ``/debug/endpointShardz`` as an ``endpoint_shards`` DataFrame: a row per endpoint.

    >>> df = read_endpoint_shards('{"helloworld.sample.svc.cluster.local": {"sample": {"Shards": '
    ...     '{"Kubernetes/cluster2": [{"Addresses": ["10.20.0.7"], "EndpointPort": 5000, '
    ...     '"HealthStatus": 1, "Network": "network2"}]}, "ServiceAccounts": {}}}}')
    >>> df[["service", "provider", "shard_cluster", "address", "endpoint_port", "health"]].values.tolist()
    [['helloworld.sample.svc.cluster.local', 'Kubernetes', 'cluster2', '10.20.0.7', 5000, 'HEALTHY']]
    """
    rows = []
    for name, document, path in per_istiod(text, istiod):
        for service, by_namespace in as_dict(document, path).items():
            service_path = f"{path}[{json.dumps(service)}]"
            for namespace, shards in as_dict(by_namespace, service_path).items():
                namespace_path = f"{service_path}[{json.dumps(namespace)}]"
                shards_path = namespace_path + ".Shards"
                for key, endpoints in as_dict(
                    as_dict(shards, namespace_path).get("Shards"), shards_path
                ).items():
                    key_path = f"{shards_path}[{json.dumps(key)}]"
                    provider, slash, shard_cluster = key.partition("/")
                    if not slash:
                        raise json_error("expected a shard key 'provider/cluster'", key_path)
                    for i, endpoint in enumerate(as_list(endpoints, key_path)):
                        rows.append(
                            _shard_endpoint(
                                as_dict(endpoint, f"{key_path}[{i}]"),
                                f"{key_path}[{i}]",
                                {
                                    "istiod": name,
                                    "service": service or None,
                                    "namespace": namespace or None,
                                    "provider": provider or None,
                                    "shard_cluster": shard_cluster or None,
                                },
                            )
                        )
    return _frame("endpoint_shards", rows)


def _shard_endpoint(endpoint: dict[str, Any], path: str, row: dict[str, Any]) -> dict[str, Any]:
    addresses = [
        as_str(a, f"{path}.Addresses[{i}]") for i, a in enumerate(as_list(endpoint.get("Addresses"), path))
    ]
    if not addresses:
        addresses = [as_str(endpoint.get("Address"), path + ".Address")]
    known = [a for a in addresses if a]
    locality = as_dict(endpoint.get("Locality"), path + ".Locality")
    health = endpoint.get("HealthStatus")
    if health is not None and (type(health) is not int or not 0 <= health <= 4):
        raise json_error(f"expected a HealthStatus from 0 to 4, got {health!r:.60}", path + ".HealthStatus")
    return {
        **row,
        "address": known[0] if known else None,
        "addresses": ",".join(known) if known else None,
        "endpoint_port": as_uint(endpoint.get("EndpointPort"), path + ".EndpointPort", _PORT_MAX),
        "port_name": as_str(endpoint.get("ServicePortName"), path + ".ServicePortName"),
        "service_account": as_str(endpoint.get("ServiceAccount"), path + ".ServiceAccount"),
        "network": as_str(endpoint.get("Network"), path + ".Network"),
        "locality": as_str(locality.get("Label"), path + ".Locality.Label"),
        "locality_cluster": as_str(locality.get("ClusterID"), path + ".Locality.ClusterID"),
        "weight": as_uint(endpoint.get("LbWeight"), path + ".LbWeight"),
        "tls_mode": as_str(endpoint.get("TLSMode"), path + ".TLSMode"),
        "workload": as_str(endpoint.get("WorkloadName"), path + ".WorkloadName"),
        "health": _HEALTH.get(health) if health is not None else None,
        "node": as_str(endpoint.get("NodeName"), path + ".NodeName"),
    }


def _pair_status(sent: str | None, acked: str | None, proxy_type: str | None) -> str:
    """istioctl's reading of a sent/acked nonce pair (xdsStatus, istioctl/pkg/writer/pilot/status.go)."""
    if sent is None:
        return "IGNORED" if proxy_type == "ztunnel" else "NOT SENT"
    return "SYNCED" if sent == acked else "STALE"


def read_syncz(text: str | bytes, *, istiod: str | None = None) -> pd.DataFrame:
    """istiod's ``/debug/syncz`` as a ``syncz`` DataFrame: a row per proxy and xDS type.

    >>> df = read_syncz('[{"cluster_id":"cluster1","proxy":"sleep-1.sample","istio_version":"1.24.0",'
    ...                 '"cluster_sent":"n1","cluster_acked":"n1","listener_sent":"n2"}]')
    >>> df[["type", "status"]].values.tolist()[:3]
    [['CDS', 'SYNCED'], ['LDS', 'STALE'], ['RDS', 'NOT SENT']]
    """
    rows = []
    for name, item, where in _list_items(text, istiod):
        proxy = as_str(item.get("proxy"), where + ".proxy")
        proxy_type = as_str(item.get("proxy_type"), where + ".proxy_type")
        common = {
            "istiod": name,
            "proxy": proxy,
            "proxy_type": proxy_type,
            "cluster": as_str(item.get("cluster_id"), where + ".cluster_id"),
            "istio_version": as_str(item.get("istio_version"), where + ".istio_version"),
            "proxy_version": as_str(item.get("proxy_version"), where + ".proxy_version"),
        }
        resources = as_dict(item.get("resources"), where + ".resources")
        seen = set()
        for short, field in _NONCE_FIELDS:
            url = _TYPE_URLS[short]
            seen.add(url)
            sent = as_str(item.get(field + "_sent"), f"{where}.{field}_sent")
            acked = as_str(item.get(field + "_acked"), f"{where}.{field}_acked")
            extra = _resource(resources.get(url), f"{where}.resources[{json.dumps(url)}]")
            rows.append(
                {
                    **common,
                    "type": short,
                    "type_url": url,
                    "sent": sent,
                    "acked": acked,
                    "status": _pair_status(sent, acked, proxy_type),
                    **extra,
                }
            )
        for url in sorted(set(resources) - seen):
            resource_path = f"{where}.resources[{json.dumps(url)}]"
            status = as_dict(resources[url], resource_path)
            sent = as_str(status.get("sent"), resource_path + ".sent")
            acked = as_str(status.get("acked"), resource_path + ".acked")
            rows.append(
                {
                    **common,
                    "type": short_type(url),
                    "type_url": url,
                    "sent": sent,
                    "acked": acked,
                    "status": _pair_status(sent, acked, proxy_type),
                    **_resource(status, resource_path),
                }
            )
    return _frame("syncz", rows)


def _resource(value: Any, path: str) -> dict[str, Any]:
    status = as_dict(value, path)
    return {
        "sent_time": as_time(status.get("sentTime"), path + ".sentTime"),
        "last_error": as_str(status.get("lastError"), path + ".lastError"),
    }


def _wds_address(value: Any, path: str) -> str | None:
    """A WDS address as ``/debug/ambientz`` prints it: base64 of the IP's text, or of its raw bytes.

    istiod rewrites the raw bytes as text before protobuf's JSON encodes them in base64.
    """
    text = as_str(value, path)
    if text is None:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise json_error(f"expected base64 bytes, got {text!r:.60}", path) from None
    try:
        return str(ipaddress.ip_address(raw.decode("ascii")))
    except (UnicodeDecodeError, ValueError):
        pass
    if len(raw) in (4, 16):
        return str(ipaddress.ip_address(raw))
    raise json_error(f"expected an IP address, got {raw[:40]!r}", path)


def read_ambientz(
    text: str | bytes,
    *,
    source_cluster: str | None = None,
    source_pod: str | None = None,
    service: str | None = None,
) -> pd.DataFrame:
    """istiod's ``/debug/ambientz`` as ``endpoints`` rows: what it sends ztunnels for each service.

    ``service`` (a hostname) keeps only that service's rows. ``port`` is the service port,
    ``endpoint_port`` the target port (0, "the same", is the service port), ``health`` HEALTHY unless
    ``status`` says UNHEALTHY, ``weight`` the ``capacity`` (ztunnel's default 1 when absent).

    >>> doc = {"workloads": [{"uid": "network2/SplitHorizonWorkload/istio-system/eastwest/sample/hw",
    ...     "name": "network2/SplitHorizonWorkload/istio-system/eastwest/sample/hw", "namespace": "sample",
    ...     "network": "network2", "tunnelProtocol": "HBONE", "clusterId": "cluster2", "capacity": 3,
    ...     "networkGateway": {"address": {"network": "network2", "address": "MTcyLjE4LjIuMTAw"},
    ...                        "hboneMtlsPort": 15008},
    ...     "services": {"sample/hw.sample.svc.cluster.local": {"ports": [{"servicePort": 5000}]}}}]}
    >>> df = read_ambientz(json.dumps(doc))
    >>> df[["service", "port", "address", "weight", "dest_cluster", "network", "via_gateway"]].values.tolist()
    [['hw.sample.svc.cluster.local', 5000, <NA>, 3, 'cluster2', 'network2', True]]
    """
    rows = []
    for _name, document, path in per_istiod(text, None):
        workloads_path = path + ".workloads"
        for i, raw in enumerate(as_list(as_dict(document, path).get("workloads"), workloads_path)):
            where = f"{workloads_path}[{i}]"
            workload = as_dict(raw, where)
            addresses = [
                _wds_address(a, f"{where}.addresses[{n}]")
                for n, a in enumerate(as_list(workload.get("addresses"), where + ".addresses"))
            ]
            locality = as_dict(workload.get("locality"), where + ".locality")
            status = as_str(workload.get("status"), where + ".status")
            if status not in (None, "HEALTHY", "UNHEALTHY"):
                raise json_error(
                    f"expected a status HEALTHY or UNHEALTHY, got {status!r:.60}", where + ".status"
                )
            capacity = workload.get("capacity")
            weight = 1 if capacity is None else as_uint(capacity, where + ".capacity")
            common = {
                "source_cluster": source_cluster,
                "source_pod": source_pod,
                "envoy_cluster": None,
                "address": next((a for a in addresses if a), None),
                "health": status or "HEALTHY",
                "outlier_check": None,
                "weight": 0 if weight is None else weight,
                "priority": None,
                "region": as_str(locality.get("region"), where + ".locality.region"),
                "zone": as_str(locality.get("zone"), where + ".locality.zone"),
                "subzone": as_str(locality.get("subzone"), where + ".locality.subzone"),
                "dest_cluster": as_str(workload.get("clusterId"), where + ".clusterId"),
                "network": as_str(workload.get("network"), where + ".network"),
                "via_gateway": bool(as_dict(workload.get("networkGateway"), where + ".networkGateway")),
            }
            services_path = where + ".services"
            for key, ports in as_dict(workload.get("services"), services_path).items():
                key_path = f"{services_path}[{json.dumps(key)}]"
                _namespace, slash, hostname = key.partition("/")
                if not slash or not hostname:
                    raise json_error("expected a service key 'namespace/hostname'", key_path)
                if service is not None and hostname != service:
                    continue
                port_list = as_list(as_dict(ports, key_path).get("ports"), key_path + ".ports")
                for n, raw_port in enumerate(port_list):
                    port_path = f"{key_path}.ports[{n}]"
                    port = as_dict(raw_port, port_path)
                    service_port = as_uint(port.get("servicePort"), port_path + ".servicePort", _PORT_MAX)
                    target = as_uint(port.get("targetPort"), port_path + ".targetPort", _PORT_MAX)
                    rows.append(
                        {
                            **common,
                            "service": hostname,
                            "port": service_port,
                            "endpoint_port": target or service_port,
                        }
                    )
    return _frame("endpoints", rows)
