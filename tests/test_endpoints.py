"""meshnb.readers.endpoints: every reference file, formats that agree, garbage that only raises ParseError."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshnb.errors import ParseError
from meshnb.readers.endpoints import (
    FORMATS,
    detect_format,
    parse_cluster_name,
    read_config_dump,
    read_endpoints,
    read_envoy_clusters_json,
    read_envoy_clusters_text,
    read_istioctl_json,
    read_istioctl_table,
)
from meshnb.schemas import SCHEMAS

HW = "outbound|5000||helloworld.sample.svc.cluster.local"
HW_FQDN = "helloworld.sample.svc.cluster.local"
KEY = ["envoy_cluster", "address", "endpoint_port"]


def envoy_file(reference: Path, name: str) -> str:
    return (reference / "envoy-1.40" / name).read_text()


def istioctl_file(reference: Path, name: str) -> str:
    return (reference / "istio" / "istioctl-endpoint" / name).read_text()


def rows(df: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Rows as plain tuples (NA -> None), sorted: order is not part of the contract."""
    out = [tuple(None if pd.isna(v) else v for v in row) for row in df[columns].itertuples(index=False)]
    return sorted(out, key=repr)


def assert_schema(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(SCHEMAS["endpoints"])
    assert {c: str(t) for c, t in df.dtypes.items()} == {
        c: str(pd.Series([], dtype=t).dtype) for c, t in SCHEMAS["endpoints"].items()
    }
    for column in ("dest_cluster", "network", "via_gateway"):
        assert df[column].isna().all()


# --------------------------------------------------------------------------------------------------
# Reference files, value by value


def test_envoy_helloworld_json(reference):
    df = read_endpoints(
        envoy_file(reference, "envoy-clusters-helloworld.json"), source_cluster="c1", source_pod="p"
    )
    assert_schema(df)
    cols = ["envoy_cluster", "service", "port", "address", "endpoint_port", "health", "outlier_check"]
    cols += ["weight", "priority", "region", "zone", "subzone"]
    od = "outbound|5000|failover-od|helloworld.sample.svc.cluster.local"
    assert rows(df, cols) == sorted(
        [
            (od, HW_FQDN, 5000, "127.0.0.2", 5000, "HEALTHY", "OK", 1, 0, "us-east", "a", None),
            (od, HW_FQDN, 5000, "127.0.0.3", 5000, "HEALTHY", "OK", 1, 1, "us-west", "b", None),
            (HW, HW_FQDN, 5000, "127.0.0.2", 5000, "HEALTHY", "OK", 1, 0, "us-east", "a", None),
            (HW, HW_FQDN, 5000, "127.0.0.3", 5000, "HEALTHY", "OK", 1, 0, "us-west", "b", None),
        ],
        key=repr,
    )
    assert set(df["source_cluster"]) == {"c1"} and set(df["source_pod"]) == {"p"}


def test_envoy_helloworld_text(reference):
    df = read_envoy_clusters_text(envoy_file(reference, "envoy-clusters-helloworld.txt"))
    assert_schema(df)
    cols = ["envoy_cluster", "service", "port", "address", "endpoint_port", "health", "outlier_check"]
    cols += ["weight", "priority", "region", "zone", "subzone"]
    assert rows(df, cols) == [
        (HW, HW_FQDN, 5000, "127.0.0.2", 5000, "HEALTHY", "OK", 1, 0, "us-east", "a", None),
        (HW, HW_FQDN, 5000, "127.0.0.3", 5000, "HEALTHY", "OK", 1, 0, "us-west", "b", None),
    ]
    assert df["source_cluster"].isna().all()


def test_envoy_full_json(reference):
    df = read_envoy_clusters_json(envoy_file(reference, "envoy-clusters-full.json"))
    assert_schema(df)
    assert len(df) == 12
    by = {(r.envoy_cluster, r.address): r for r in df.itertuples()}
    inbound = by[("inbound|5000||", "127.0.0.3")]
    assert pd.isna(inbound.service) and inbound.port == 5000
    hc = by[("outbound|5000|failover-hc|helloworld.sample.svc.cluster.local", "127.0.0.3")]
    assert (hc.endpoint_port, hc.priority, hc.region, hc.zone) == (5001, 1, "us-west", "b")
    gw = by[("outbound|5000|mtls-envoy|helloworld.sample.svc.cluster.local", "127.0.0.6")]
    assert (gw.service, gw.endpoint_port) == (HW_FQDN, 15443)
    assert set(df["health"]) == {"HEALTHY"} and set(df["outlier_check"]) == {"OK"}
    assert set(df["weight"]) == {1} and set(df["priority"]) == {0, 1}


def test_istioctl_emptyfilter_table(reference):
    df = read_istioctl_table(istioctl_file(reference, "emptyfilter_output.txt"))
    assert_schema(df)
    assert len(df) == 36
    assert df["health"].eq("HEALTHY").all()
    assert df[["outlier_check", "weight", "priority", "region", "zone", "subzone"]].isna().all().all()
    pipes = df[df["envoy_cluster"].isin(["sds-grpc", "xds-grpc"])]
    assert sorted(pipes["address"]) == [
        "./etc/istio/proxy/XDS",
        "./var/run/secrets/workload-spiffe-uds/socket",
    ]
    assert pipes["endpoint_port"].isna().all() and pipes["service"].isna().all()
    agent = df[df["envoy_cluster"] == "agent"].iloc[0]
    assert (agent["address"], agent["endpoint_port"], pd.isna(agent["service"])) == ("127.0.0.1", 15020, True)
    api = df[df["envoy_cluster"] == "outbound|443||kubernetes.default.svc.cluster.local"].iloc[0]
    assert (api["service"], api["port"], api["address"], api["endpoint_port"]) == (
        "kubernetes.default.svc.cluster.local",
        443,
        "172.18.0.2",
        6443,
    )
    dns = df[df["envoy_cluster"] == "outbound|53||kube-dns.kube-system.svc.cluster.local"]
    assert sorted(dns["address"]) == ["10.244.0.3", "10.244.0.8"]


def test_istioctl_portfilter_table_and_json(reference):
    ingress, ui = (
        "istio-ingressgateway.istio-system.svc.cluster.local",
        "skywalking-ui.skywalking.svc.cluster.local",
    )
    expected = [
        (f"outbound|80||{ingress}", ingress, 80, "10.244.0.176", 8080, "HEALTHY"),
        (f"outbound|80||{ui}", ui, 80, "10.244.0.189", 8080, "HEALTHY"),
    ]
    cols = ["envoy_cluster", "service", "port", "address", "endpoint_port", "health"]
    table = read_endpoints(istioctl_file(reference, "portfilter_output.txt"))
    js = read_endpoints(istioctl_file(reference, "portfilter_output.json"))
    assert rows(table, cols) == rows(js, cols) == expected
    # EDS: weight from loadBalancingWeight, priority 0 when omitted, empty locality is NA, no outlier state
    assert js["weight"].tolist() == [1, 1] and js["priority"].tolist() == [0, 0]
    assert js[["region", "zone", "subzone", "outlier_check"]].isna().all().all()


def test_istioctl_json_and_config_dump_agree_on_every_column(reference):
    js = read_istioctl_json(istioctl_file(reference, "emptyfilter_output.json"))
    dump = read_config_dump(istioctl_file(reference, "configdump.json"))
    assert_schema(js)
    assert_schema(dump)
    assert len(js) == len(dump) == 36
    assert rows(js, list(js.columns)) == rows(dump, list(dump.columns))
    # reviews: three endpoints in one locality of weight 3, each of weight 1
    reviews = dump[dump["service"] == "reviews.default.svc.cluster.local"]
    assert sorted(reviews["address"]) == ["10.244.0.192", "10.244.0.193", "10.244.0.195"]
    assert set(reviews["weight"]) == {1}


def test_config_dump_and_both_istioctl_outputs_agree(reference):
    dump = read_endpoints((reference / "istio" / "istioctl-endpoint" / "configdump.json").read_bytes())
    table = read_endpoints(istioctl_file(reference, "emptyfilter_output.txt"))
    js = read_endpoints(istioctl_file(reference, "emptyfilter_output.json"))
    shared = [
        "envoy_cluster",
        "service",
        "port",
        "address",
        "endpoint_port",
        "health",
        "region",
        "zone",
        "subzone",
    ]
    assert rows(dump, shared) == rows(table, shared) == rows(js, shared)


# --------------------------------------------------------------------------------------------------
# The same Envoy in four representations. The live istioctl forms are rendered here from the admin
# JSON exactly as istioctl's writer does (tabwriter, ``address:port``, OK/FAILED, camelCase JSON).


def _camel(obj):
    if isinstance(obj, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): _camel(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_camel(v) for v in obj]
    return obj


def istioctl_live_table(admin: dict) -> str:
    rows_ = []
    for cluster in admin.get("cluster_statuses", []):
        for host in cluster.get("host_statuses", []):
            sock = host["address"].get("socket_address")
            if sock:
                addr, port = sock["address"], sock.get("port_value", 0)
            else:
                addr, port = "unix://" + host["address"]["pipe"]["path"], 0
            status = host.get("health_status", {})
            rows_.append(
                (
                    addr,
                    port,
                    cluster["name"],
                    status.get("eds_health_status", "UNKNOWN"),
                    "FAILED" if status.get("failed_outlier_check") else "OK",
                )
            )
    rows_.sort(key=lambda r: (r[0], r[1], r[2]))
    cells = [("ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER")]
    cells += [(f"{a}:{p}" if p else a, s, o, c) for a, p, c, s, o in rows_]
    widths = [max(len(r[i]) for r in cells) + 5 for i in range(3)]
    return "\n".join("".join(r[i].ljust(widths[i]) for i in range(3)) + r[3] for r in cells) + "\n"


def test_four_representations_of_one_envoy_agree(reference):
    text = envoy_file(reference, "envoy-clusters-helloworld.json")
    admin = json.loads(text)
    only_hw = {"cluster_statuses": [c for c in admin["cluster_statuses"] if c["name"] == HW]}
    frames = {
        "admin json": read_endpoints(json.dumps(only_hw)),
        "admin text": read_endpoints(envoy_file(reference, "envoy-clusters-helloworld.txt")),
        "istioctl table": read_endpoints(istioctl_live_table(only_hw)),
        "istioctl json": read_endpoints(json.dumps(_camel(only_hw["cluster_statuses"]), indent=4)),
    }
    assert [detect_format(t) for t in (json.dumps(only_hw), istioctl_live_table(only_hw))] == [
        "envoy-json",
        "istioctl-table",
    ]
    shared = ["envoy_cluster", "service", "port", "address", "endpoint_port", "health", "outlier_check"]
    expected = rows(frames["admin json"], shared)
    assert len(expected) == 2
    for name, df in frames.items():
        assert_schema(df)
        assert rows(df, shared) == expected, name
    full = ["weight", "priority", "region", "zone", "subzone"]
    assert rows(frames["admin text"], shared + full) == rows(frames["admin json"], shared + full)
    assert rows(frames["istioctl json"], shared + full) == rows(frames["admin json"], shared + full)


def test_helloworld_is_a_subset_of_full(reference):
    hw = read_endpoints(envoy_file(reference, "envoy-clusters-helloworld.json"))
    full = read_endpoints(envoy_file(reference, "envoy-clusters-full.json"))
    cols = list(SCHEMAS["endpoints"])
    assert set(rows(hw, cols)) <= set(rows(full, cols))


# --------------------------------------------------------------------------------------------------
# What real Envoy does


def _admin(host: dict, name: str = HW) -> str:
    return json.dumps({"cluster_statuses": [{"name": name, "host_statuses": [host]}]})


def test_zero_values_omitted_and_stats_as_ints_or_strings():
    host = {
        "address": {"socket_address": {"address": "10.0.0.1"}},
        "stats": [{"name": "rq_total", "value": 3}, {"name": "cx_total", "value": "4"}, {"name": "rq_error"}],
        "health_status": {},
    }
    row = read_endpoints(_admin(host)).iloc[0]
    assert (row["endpoint_port"], row["priority"], row["health"], row["outlier_check"]) == (
        0,
        0,
        "UNKNOWN",
        "OK",
    )
    # Envoy always prints a host's weight (at least 1): a missing one is unknown, not 0
    assert pd.isna(row["weight"])
    assert pd.isna(row["region"])


@pytest.mark.parametrize(
    ("health_status", "health", "outlier"),
    [
        ({"eds_health_status": "HEALTHY"}, "HEALTHY", "OK"),
        ({"eds_health_status": "UNHEALTHY"}, "UNHEALTHY", "OK"),
        ({"eds_health_status": "DRAINING"}, "DRAINING", "OK"),
        ({"eds_health_status": "DEGRADED"}, "DEGRADED", "OK"),
        ({"eds_health_status": 2}, "UNHEALTHY", "OK"),
        ({"eds_health_status": "HEALTHY", "failed_outlier_check": True}, "HEALTHY", "FAILED"),
        ({"edsHealthStatus": "HEALTHY", "failedOutlierCheck": True}, "HEALTHY", "FAILED"),
        ({"eds_health_status": "HEALTHY", "failed_active_health_check": True}, "HEALTHY", "OK"),
    ],
)
def test_health_from_admin_json(health_status, health, outlier):
    host = {
        "address": {"socket_address": {"address": "10.0.0.1", "port_value": 80}},
        "health_status": health_status,
    }
    row = read_endpoints(_admin(host)).iloc[0]
    assert (row["health"], row["outlier_check"]) == (health, outlier)


@pytest.mark.parametrize(
    ("flags", "health", "outlier"),
    [
        ("healthy", "HEALTHY", "OK"),
        ("/failed_outlier_check", "HEALTHY", "FAILED"),
        ("/failed_eds_health", "UNHEALTHY", "OK"),
        ("/failed_outlier_check/failed_eds_health", "UNHEALTHY", "FAILED"),
        ("/degraded_eds_health", "DEGRADED", "OK"),
        ("/failed_eds_health/eds_status_draining", "DRAINING", "OK"),
        ("/failed_active_hc", "HEALTHY", "OK"),
    ],
)
def test_health_from_admin_text(flags, health, outlier):
    row = read_endpoints(f"{HW}::10.0.0.1:80::health_flags::{flags}\n").iloc[0]
    assert (row["health"], row["outlier_check"]) == (health, outlier)


def test_non_socket_addresses():
    pipe = {
        "address": {"pipe": {"path": "/etc/istio/proxy/XDS"}},
        "health_status": {"eds_health_status": "HEALTHY"},
    }
    internal = {
        "address": {
            "envoy_internal_address": {
                "server_listener_name": "connect_originate",
                "endpoint_id": "10.0.0.9:80",
            }
        }
    }
    df = read_endpoints(
        json.dumps(
            {
                "cluster_statuses": [
                    {"name": "xds-grpc", "host_statuses": [pipe]},
                    {"name": "outbound|80||a.ns.svc.cluster.local", "host_statuses": [internal]},
                ]
            }
        )
    )
    assert df["address"].tolist() == ["/etc/istio/proxy/XDS", "envoy://connect_originate/10.0.0.9:80"]
    assert df["endpoint_port"].isna().all()
    table = "ENDPOINT     STATUS     OUTLIER CHECK     CLUSTER\n"
    table += "unix:///etc/istio/proxy/XDS     HEALTHY     OK     xds-grpc\n"
    assert read_endpoints(table)["address"].tolist() == ["/etc/istio/proxy/XDS"]
    text = "xds-grpc::/etc/istio/proxy/XDS::health_flags::healthy\n"
    assert read_endpoints(text)[["address", "endpoint_port"]].values.tolist() == [
        ["/etc/istio/proxy/XDS", pd.NA]
    ]


def test_ipv6_agrees_across_formats():
    host = {"address": {"socket_address": {"address": "fd00::1", "port_value": 5000}}}
    expected = [("fd00::1", 5000)]
    assert rows(read_endpoints(_admin(host)), ["address", "endpoint_port"]) == expected
    text = f"{HW}::[fd00::1]:5000::weight::1\n{HW}::[fd00::1]:5000::health_flags::healthy\n"
    assert rows(read_endpoints(text), ["address", "endpoint_port"]) == expected
    table = f"ENDPOINT     STATUS     OUTLIER CHECK     CLUSTER\nfd00::1:5000     HEALTHY     OK     {HW}\n"
    assert rows(read_endpoints(table), ["address", "endpoint_port"]) == expected


def test_locality_in_the_eds_table_and_older_tables():
    table = (
        "NAME             STATUS      LOCALITY            CLUSTER\n"
        f"10.0.0.1:5000    HEALTHY     us-east/a/rack1     {HW}\n"
        f"10.0.0.2:5000    DRAINING    us-west             {HW}\n"
        f"10.0.0.3:5000    UNKNOWN                         {HW}\n"
    )
    assert rows(read_endpoints(table), ["address", "health", "region", "zone", "subzone"]) == [
        ("10.0.0.1", "HEALTHY", "us-east", "a", "rack1"),
        ("10.0.0.2", "DRAINING", "us-west", None, None),
        ("10.0.0.3", "UNKNOWN", None, None, None),
    ]
    old = f"ENDPOINT           STATUS        CLUSTER\n10.0.0.1:5000      UNHEALTHY     {HW}\n"
    assert read_endpoints(old)["health"].tolist() == ["UNHEALTHY"]
    oldest = f"ENDPOINT           CLUSTER\nendpoint/10.0.0.1:5000      {HW}\n"
    assert read_endpoints(oldest)[["address", "health"]].values.tolist() == [["10.0.0.1", pd.NA]]


def test_repeated_headers_from_several_pods_are_one_table():
    one = f"ENDPOINT     STATUS     OUTLIER CHECK     CLUSTER\n10.0.0.1:80     HEALTHY     OK     {HW}\n"
    assert len(read_endpoints(one + "\n" + one)) == 2


def test_cluster_names():
    assert parse_cluster_name("outbound|9080|v1|reviews.default.svc.cluster.local") == (
        "reviews.default.svc.cluster.local",
        9080,
    )
    assert parse_cluster_name("outbound_.15443_._.istio-eastwestgateway.istio-system.svc.cluster.local") == (
        "istio-eastwestgateway.istio-system.svc.cluster.local",
        15443,
    )
    for name in ("BlackHoleCluster", "sds-grpc", "outbound|x||a.b", "a|b|c", "outbound|99999999999||a.b"):
        assert parse_cluster_name(name) == (None, None)


@pytest.mark.parametrize("empty", ["", "  \n", "{}", "[]", '{"cluster_statuses": []}', b""])
def test_empty_inputs_give_an_empty_frame(empty):
    df = read_endpoints(empty)
    assert len(df) == 0
    assert_schema(df)


def test_bytes_with_bom_and_parsed_objects(reference):
    raw = (reference / "envoy-1.40" / "envoy-clusters-helloworld.json").read_bytes()
    assert len(read_endpoints(b"\xef\xbb\xbf" + raw)) == 4
    assert len(read_endpoints(json.loads(raw))) == 4
    assert len(read_envoy_clusters_json(json.loads(raw))) == 4


def test_single_load_assignment_and_section():
    cla = {"cluster_name": HW, "endpoints": [{"priority": 2, "locality": {"region": "r", "sub_zone": "s"}}]}
    cla["endpoints"][0]["lb_endpoints"] = [
        {
            "endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": 5000}}},
            "health_status": "DRAINING",
        }
    ]
    for doc in (cla, {"dynamic_endpoint_configs": [{"endpoint_config": cla}]}):
        df = read_endpoints(json.dumps(doc))
        assert rows(df, ["health", "weight", "priority", "region", "zone", "subzone"]) == [
            ("DRAINING", 1, 2, "r", None, "s")
        ]


# --------------------------------------------------------------------------------------------------
# Errors: ParseError with the line or the JSON path


def test_config_dump_without_eds_says_so():
    with pytest.raises(ParseError, match="include_eds"):
        read_endpoints('{"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"}]}')


@pytest.mark.parametrize(
    ("text", "line", "lineno"),
    [
        ("hello world", "hello world", 1),
        ("\n\nHello version: v1, instance: x", "Hello version: v1, instance: x", 3),
        (f"{HW}::10.0.0.1:80::weight::one", f"{HW}::10.0.0.1:80::weight::one", 1),
        (f"{HW}::10.0.0.1:80::weight::1\nno separator", "no separator", 2),
        ("ENDPOINT  STATUS  CLUSTER\n10.0.0.1:80  FINE  c", "10.0.0.1:80  FINE  c", 2),
        ("ENDPOINT  STATUS  OUTLIER CHECK  CLUSTER\n10.0.0.1:80  HEALTHY  c", "10.0.0.1:80  HEALTHY  c", 2),
        ('{"cluster_statuses": [\n  {"name": 1,}\n]}', '  {"name": 1,}', 2),
    ],
)
def test_text_errors_carry_the_line(text, line, lineno):
    with pytest.raises(ParseError) as info:
        read_endpoints(text)
    assert (info.value.line, info.value.lineno) == (line, lineno)


def _one_host(host: dict) -> dict:
    return {"cluster_statuses": [{"name": "c", "host_statuses": [host]}]}


_HOST = "$.cluster_statuses[0].host_statuses[0]"
_PIPE = {"pipe": {}}


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"cluster_statuses": {}}, "$.cluster_statuses"),
        ({"cluster_statuses": [{"host_statuses": []}]}, "$.cluster_statuses[0].name"),
        (_one_host({"address": {}}), f"{_HOST}.address"),
        (_one_host({"address": {"pipe": {"path": 1}}}), f"{_HOST}.address.pipe.path"),
        (_one_host({"address": _PIPE, "weight": -1}), f"{_HOST}.weight"),
        (_one_host({"address": _PIPE, "priority": 2**40}), f"{_HOST}.priority"),
        (
            _one_host({"address": _PIPE, "health_status": {"eds_health_status": "FINE"}}),
            f"{_HOST}.health_status",
        ),
        (
            [
                {
                    "clusterName": "c",
                    "endpoints": [{"lbEndpoints": [{"endpoint": {"address": _PIPE}, "healthStatus": 9}]}],
                }
            ],
            "$[0].endpoints[0].lb_endpoints[0].health_status",
        ),
        ([3], "$[0]"),
        ({"something": "else"}, "$"),
    ],
)
def test_json_errors_carry_the_path(doc, path):
    with pytest.raises(ParseError) as info:
        read_endpoints(json.dumps(doc))
    assert info.value.line == path
    assert path in str(info.value)


def test_invalid_utf8_and_wrong_types():
    with pytest.raises(ParseError):
        read_endpoints(b"\xff\xfe garbage")
    with pytest.raises(ParseError):
        read_endpoints(12)  # type: ignore[arg-type]
    with pytest.raises(ParseError):
        read_envoy_clusters_json("[]")
    with pytest.raises(ParseError):
        read_istioctl_json("{}")


def test_formats_constant_and_detection(reference):
    found = {
        detect_format((reference / "envoy-1.40" / "envoy-clusters-full.json").read_text()),
        detect_format(envoy_file(reference, "envoy-clusters-helloworld.txt")),
        detect_format(istioctl_file(reference, "emptyfilter_output.txt")),
        detect_format(istioctl_file(reference, "emptyfilter_output.json")),
        detect_format(istioctl_file(reference, "configdump.json")),
        detect_format((Path(__file__).parent / "data/real/istioctl/all-1.30.0-summary.txt").read_text()),
    }
    assert found == set(FORMATS)


# --------------------------------------------------------------------------------------------------
# Properties: whatever comes in, the only exception is ParseError; valid input never raises.

REFERENCE_FILES = [
    ("envoy-1.40", "envoy-clusters-helloworld.json"),
    ("envoy-1.40", "envoy-clusters-helloworld.txt"),
    ("envoy-1.40", "envoy-clusters-full.json"),
    ("istio/istioctl-endpoint", "configdump.json"),
    ("istio/istioctl-endpoint", "emptyfilter_output.txt"),
    ("istio/istioctl-endpoint", "emptyfilter_output.json"),
    ("istio/istioctl-endpoint", "portfilter_output.txt"),
    ("istio/istioctl-endpoint", "portfilter_output.json"),
]
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def only_parse_errors(text) -> None:
    try:
        df = read_endpoints(text)
    except ParseError as err:
        assert isinstance(str(err), str)
        return
    assert list(df.columns) == list(SCHEMAS["endpoints"])


_PIECES = [
    "::",
    ":",
    "|",
    "'",
    "outbound",
    "health_flags",
    "weight",
    "priority",
    "region",
    "10.0.0.1",
    "[fd00::1]",
    "80",
    "ENDPOINT",
    "STATUS",
    "OUTLIER CHECK",
    "CLUSTER",
    "NAME",
    "LOCALITY",
    "HEALTHY",
    "OK",
    "FAILED",
    "/",
    " ",
    "     ",
    "\n",
    "\t",
    "{",
    "}",
    "[",
    "]",
    '"',
    ",",
    "unix://",
    "endpoint/",
    "99999999999999999999",
    "-1",
]
_line_pieces = st.sampled_from(_PIECES)


@PROPERTY
@given(st.one_of(st.text(), st.binary(), st.lists(_line_pieces | st.text(max_size=5)).map("".join)))
def test_random_text_only_raises_parse_error(text):
    only_parse_errors(text)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["HEALTHY", "UNHEALTHY", "DRAINING", "0", "5000", "outbound|80||a.b.svc.cluster.local"]),
)
_keys = st.sampled_from(
    ["name", "host_statuses", "hostStatuses", "address", "socket_address", "socketAddress", "port_value",
     "portValue", "pipe", "path", "envoy_internal_address", "health_status", "healthStatus",
     "eds_health_status", "failed_outlier_check", "weight", "priority", "locality", "region", "zone",
     "sub_zone", "cluster_statuses", "configs", "@type", "dynamic_endpoint_configs", "endpoint_config",
     "cluster_name", "clusterName", "endpoints", "lb_endpoints", "lbEndpoints", "endpoint",
     "load_balancing_weight", "stats", "value"]
) | st.text(max_size=4)  # fmt: skip
_json_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)


@PROPERTY
@given(_json_values)
def test_random_json_structures_only_raise_parse_error(doc):
    for text in (json.dumps(doc), json.dumps({"cluster_statuses": [doc]}), json.dumps([doc])):
        only_parse_errors(text)
    only_parse_errors(
        json.dumps({"configs": [{"@type": "x.EndpointsConfigDump", "dynamic_endpoint_configs": [doc]}]})
    )
    if isinstance(doc, dict | list):
        only_parse_errors(doc)


def _replace_somewhere(doc, path: list[int], value):
    """``doc`` with the node reached by following ``path`` (indices modulo the width) replaced."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return value
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = keys[path[0] % len(keys)]
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[key] = _replace_somewhere(doc[key], path[1:], value)
    return copy


@pytest.mark.parametrize(("folder", "name"), REFERENCE_FILES)
@PROPERTY
@given(data=st.data())
def test_truncated_and_mutated_reference_files_only_raise_parse_error(reference, folder, name, data):
    text = (reference / folder / name).read_text()
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    only_parse_errors(text[:cut])
    only_parse_errors(text[cut:])
    raw = text.encode()
    only_parse_errors(raw[: data.draw(st.integers(min_value=0, max_value=len(raw)))])
    if name.endswith(".json"):
        path = data.draw(st.lists(st.integers(min_value=0, max_value=50), max_size=10))
        mutated = _replace_somewhere(json.loads(text), path, data.draw(_json_values))
        only_parse_errors(json.dumps(mutated))
    else:
        lines = text.splitlines()
        i = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
        lines[i] = data.draw(st.lists(_line_pieces, max_size=8).map("".join))
        only_parse_errors("\n".join(lines))


# Valid admin JSON, generated: it never raises, and its text and istioctl renderings agree with it.
_names = st.one_of(
    st.builds(
        lambda port, subset, host: f"outbound|{port}|{subset}|{host}.svc.cluster.local",
        st.integers(1, 65535),
        st.sampled_from(["", "v1", "v2"]),
        st.from_regex(r"[a-z][a-z0-9-]{0,10}\.[a-z]{1,8}", fullmatch=True),
    ),
    st.sampled_from(["agent", "xds-grpc", "inbound|9080||", "BlackHoleCluster"]),
)
_hosts = st.fixed_dictionaries(
    {
        "address": st.builds(
            lambda a, b, port: {"socket_address": {"address": f"10.{a}.{b}.1", "port_value": port}},
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(1, 65535),
        ),
        "health_status": st.fixed_dictionaries(
            {"eds_health_status": st.sampled_from(["HEALTHY", "UNHEALTHY", "DEGRADED", "DRAINING"])},
            optional={"failed_outlier_check": st.booleans()},
        ),
        "weight": st.integers(1, 128),
    },
    optional={
        "priority": st.integers(1, 5),
        "locality": st.fixed_dictionaries(
            {},
            optional={
                k: st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True) for k in ("region", "zone", "sub_zone")
            },
        ),
    },
)
_admin_docs = st.lists(
    st.fixed_dictionaries({"name": _names, "host_statuses": st.lists(_hosts, max_size=4)}),
    max_size=5,
    unique_by=lambda c: c["name"],
).map(lambda cs: {"cluster_statuses": cs})


def envoy_text(admin: dict) -> str:
    """Envoy's /clusters text for an admin JSON document (the host lines, as Envoy prints them)."""
    out = []
    for c in admin["cluster_statuses"]:
        out.append(f"{c['name']}::default_priority::max_connections::1024")
        out.append(f"{c['name']}::added_via_api::true")
        for h in c["host_statuses"]:
            s = h["address"]["socket_address"]
            key = f"{c['name']}::{s['address']}:{s['port_value']}"
            hs = h["health_status"]
            flags = ""
            if hs.get("failed_outlier_check"):
                flags += "/failed_outlier_check"
            flags += {
                "HEALTHY": "",
                "UNHEALTHY": "/failed_eds_health",
                "DEGRADED": "/degraded_eds_health",
            }.get(hs["eds_health_status"], "/failed_eds_health/eds_status_draining")
            loc = h.get("locality", {})
            out += [
                f"{key}::cx_active::0",
                f"{key}::hostname::",
                f"{key}::health_flags::{flags or 'healthy'}",
                f"{key}::weight::{h['weight']}",
                f"{key}::region::{loc.get('region', '')}",
                f"{key}::zone::{loc.get('zone', '')}",
                f"{key}::sub_zone::{loc.get('sub_zone', '')}",
                f"{key}::priority::{h.get('priority', 0)}",
            ]
    return "\n".join(out) + "\n"


@PROPERTY
@given(_admin_docs)
def test_valid_generated_input_never_raises_and_formats_agree(admin):
    df = read_endpoints(json.dumps(admin))
    assert len(df) == sum(len(c["host_statuses"]) for c in admin["cluster_statuses"])
    shared = ["envoy_cluster", "service", "port", "address", "endpoint_port", "health", "outlier_check"]
    full = [*shared, "weight", "priority", "region", "zone", "subzone"]
    # a host listed twice in one cluster is one host in the text form (keyed by address)
    distinct = len(
        {(c["name"], json.dumps(h["address"])) for c in admin["cluster_statuses"] for h in c["host_statuses"]}
    )
    if distinct == len(df):
        assert rows(read_endpoints(envoy_text(admin)), full) == rows(df, full)
    assert rows(read_endpoints(istioctl_live_table(admin)), shared) == rows(df, shared)
    assert rows(read_endpoints(json.dumps(_camel(admin["cluster_statuses"]))), full) == rows(df, full)


def test_host_counters_are_cut_before_parsing_without_changing_the_reading():
    """Envoy's per-host stats are never read: cutting them must not change a row, nor an error's line."""
    from meshnb.readers.endpoints import _loads_without_stats

    real = (
        Path(__file__).parent / "data" / "real" / "envoy" / "envoy-1.40-clusters-internal.json"
    ).read_text(encoding="utf-8")
    assert '"stats": [' in real
    doc = json.loads(real)
    for cluster in doc["cluster_statuses"]:
        for host in cluster.get("host_statuses", []):
            host["stats"] = []
    assert _loads_without_stats(real) == doc
    odd = '{"stats": [[1, 2], 3], "name": "x"}'  # not Envoy's flat list: cut wrongly, so parsed whole
    assert _loads_without_stats(odd) == json.loads(odd)
    # counters are not parsed: damage inside them changes nothing read; damage anywhere else is refused
    in_stats = real.replace('"name": "cx_total"', '"name": cx_total', 1)
    assert read_endpoints(in_stats).equals(read_endpoints(real))
    broken = real.replace('"server_listener_name": "connect_originate"', '"server_listener_name": x', 1)
    with pytest.raises(ParseError) as err:
        read_endpoints(broken)
    assert err.value.lineno == broken[: broken.index('"server_listener_name": x')].count("\n") + 1


def test_a_cluster_of_common_and_odd_hosts_reads_as_each_alone():
    """Hosts of the common shape are read in one pass per cluster; one odd host sends the cluster to
    the full reading, which must give the same rows, in the same order."""
    common = {
        "address": {"socket_address": {"address": "10.0.0.7", "port_value": 5000}},
        "health_status": {"eds_health_status": "HEALTHY", "failed_outlier_check": True},
        "weight": 3,
        "locality": {"region": "us-west", "zone": "", "sub_zone": "s1"},
    }
    odd = _camel({**common, "address": {"socket_address": {"address": "10.0.0.8", "port_value": 5001}}})
    name = "outbound|5000|v1|helloworld.sample.svc.cluster.local"

    def read(*hosts):
        return read_endpoints(json.dumps({"cluster_statuses": [{"name": name, "host_statuses": hosts}]}))

    mixed = read(common, odd, common)
    assert mixed.equals(pd.concat([read(common), read(odd), read(common)], ignore_index=True))
    assert mixed["address"].tolist() == ["10.0.0.7", "10.0.0.8", "10.0.0.7"]
    assert mixed.loc[0, ["outlier_check", "weight", "zone", "subzone"]].tolist() == ["FAILED", 3, pd.NA, "s1"]
