"""read_ztunnel: ztunnel's config dump (every form) and istioctl's ztunnel-config tables, as endpoints.

The inputs are Istio's own test data (tests/data/ztunnel/ORIGIN.md). Expected readings are counted
from the files with a few lines of ``json`` or ``re`` here, or read off the file by hand (the values
quoted in each test), never taken from meshnb's output.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import meshnb
from meshnb.errors import ParseError
from meshnb.readers.ztunnel import detect_ztunnel, read_ztunnel
from meshnb.schemas import SCHEMAS

DATA = Path(__file__).parent / "data" / "ztunnel"
DUMP = json.loads((DATA / "dump.json").read_text())
OLD_DUMP = json.loads((DATA / "dump-6e34ef5a88c.json").read_text())
IPV4 = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


def _expected_rows(workloads: dict, services: dict) -> list[tuple]:
    """(hostname, service port, workload IP, target port) per service port and endpoint, from the JSON."""
    by_uid = {w["uid"]: w for w in workloads.values()}
    rows, seen = [], set()
    for svc in services.values():
        if (svc["namespace"], svc["hostname"]) in seen:
            continue
        seen.add((svc["namespace"], svc["hostname"]))
        for ep in svc["endpoints"].values():
            ip = by_uid[ep["workloadUid"]]["workloadIps"][0]
            for port, target in svc["ports"].items():
                rows.append((svc["hostname"], int(port), ip, ep["port"].get(port, target)))
    return sorted(rows)


def _rows(df: pd.DataFrame) -> list[tuple]:
    return sorted(
        zip(
            df["service"], df["port"].astype(int), df["address"], df["endpoint_port"].astype(int), strict=True
        )
    )


def _list_form(dump: dict) -> dict:
    """``dump`` (map form) as ztunnel 1.24 on prints it: lists, and endpoints keyed by workload UID
    with ``workloadUid``, ``port`` and ``status`` (src/state/service.rs ``Endpoint``)."""
    by_uid = {w["uid"]: w for w in dump["workloads"].values()}
    services = []
    for original in dump["services"].values():
        svc = copy.deepcopy(original)
        svc["endpoints"] = {
            ep["workloadUid"]: {
                "workloadUid": ep["workloadUid"],
                "port": ep["port"],
                "status": by_uid[ep["workloadUid"]]["status"],
            }
            for ep in svc["endpoints"].values()
        }
        services.append(svc)
    return {**dump, "workloads": list(dump["workloads"].values()), "services": services}


# --------------------------------------------------------------------------------------------------
# The config dump


def test_map_form_dump_has_a_row_per_service_port_and_endpoint():
    df = read_ztunnel((DATA / "dump.json").read_text(), source_cluster="cluster1", source_pod="ztunnel-qk2pp")
    assert list(df.columns) == list(SCHEMAS["endpoints"])
    assert _rows(df) == _expected_rows(DUMP["workloads"], DUMP["services"])
    assert len(df) == 33  # 23 endpoints; istiod and istiod-test have 4 ports, two services 2
    assert set(df["source_cluster"]) == {"cluster1"} and set(df["source_pod"]) == {"ztunnel-qk2pp"}
    assert df["envoy_cluster"].isna().all() and df["outlier_check"].isna().all()
    assert (df["health"] == "HEALTHY").all()  # every workload of the file is "status": "Healthy"
    assert (df["weight"] == 1).all()  # no "capacity" in the file: ztunnel's default_capacity, 1
    assert (df["dest_cluster"] == "Kubernetes").all()  # "clusterId": "Kubernetes"
    assert not df["via_gateway"].any()


def test_map_form_rows_checked_by_hand():
    df = read_ztunnel((DATA / "dump.json").read_text())
    # "/10.96.115.16": gateway-api-admission-server, "ports": {"443": 8443}, one endpoint at /10.244.2.8
    row = df[df["service"] == "gateway-api-admission-server.gateway-system.svc.cluster.local"]
    assert row[["port", "address", "endpoint_port"]].values.tolist() == [[443, "10.244.2.8", 8443]]
    # "network3/10.244.1.39": reviews-v3 in bookinfo, "network": "network3"
    row = df[(df["service"] == "reviews.bookinfo.svc.cluster.local") & (df["address"] == "10.244.1.39")]
    assert row["network"].tolist() == ["network3"]
    # "/10.244.2.58" (sleep in default) has no "network": NA, not ""
    assert df[df["address"] == "10.244.2.58"]["network"].isna().all()
    # "kubernetes" in default has no endpoints: no row
    assert not df["service"].str.startswith("kubernetes.").any()


def test_dump_before_ztunnel_1_22_by_uid_and_by_vip():
    df = read_ztunnel((DATA / "dump-6e34ef5a88c.json").read_text())
    assert _rows(df) == _expected_rows(OLD_DUMP["by_uid"], OLD_DUMP["by_vip"])
    assert len(df) == sum(len(s["endpoints"]) * len(s["ports"]) for s in OLD_DUMP["by_vip"].values())


def test_list_form_dump_reads_as_the_map_form():
    listed = _list_form(DUMP)
    df = read_ztunnel(json.dumps(listed, indent=2))
    assert _rows(df) == _expected_rows(DUMP["workloads"], DUMP["services"])
    old = read_ztunnel(json.dumps(DUMP))
    key = ["service", "port", "address"]
    assert df.sort_values(key).reset_index(drop=True).equals(old.sort_values(key).reset_index(drop=True))


def test_a_workload_under_several_keys_is_one_workload():
    # the map form keys a workload by each of its IPs (ztunnel 1.22 by_addr): a dual-stack pod twice
    dump = copy.deepcopy(DUMP)
    wl = dump["workloads"]["/10.244.2.58"]
    wl["workloadIps"] = ["10.244.2.58", "fd00::58"]
    dump["workloads"]["/fd00::58"] = wl
    df = read_ztunnel(json.dumps(dump))
    assert len(df) == 33
    (extra,) = [a for a in df.attrs["additional_addresses"] if a["address"] == "10.244.2.58"]
    assert extra["additional"] == ["fd00::58"] and df.loc[extra["row"], "address"] == "10.244.2.58"


def _split_horizon_dump(capacity: int | None = 3) -> dict:
    """A list-form dump whose helloworld service has a local pod and istiod's split-horizon workload.

    The split-horizon workload has the fields createSplitHorizonWorkload sets (istio/istio
    pilot/pkg/serviceregistry/ambient/multicluster.go lines 724-777 at 86c9f01fd73): Uid and Name the
    UID of generateSplitHorizonWorkloadUID (helpers.go lines 44-46: network/SplitHorizonWorkload/gw/
    service), the service's Namespace, the gateway's Network, TrustDomain, Capacity (the sum over the
    remote network's workloads, lines 344-351), WorkloadType POD, TunnelProtocol HBONE, a NetworkGateway
    (the gateway's address on its network, HboneMtlsPort 15008 when unset), ClusterId the gateway's
    cluster, and Services; no IP, no status (proto's zero value, HEALTHY), no locality. ztunnel
    serializes it as src/state/workload.rs's Workload (camelCase; workloadType lowercased, line 455).
    """
    service = "sample/helloworld.sample.svc.cluster.local"
    uid = f"network2/SplitHorizonWorkload/istio-system/istio-eastwestgateway/{service}"
    remote = {
        "workloadIps": [],
        "networkGateway": {"destination": "network2/172.18.0.10", "hboneMtlsPort": 15008},
        "protocol": "HBONE",
        "uid": uid,
        "name": uid,
        "namespace": "sample",
        "trustDomain": "cluster.local",
        "network": "network2",
        "workloadType": "pod",
        "status": "Healthy",
        "clusterId": "cluster2",
    }
    if capacity is not None:
        remote["capacity"] = capacity
    local = {
        "workloadIps": ["10.10.0.7"],
        "protocol": "HBONE",
        "uid": "cluster1//Pod/sample/helloworld-v1-6d4bcb5d8-abcde",
        "name": "helloworld-v1-6d4bcb5d8-abcde",
        "namespace": "sample",
        "network": "network1",
        "status": "Unhealthy",
        "clusterId": "cluster1",
        "locality": {"region": "us-west", "zone": "us-west-1a", "subzone": ""},
        "capacity": 1,
    }
    svc = {
        "name": "helloworld",
        "namespace": "sample",
        "hostname": "helloworld.sample.svc.cluster.local",
        "vips": ["network1/10.96.0.20"],
        "ports": {"5000": 0},
        "endpoints": {
            w["uid"]: {"workloadUid": w["uid"], "port": {"5000": 5000}, "status": w["status"]}
            for w in (local, remote)
        },
        "subjectAltNames": [],
        "visibility": "Public",
    }
    return {"workloads": [local, remote], "services": [svc], "policies": [], "stagedServices": {}}


def test_split_horizon_workload_is_the_remote_network_weighted_by_its_capacity():
    df = read_ztunnel(json.dumps(_split_horizon_dump()), source_cluster="cluster1")
    local, remote = (df.iloc[i] for i in range(2))
    assert remote["address"] is pd.NA and bool(remote["via_gateway"]) is True
    assert (remote["weight"], remote["network"], remote["dest_cluster"]) == (3, "network2", "cluster2")
    assert (remote["port"], remote["endpoint_port"], remote["health"]) == (5000, 5000, "HEALTHY")
    assert local["address"] == "10.10.0.7" and bool(local["via_gateway"]) is False
    assert (local["health"], local["region"], local["zone"]) == ("UNHEALTHY", "us-west", "us-west-1a")
    assert local["subzone"] is pd.NA  # empty locality parts are NA


def test_capacity_absent_is_ztunnels_default_and_service_target_port_zero_is_the_endpoints():
    df = read_ztunnel(json.dumps(_split_horizon_dump(capacity=None)))
    assert df["weight"].tolist() == [1, 1]  # default_capacity (ztunnel src/state/workload.rs)
    dump = _split_horizon_dump()
    for ep in dump["services"][0]["endpoints"].values():
        ep["port"] = {}
    assert read_ztunnel(json.dumps(dump))["endpoint_port"].isna().all()  # "ports": {"5000": 0}, none


def test_service_filter_and_endpoints_without_a_workload():
    df = read_ztunnel((DATA / "dump.json").read_text(), service="reviews.bookinfo.svc.cluster.local")
    assert sorted(df["address"]) == ["10.244.1.37", "10.244.1.38", "10.244.1.39"]  # the 3 above
    dump = copy.deepcopy(DUMP)
    dump["workloads"] = {}
    df = read_ztunnel(json.dumps(dump), service="reviews.bookinfo.svc.cluster.local")
    assert sorted(df["address"]) == ["10.244.1.37", "10.244.1.38", "10.244.1.39"]  # the endpoints' own
    assert df["health"].isna().all() and df["weight"].isna().all()
    listed = _list_form(DUMP)
    listed["workloads"] = []
    df = read_ztunnel(json.dumps(listed), service="reviews.bookinfo.svc.cluster.local")
    assert df["address"].isna().all() and (df["health"] == "HEALTHY").all()  # 1.24 on: only a status


# --------------------------------------------------------------------------------------------------
# istioctl's tables


def _data_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()[1:] if line.strip()]


@pytest.mark.parametrize("path", sorted(DATA.glob("workloadsummary*.txt")), ids=lambda p: p.name)
def test_workload_tables_every_layout(path):
    text = path.read_text()
    df = read_ztunnel(text, source_cluster="c1")
    lines = _data_lines(text)
    assert df["address"].tolist() == [IPV4.search(line).group(0) for line in lines]
    assert df["service"].isna().all() and df["port"].isna().all() and df["health"].isna().all()
    assert df["weight"].isna().all() and df["dest_cluster"].isna().all() and df["via_gateway"].isna().all()
    if "NETWORK" in text.splitlines()[0]:  # bf30b8f388b: the cell between NAME and IP, empty or a name
        networks = [re.search(r"\s(network\d)\s", line) for line in lines]
        assert df["network"].tolist() == [m.group(1) if m else pd.NA for m in networks]
        assert df["network"].notna().sum() == 3  # network1, network2, network3 in dump.json
    else:
        assert df["network"].isna().all()


def test_the_first_workload_table_and_a_host_name_address():
    text = (
        "NAME                NAMESPACE IP          NODE     L7 SUPPORT PROTOCOL\n"
        "helloworld-v1-abcde sample    10.0.0.7    worker-1 false      HBONE\n"
        "helloworld-v2-fghij sample    10.0.0.8,fd00::8    worker-2   false HBONE\n"
    )
    with pytest.raises(ParseError, match="line up"):
        read_ztunnel(text)
    text = (
        "NAMESPACE POD NAME   ADDRESS           NODE WAYPOINT PROTOCOL\n"
        "sample    se-1       db.example.com         None     TCP\n"
        "sample    pod-2      10.0.0.8,fd00::8  n1   None     HBONE\n"
    )
    df = read_ztunnel(text)
    assert df["address"].tolist() == [pd.NA, "10.0.0.8"]
    assert df.attrs["additional_addresses"] == [{"row": 1, "address": "10.0.0.8", "additional": ["fd00::8"]}]


def _section(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start + 1 : end]


@pytest.mark.parametrize("name", ["allsummary.txt", "allsummary_withheaders.txt"])
def test_ztunnel_config_all_reads_its_workload_and_service_sections(name):
    text = (DATA / name).read_text()
    df = read_ztunnel(text)
    assert df.attrs["sections_skipped"] == ["POLICY INFO", "SECRET INFO", "CONNECTIONS INFO"]
    workloads = _section(text, "NAMESPACE          POD NAME")
    services = _section(text, "NAMESPACE      SERVICE NAME")
    assert len(workloads) == 27 and len(services) == 19
    counts = [tuple(map(int, line.split()[-1].split("/"))) for line in services]
    assert len(df) == 27 + sum(total for _healthy, total in counts)
    mine = df[df["service"].notna()]
    assert (mine["health"] == "HEALTHY").sum() == sum(healthy for healthy, _total in counts)
    # "bookinfo       reviews                             10.96.74.131  None     3/3"
    assert (mine["service"] == "reviews.bookinfo.svc.cluster.local").sum() == 3
    # "default        kubernetes                          10.96.0.1     None     0/0": no row
    assert not (mine["service"] == "kubernetes.default.svc.cluster.local").any()
    assert mine["address"].isna().all() and mine["port"].isna().all()
    assert df[df["service"].isna()]["address"].tolist() == [IPV4.search(line).group(0) for line in workloads]


def test_service_tables_with_counts_and_without():
    text = (
        "NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS\n"
        "sample    helloworld   10.96.0.20  None     2/3\n"
        "sample    curl         10.96.0.21  None     1/1\n"
    )
    df = read_ztunnel(text, service="helloworld.sample.svc.cluster.local")
    assert df["health"].tolist() == ["HEALTHY", "HEALTHY", "UNHEALTHY"]
    for header in (
        "NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT",
        "NAMESPACE NAME       IP          WAYPOINT",
    ):
        assert len(read_ztunnel(f"{header}\nsample    helloworld   10.96.0.20  None\n")) == 0


# --------------------------------------------------------------------------------------------------
# Bad input: a ParseError naming where, never another exception


def _mutated(change) -> str:
    dump = _split_horizon_dump()
    change(dump)
    return json.dumps(dump)


BAD = {
    "garbage": ("hello world", "table header"),
    "not a dump": ('{"cluster_statuses": []}', "not a ztunnel config dump"),
    "truncated": ((DATA / "dump.json").read_text()[:500], "expected a JSON document"),
    "two documents": ('{"workloads": []} {"workloads": []}', r"\$\[1\]"),
    "no uid": (
        _mutated(lambda d: d["workloads"][0].pop("uid")),
        r"without its 'uid'.* at \$\.workloads\[0\]",
    ),
    "port name": (
        _mutated(lambda d: d["services"][0].update(ports={"http": 5000})),
        r"port number.*'http'.* at \$\.services\[0\]\.ports\[\"http\"\]",
    ),
    "port text": (
        _mutated(
            lambda d: d["services"][0]["endpoints"][d["workloads"][0]["uid"]].update(port={"5000": "80"})
        ),
        r"integer.*'80'.* at \$\.services\[0\]\.endpoints\[.*\]\.port",
    ),
    "port too big": (_mutated(lambda d: d["services"][0].update(ports={"70000": 1})), "70000"),
    "capacity": (_mutated(lambda d: d["workloads"][1].update(capacity=-1)), r"\.workloads\[1\]\.capacity"),
    "status": (_mutated(lambda d: d["workloads"][0].update(status="Sick")), "Healthy or Unhealthy"),
    "ip": (_mutated(lambda d: d["workloads"][0].update(workloadIps=["10.0.0.300"])), "IP address"),
    "workloads": (_mutated(lambda d: d.update(workloads="x")), r"expected a list.* at \$\.workloads"),
    "endpoint uid": (
        _mutated(lambda d: d["services"][0]["endpoints"][d["workloads"][0]["uid"]].pop("workloadUid")),
        "an endpoint without its 'workloadUid'",
    ),
    "hostname": (_mutated(lambda d: d["services"][0].pop("hostname")), "a service without its 'hostname'"),
    "counts": (
        "NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS\n"
        "ns        svc          10.0.0.1    None     3/2\n",
        "HEALTHY/ALL",
    ),
    "no table": ("\n------ POLICY INFO ------\n\nNAMESPACE POLICY NAME ACTION SCOPE\n", "without a workload"),
    "not utf-8": (b"\xff\xfe", "UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_a_parse_error_saying_where_and_what(name):
    text, said = BAD[name]
    with pytest.raises(ParseError, match=said):
        read_ztunnel(text)


def test_detection():
    assert detect_ztunnel(json.dumps(_list_form(DUMP))) == "dump"
    assert detect_ztunnel((DATA / "allsummary_withheaders.txt").read_text()) == "tables"
    assert detect_ztunnel("ENDPOINT STATUS OUTLIER CHECK CLUSTER") is None
    assert detect_ztunnel('{"configs": [{"@type": "x.EndpointsConfigDump"}]}') is None
    assert meshnb.read_ztunnel is read_ztunnel
    assert ipaddress.ip_address(read_ztunnel(json.dumps(DUMP))["address"][0])
